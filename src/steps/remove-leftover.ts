/**
 * Removes something a crash left (a staging dir, a gc/ entry, a dead
 * container, a temp file) and makes the removal durable. Idempotent: a path
 * already gone is done.
 *
 * A directory is first renamed into its root's trash (`.layerfsck/trash/`),
 * then deleted there: a crash half-way through a delete never leaves a
 * half-deleted tree under a name the runtime would read as whole (a layer, a
 * container), and whatever is in the trash is layerfsck's to finish
 * (`trash-leftover`). The remover refuses anything at or below a mount
 * point, before the rename as during the delete, so a leftover with a mount
 * inside stays until that mount is dealt with.
 */
import { randomBytes } from 'node:crypto'
import { isErrno, LayerfsckError } from '../errors.js'
import type { FsPort } from '../fs/port.js'
import { escapeName } from '../fs/name-bytes.js'
import { guardRemoval, MountedBelowError, removeTree } from '../fs/remove.js'
import { dirname, isInside } from '../fs/safe-path.js'
import { ownDir } from './lock.js'

/** Where a root's removals wait to be deleted: layerfsck's own dir, on the root's filesystem. */
export const trashDir = (root: string): string => `${ownDir(root)}/trash`

export interface LeftoverOptions {
  /** The path already is in a quarantine (Mesos' gc/, the trash): delete it where it is. */
  inPlace?: boolean
}

/** The deepest of `roots` that holds `path`: what no mount may stand between. */
export function rootOf(path: string, roots: readonly string[]): string {
  const within = roots.filter((r) => isInside(r, path) && r !== path).sort((a, b) => b.length - a.length)[0]
  if (within === undefined) throw new MountedBelowError(path, path, `${escapeName(path)} is in none of ${roots.map(escapeName).join(', ')}; not removing it`)
  return within
}

/**
 * `roots` are the trees the path may belong to (the store, a work
 * dir); the deepest that holds it is what no mount may stand between.
 */
export async function removeLeftover(fs: FsPort, path: string, roots: readonly string[], options: LeftoverOptions = {}): Promise<void> {
  const within = rootOf(path, roots)
  const inode = await fs.lstat(path)
  if (inode === undefined) return
  if (inode.kind !== 'dir' || options.inPlace) {
    await removeTree(fs, path, { within })
    await fs.fsync(dirname(path))
    return
  }
  await guardRemoval(fs, path, inode, await fs.mounts(), within)
  const trash = await ensureTrash(fs, within)
  const entry = `${trash}/${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
  try {
    await fs.rename(path, entry)
  } catch (err) {
    // Busy or refused: nothing went in, and an empty trash left behind would read as a killed run's.
    await tidy(fs, within)
    throw err
  }
  await fs.fsync(dirname(path))
  await fs.fsync(trash)
  await sweepTrashEntry(fs, entry, within)
}

/** Deletes one entry of a root's trash, then the trash dir once it is empty. */
export async function sweepTrashEntry(fs: FsPort, entry: string, root: string): Promise<void> {
  await removeTree(fs, entry, { within: root })
  await tidy(fs, root)
}

/**
 * Removes the trash once it is empty, and layerfsck's dir with it where
 * nothing else lives there (a work dir's; the store's holds the lock), so a
 * root is left as gc found it but for what gc took.
 */
async function tidy(fs: FsPort, root: string): Promise<void> {
  for (const dir of [trashDir(root), ownDir(root)]) {
    try {
      await fs.rmdir(dir)
    } catch (err) {
      // Already gone (a sweep killed after it): the next one may still be there.
      if (isErrno(err, 'ENOENT')) continue
      // Another entry still waits (a sweep interrupted earlier), or the lock lives there.
      if (!isErrno(err, 'ENOTEMPTY', 'EEXIST')) throw err
      return
    }
    await fs.fsync(dirname(dir))
  }
}

async function ensureTrash(fs: FsPort, root: string): Promise<string> {
  for (const dir of [ownDir(root), trashDir(root)]) {
    try {
      await fs.mkdir(dir, 0o700)
      await fs.fsync(dirname(dir))
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err
    }
    // Through a symlink, the rename would carry the tree out of the root.
    const inode = await fs.lstat(dir)
    if (inode?.kind !== 'dir') {
      throw new LayerfsckError('STORE_DAMAGED', `${escapeName(dir)} is a ${inode?.kind ?? 'missing entry'}, not layerfsck's directory; not moving anything there`, {
        hint: 'move it aside; layerfsck keeps what it is deleting in a real directory there',
        refusal: true,
      })
    }
  }
  return trashDir(root)
}

/** A removal is done once nothing is left at the path. */
export async function isRemoved(fs: FsPort, path: string): Promise<boolean> {
  return (await fs.lstat(path)) === undefined
}
