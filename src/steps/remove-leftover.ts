/**
 * Removes something a crash left (a staging dir, a gc/ entry, a temp file)
 * and makes the removal durable. Idempotent: a path already gone is done.
 * The remover refuses anything at or below a mount point, so a leftover with
 * a mount inside stays until that mount is dealt with.
 */
import type { FsPort } from '../fs/port.js'
import { escapeName } from '../fs/name-bytes.js'
import { MountedBelowError, removeTree } from '../fs/remove.js'
import { dirname, isInside } from '../fs/safe-path.js'

/**
 * `roots` are the trees the path may belong to (the store, a work
 * dir); the deepest that holds it is what no mount may stand between.
 */
export async function removeLeftover(fs: FsPort, path: string, roots: readonly string[]): Promise<void> {
  const within = roots.filter((r) => isInside(r, path) && r !== path).sort((a, b) => b.length - a.length)[0]
  if (within === undefined) throw new MountedBelowError(path, path, `${escapeName(path)} is in none of ${roots.map(escapeName).join(', ')}; not removing it`)
  await removeTree(fs, path, { within })
  await fs.fsync(dirname(path))
}

/** A removal is done once nothing is left at the path. */
export async function isRemoved(fs: FsPort, path: string): Promise<boolean> {
  return (await fs.lstat(path)) === undefined
}
