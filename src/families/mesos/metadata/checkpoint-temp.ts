/**
 * Whether a file named like a checkpoint temp file really is one.
 * state::checkpoint writes `os::mktemp(dir/XXXXXX)` and renames it over the
 * checkpoint, so a crash leaves a six-character name beside `storedImages`
 * or a container's `layers` (mesos_docker.md §1.1); layerfsck's own writes
 * leave `.<target>.layerfsck-tmp` (`-<pid>-<n>` after it in older releases). But six characters are also
 * `README` and `config`: a name proves nothing. A temp file is judged by
 * what it holds: empty (the crash came before the write), or exactly the
 * message it would have replaced, with no decode problem and no field that
 * message does not have. Anything else is somebody's file.
 */
import { FileTooLargeError, readFileLimited } from '../../../fs/io.js'
import type { FsPort } from '../../../fs/port.js'
import { isErrno } from '../../../errors.js'
import { CHECKPOINT_TEMP } from '../paths.js'
import { LENGTH_PREFIX, readTopLevelFields, unframe } from './checkpoint.js'
import { decodeContainerLayers } from './container-layers.js'
import { METADATA_LIMIT } from '../../../metadata/read.js'
import { decodeStoredImages } from './stored-images.js'

/** The checkpoints a temp file can stand for: the store's image list, a container's layer list. */
export type CheckpointKind = 'storedImages' | 'layers'

/** Field numbers of each message's top level (docker/message.proto, provisioner.proto); all length-delimited. */
const FIELDS: Record<CheckpointKind, ReadonlySet<number>> = {
  storedImages: new Set([1]),
  layers: new Set([1, 2]),
}

/** Names Mesos gives its own entries where temp files appear; six characters, never temp files. */
const OWN_NAMES = new Set(['layers', 'backends', 'containers', 'staging'])

const OUR_TEMP = /^\.(.+)\.layerfsck-tmp(?:-\d+-\d+)?$/

/** layerfsck's own temp names (fs/io.ts durableTempFor, and tempNameFor in older releases). */
export const isOurTemp = (name: string): boolean => OUR_TEMP.test(name)

/** The checkpoint a file of this name and kind could be a temp file of, in a dir holding `kind` checkpoints. */
export function tempCandidate(name: string, entryKind: string, checkpoint: CheckpointKind): boolean {
  if (entryKind !== 'file') return false
  if (CHECKPOINT_TEMP.test(name)) return !OWN_NAMES.has(name)
  return OUR_TEMP.exec(name)?.[1] === checkpoint
}

/** Names shaped like any temp file, whatever they hold (for readers that classify names only). */
export const tempShaped = (name: string): boolean => (CHECKPOINT_TEMP.test(name) && !OWN_NAMES.has(name)) || isOurTemp(name)

export type TempVerdict = { temp: true; describe: string } | { temp: false; reason: string }

export async function judgeCheckpointTemp(fs: FsPort, path: string, checkpoint: CheckpointKind): Promise<TempVerdict> {
  const inode = await fs.lstat(path)
  if (inode === undefined) return { temp: false, reason: 'it is gone' }
  if (inode.kind !== 'file') return { temp: false, reason: `it is a ${inode.kind}` }
  if (inode.size === 0) return { temp: true, describe: 'empty: the crash came before the write' }
  let bytes: Uint8Array
  try {
    bytes = await readFileLimited(fs, path, METADATA_LIMIT)
  } catch (err) {
    if (err instanceof FileTooLargeError) return { temp: false, reason: `it is larger than any ${checkpoint} checkpoint layerfsck reads` }
    if (isErrno(err, 'EACCES', 'EPERM')) return { temp: false, reason: `it cannot be read (${(err as Error).message})` }
    throw err
  }
  const decoded = checkpoint === 'storedImages' ? decodeStoredImages(bytes) : decodeContainerLayers(bytes)
  if (decoded.problems.length > 0) return { temp: false, reason: `it is not a ${checkpoint} checkpoint: ${decoded.problems[0]!.message}` }
  // The decoders skip fields they do not know; a temp file must have none.
  const { body } = unframe(bytes)
  const { fields } = readTopLevelFields(body, LENGTH_PREFIX)
  const stray = fields.find((f) => !FIELDS[checkpoint].has(f.field) || f.bytes === undefined)
  if (stray) return { temp: false, reason: `it is not a ${checkpoint} checkpoint: field ${stray.field} at byte ${stray.offset} is no field of it` }
  if (checkpoint === 'layers') {
    const layers = decoded.value as { paths: string[]; config?: string }
    const relative = [...layers.paths, ...(layers.config === undefined ? [] : [layers.config])].find((p) => !p.startsWith('/'))
    if (relative !== undefined) return { temp: false, reason: 'it is not a layers checkpoint: it names a path that is not absolute' }
    return { temp: true, describe: `a layers checkpoint of ${layers.paths.length} layer path${layers.paths.length === 1 ? '' : 's'}` }
  }
  const images = decoded.value as unknown[]
  return { temp: true, describe: `a storedImages checkpoint of ${images.length} image${images.length === 1 ? '' : 's'}` }
}
