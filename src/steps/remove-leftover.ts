/**
 * Removes something a crash left (a staging dir, a gc/ entry, a temp file)
 * and makes the removal durable. Idempotent: a path already gone is done.
 * The remover refuses anything at or below a mount point, so a leftover with
 * a mount inside stays until that mount is dealt with.
 */
import type { FsPort } from '../fs/port.js'
import { removeTree } from '../fs/remove.js'
import { dirname } from '../fs/safe-path.js'

export async function removeLeftover(fs: FsPort, path: string): Promise<void> {
  await removeTree(fs, path)
  await fs.fsync(dirname(path))
}

/** A removal is done once nothing is left at the path. */
export async function isRemoved(fs: FsPort, path: string): Promise<boolean> {
  return (await fs.lstat(path)) === undefined
}
