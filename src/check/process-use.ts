/**
 * Which mounts running processes stand in. A process whose root or working
 * directory is at or below a mount point keeps that mount live, whatever a
 * runtime dir or a list of containers says: unmounting it (even lazily)
 * pulls the filesystem out from under a running program.
 *
 * Two ways to see it, because one alone misses the common case: the path
 * `/proc/<pid>/root` and `/proc/<pid>/cwd` read as, and the inode they lead
 * to. A container that pivot_root'ed in its own mount namespace (every
 * Mesos container with the filesystem/linux isolator) reads as `/`, so its
 * root is recognised by its device instead: the device of a mount that no
 * other mount in the table shares (overlay, tmpfs), or the very directory
 * that is mounted (a bind mount shares its device with its source).
 *
 * The processes themselves are read by src/fs/processes.ts.
 */
import type { FsPort, Inode, MountEntry } from '../fs/port.js'
import { devKey } from '../fs/port.js'
import type { ProcessUse } from '../fs/processes.js'
import { mountsAtOrBelow } from '../fs/remove.js'
import { isInside } from '../fs/safe-path.js'

/** The processes standing at or below `mountPoint` (or in any mount below it). */
export async function usersOfMount(fs: FsPort, uses: readonly ProcessUse[], mounts: readonly MountEntry[], mountPoint: string): Promise<ProcessUse[]> {
  const below = mountsAtOrBelow(mounts, mountPoint)
  const devCount = new Map<string, number>()
  for (const m of mounts) devCount.set(devKey(m.dev), (devCount.get(devKey(m.dev)) ?? 0) + 1)
  const uniqueDevs = new Set(below.filter((m) => devCount.get(devKey(m.dev)) === 1).map((m) => devKey(m.dev)))
  const roots: Inode[] = []
  for (const m of below) {
    // A removed mount point's path leads elsewhere now, if anywhere.
    if (m.deleted === true) continue
    const inode = await fs.lstat(m.mountPoint).catch(() => undefined)
    if (inode !== undefined) roots.push(inode)
  }
  return uses.filter((u) => {
    if (isInside(mountPoint, u.path)) return true
    if (u.dev === undefined) return false
    if (uniqueDevs.has(devKey(u.dev))) return true
    return roots.some((r) => devKey(r.dev) === devKey(u.dev!) && r.ino === u.ino)
  })
}

export function describeUsers(users: readonly ProcessUse[]): string {
  const shown = users.slice(0, 3).map((u) => `pid ${u.pid} (${u.as === 'root' ? 'its root' : 'its working directory'})`)
  return `${shown.join(', ')}${users.length > 3 ? ` and ${users.length - 3} more` : ''}`
}
