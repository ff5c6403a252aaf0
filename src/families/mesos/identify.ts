/**
 * How a Mesos docker store proves itself, and what a directory that is
 * almost one looks like. Evidence is positive only:
 *
 * - `layers/` holding at least one entry shaped like a layer id (or a config
 *   blob), the one directory every format requires;
 * - a `storedImages` that decodes as the Images checkpoint without a problem,
 *   framed as Mesos writes it (never empty: an empty file is a legal
 *   checkpoint after a power cut, but anyone can make one), and that names a
 *   layer or sits beside a `layers/` dir (four bytes of zero are a framed
 *   empty Images message, too easily made by accident to count alone).
 */
import { ExitCode, isErrno, LayerfsckError } from '../../errors.js'
import { label, listForIdentity, phrase, UnreadableStoreError } from '../../detect/identify.js'
import type { Looks, StoreEvidence } from '../../family/types.js'
import { escapeName } from '../../fs/name-bytes.js'
import type { DirEntry, FsPort } from '../../fs/port.js'
import { byName } from '../../fs/walk.js'
import { readMetadata } from '../../metadata/read.js'
import { ownDir } from '../../steps/lock.js'
import { basename } from '../../fs/safe-path.js'
import type { EntrySpec } from './descriptor.js'
import { MESOS_FORMATS } from './formats/index.js'
import { decodeStoredImages } from './metadata/stored-images.js'
import { layerIdShape, layersDir, provisionerDir, SHA256_DIGEST, storedImagesPath } from './paths.js'

/** Entries any known format puts at the store's top, by kind, and layerfsck's own directory. */
export function storeEntries(): { dirs: Set<string>; files: Set<string>; own: string } {
  const all: EntrySpec[] = MESOS_FORMATS.flatMap((f) => [...f.storeEntries])
  return {
    dirs: new Set(all.filter((e) => e.kind === 'dir').map((e) => e.name)),
    files: new Set(all.filter((e) => e.kind === 'file').map((e) => e.name)),
    own: basename(ownDir('/')),
  }
}

/** The same as a person reads it: escaped like `ls -b`. */
const shown = (e: DirEntry): string => escapeName(label(e))

export async function mesosEvidence(fs: FsPort, dir: string): Promise<StoreEvidence[]> {
  const evidence: StoreEvidence[] = []
  const layers = layersDir(dir)
  const hasLayersDir = (await fs.lstat(layers))?.kind === 'dir'
  const images = await storedImagesEvidence(fs, dir, hasLayersDir)
  if (hasLayersDir) {
    let entries: DirEntry[] | undefined
    try {
      entries = await fs.readdir(layers)
    } catch (err) {
      // Other evidence may still prove the store; with none, this is why we cannot tell.
      if (!isErrno(err, 'EACCES', 'EPERM')) throw err
      if (images === undefined) throw new UnreadableStoreError(layers, err)
    }
    const shaped = (entries ?? []).filter(
      (e) => (e.kind === 'dir' && layerIdShape(e.name) !== undefined) || (e.kind === 'file' && SHA256_DIGEST.test(e.name)),
    )
    if (shaped.length > 0) {
      const examples = shaped.sort(byName).slice(0, 2).map(shown).join(', ')
      evidence.push({ id: 'layers-dir', path: layers, describe: `layers/ holds ${shaped.length} layer-shaped entr${shaped.length === 1 ? 'y' : 'ies'} (${examples}${shaped.length > 2 ? ', …' : ''})` })
    }
  }
  if (images !== undefined) evidence.push({ id: 'stored-images', path: storedImagesPath(dir), describe: `storedImages decodes: ${images} image${images === 1 ? '' : 's'}` })
  return evidence
}

/** storedImages as evidence: an empty file decodes as "nothing recorded", which says nothing about whose file it is. */
function decodeWrittenStoredImages(bytes: Uint8Array): ReturnType<typeof decodeStoredImages> {
  const decoded = decodeStoredImages(bytes)
  if (!decoded.empty) return decoded
  return { ...decoded, problems: [{ code: 'truncated-length', message: 'the file is empty; Mesos always writes a length-prefixed message', offset: 0 }] }
}

async function storedImagesEvidence(fs: FsPort, dir: string, hasLayersDir: boolean): Promise<number | undefined> {
  const state = await readMetadata(fs, storedImagesPath(dir), decodeWrittenStoredImages)
  if (state.state !== 'ok') return undefined
  const namesLayer = state.value.some((image) => image.layerIds.some((id) => layerIdShape(id) !== undefined))
  return namesLayer || hasLayersDir ? state.value.length : undefined
}

/** Only the empty directories a Mesos store starts with: import may fill it, check has nothing to check. */
export async function emptyMesosStore(fs: FsPort, dir: string, entries: DirEntry[]): Promise<Looks | undefined> {
  const { dirs, own } = storeEntries()
  for (const e of entries) {
    if (e.kind !== 'dir') return undefined
    // layerfsck's own dir may hold a lock or the journal of an import that never finished.
    if (e.name === own) continue
    if (!dirs.has(e.name)) return undefined
    if ((await listForIdentity(fs, `${dir}/${e.name}`)).length > 0) return undefined
  }
  const names = entries.map(label)
  const title = 'an empty Mesos docker store (no layer, no storedImages: nothing to check yet) of only empty directories'
  return {
    kind: 'empty-mesos-store',
    entries: names,
    title,
    shows: names,
    describe: phrase(title, names),
    canCreate: true,
    hint: 'there is nothing to check until an image is pulled or imported (layerfsck import)',
  }
}

/**
 * An agent work dir proves itself by its `provisioner/`: a mistyped
 * `--work-dir` would otherwise read as an agent with no containers, and
 * every mount under it would look like nobody's.
 */
export async function requireWorkDir(fs: FsPort, workDir: string): Promise<string> {
  const provisioner = provisionerDir(workDir)
  const inode = await fs.lstat(provisioner)
  if (inode?.kind !== 'dir') {
    throw new LayerfsckError('NOT_A_WORK_DIR', `${escapeName(workDir)} has no provisioner/ directory, so it is not a Mesos agent work dir; nothing was read or changed`, {
      exitCode: ExitCode.operational,
      hint: "name the agent's --work_dir (the directory holding provisioner/, slaves/ and meta/), or leave --work-dir out to check the store alone",
    })
  }
  return provisioner
}
