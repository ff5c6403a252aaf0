/**
 * The one `rm -r` of the code base, through the port. It never follows a
 * symlink (a symlink is unlinked, not descended into) and never crosses a
 * mount: deleting the files of a mounted filesystem would reach outside the
 * store, into a live container's upper dir or a bind-mounted host path.
 *
 * Two guards, because either alone can be fooled: the mount table is read
 * first and anything at or below a mount point is refused before a single
 * entry is removed; then each directory's device is compared with the
 * root's before descending, for a mount the table does not show (another
 * mount namespace, a table read before someone mounted). Missing paths are
 * success, so a re-run after a crash half-way through finishes the job.
 * Nothing is ever opened: unlink and rmdir never touch a device or a fifo.
 */
import { isErrno, LayerfsckError } from '../errors.js'
import { escapeName } from './name-bytes.js'
import type { DevNo, FsPort, MountEntry } from './port.js'
import { sameDevNo } from './port.js'
import { isInside } from './safe-path.js'

export class MountedBelowError extends LayerfsckError {
  constructor(
    readonly path: string,
    readonly mountPoint: string,
    message?: string,
  ) {
    super(
      'MOUNTED_BELOW',
      message ??
        (mountPoint === path
          ? `${escapeName(path)} is a mount point; not removing through a mount`
          : `${escapeName(mountPoint)} is mounted inside ${escapeName(path)}; not removing through a mount`),
      { hint: 'unmount it first, children first (layerfsck check -y and gc unmount what nothing owns)', refusal: true },
    )
  }
}

export interface RemoveOptions {
  /** The mount table, when the caller has just read it; read here otherwise. */
  mounts?: readonly MountEntry[]
  /**
   * The root the path belongs to (the store). A mount between it and the path
   * (one on staging/, say) is crossed just as surely as one below the path,
   * so removal is refused for that too, and for a path on another device.
   */
  within?: string
}


/** The deepest-first mount points at or below `path`, as the table parser gives them (escapes decoded, ` (deleted)` split off). */
export function mountsAtOrBelow(mounts: readonly MountEntry[], path: string): MountEntry[] {
  return mounts.filter((m) => isInside(path, m.mountPoint)).sort((a, b) => b.mountPoint.length - a.mountPoint.length)
}

/**
 * Refuses a removal that would reach through a mount: the path below a mount
 * between `within` and it, on another device than `within`, or holding a
 * mount point itself. The remover asks it first; so does anything that
 * renames a tree out of the way before removing it (a quarantine).
 */
export async function guardRemoval(fs: FsPort, path: string, inode: { dev: DevNo; kind: string }, mounts: readonly MountEntry[], within: string | undefined): Promise<void> {
  if (within !== undefined) {
    if (path === within || !isInside(within, path)) throw new MountedBelowError(path, path, `${escapeName(path)} is not inside ${escapeName(within)}; not removing it`)
    const between = mounts.filter((m) => m.mountPoint !== within && isInside(within, m.mountPoint) && isInside(m.mountPoint, path))
    if (between.length > 0) {
      const m = between[0]!.mountPoint
      throw new MountedBelowError(path, m, `${escapeName(m)} is mounted between ${escapeName(within)} and ${escapeName(path)}; not removing through a mount`)
    }
    const root = await fs.lstat(within)
    if (root === undefined || !sameDevNo(root.dev, inode.dev)) {
      throw new MountedBelowError(path, path, `${escapeName(path)} is on another filesystem than ${escapeName(within)}; not removing through a mount`)
    }
  }
  if (inode.kind !== 'dir') return
  const below = mountsAtOrBelow(mounts, path)
  if (below.length > 0) throw new MountedBelowError(path, below[below.length - 1]!.mountPoint)
}

export async function removeTree(fs: FsPort, path: string, options: RemoveOptions = {}): Promise<void> {
  const inode = await fs.lstat(path)
  if (inode === undefined) return
  const mounts = options.mounts ?? (await fs.mounts())
  await guardRemoval(fs, path, inode, mounts, options.within)
  if (inode.kind !== 'dir') {
    await unlinkIfPresent(fs, path)
    return
  }

  // Depth-first with an explicit stack: deep trees must not overflow.
  const stack: { path: string; listed: boolean }[] = [{ path, listed: false }]
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!
    if (!top.listed) {
      top.listed = true
      let entries
      try {
        entries = await fs.readdir(top.path)
      } catch (err) {
        if (isErrno(err, 'ENOENT')) {
          stack.pop()
          continue
        }
        throw err
      }
      for (const e of entries) {
        const child = `${top.path}/${e.name}`
        if (e.kind !== 'dir') {
          await unlinkIfPresent(fs, child)
          continue
        }
        const sub = await fs.lstat(child)
        if (sub === undefined) continue
        if (!sameDevNo(sub.dev, inode.dev)) throw new MountedBelowError(path, child)
        stack.push({ path: child, listed: false })
      }
      continue
    }
    stack.pop()
    try {
      await fs.rmdir(top.path)
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err
    }
  }
}

async function unlinkIfPresent(fs: FsPort, path: string): Promise<void> {
  try {
    await fs.unlink(path)
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err
  }
}
