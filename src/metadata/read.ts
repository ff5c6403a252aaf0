/**
 * Reads one metadata file of a store (an image list, a container's
 * checkpoint) into one of four states, so every reader tells "absent" from
 * "damaged but partly readable" from "unreadable" the same way. Damaged
 * files still yield what decoded: a half-readable image list still
 * protects the layers it names.
 */
import { readFileLimited } from '../fs/io.js'
import type { FsPort } from '../fs/port.js'

export const METADATA_LIMIT = 64 * 1024 * 1024

export type MetadataState<T> =
  | { state: 'absent' }
  | { state: 'ok'; value: T }
  | { state: 'damaged'; value: T; problems: { code: string; message: string }[] }
  | { state: 'unreadable'; reason: string }

export async function readMetadata<T>(
  fs: FsPort,
  path: string,
  decode: (bytes: Uint8Array) => { value: T; problems: { code: string; message: string }[] },
): Promise<MetadataState<T>> {
  const inode = await fs.lstat(path)
  if (inode === undefined) return { state: 'absent' }
  if (inode.kind !== 'file') return { state: 'unreadable', reason: `it is a ${inode.kind}, not a file` }
  try {
    const decoded = decode(await readFileLimited(fs, path, METADATA_LIMIT))
    if (decoded.problems.length === 0) return { state: 'ok', value: decoded.value }
    return { state: 'damaged', value: decoded.value, problems: decoded.problems }
  } catch (err) {
    return { state: 'unreadable', reason: (err as Error).message }
  }
}
