/**
 * The roots an operator names (a store, a work dir) are trusted and may be
 * symlinks (a store moved to a bigger disk); they are resolved once, here.
 * Nothing found inside them ever is.
 */
import { isErrno, LayerfsckError } from '../errors.js'
import type { FsPort } from './port.js'

export async function resolveRoot(fs: FsPort, path: string, what: string): Promise<string> {
  let real: string
  try {
    real = await fs.realpath(path)
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw new LayerfsckError('ROOT_MISSING', `${what} ${path} does not exist`)
    throw err
  }
  const inode = await fs.lstat(real)
  if (inode?.kind !== 'dir') throw new LayerfsckError('ROOT_NOT_DIR', `${what} ${path} is a ${inode?.kind ?? 'missing entry'}, not a directory`)
  return real
}
