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
 */
import { isErrno } from '../errors.js'
import type { DevNo, FsPort, Inode, MountEntry } from '../fs/port.js'
import { devKey } from '../fs/port.js'
import { isInside } from '../fs/safe-path.js'

export const DEFAULT_PROC_ROOT = '/proc'

export interface ProcessUse {
  pid: number
  as: 'root' | 'cwd'
  /** The link as it reads, without the kernel's ` (deleted)` suffix. */
  path: string
  /** The directory it leads to, when it could be looked at. */
  dev: DevNo | undefined
  ino: bigint | undefined
}

/** A process gone or hidden between the listing and the look is not an error. */
const RACES = ['ENOENT', 'ESRCH', 'EACCES', 'EPERM', 'ENOTDIR', 'EINVAL']

/**
 * Every process's root and cwd under `procRoot`. A proc root that does not
 * exist lists no process (the memory adapter has none unless a test builds
 * one; on Linux the mount table is read from /proc too, so a host without it
 * fails earlier).
 */
export async function readProcessUses(fs: FsPort, procRoot = DEFAULT_PROC_ROOT): Promise<ProcessUse[]> {
  let entries
  try {
    entries = await fs.readdir(procRoot)
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return []
    throw err
  }
  const uses: ProcessUse[] = []
  for (const e of entries) {
    if (!/^\d+$/.test(e.name)) continue
    for (const as of ['root', 'cwd'] as const) {
      const link = `${procRoot}/${e.name}/${as}`
      let path: string
      try {
        path = (await fs.readlink(link)).replace(/ \(deleted\)$/, '')
      } catch (err) {
        if (isErrno(err, ...RACES)) continue
        throw err
      }
      // `link/.` resolves the link as a directory on the way, as the kernel does for /proc's magic links.
      let inode: Inode | undefined
      try {
        inode = await fs.lstat(`${link}/.`)
      } catch (err) {
        if (!isErrno(err, ...RACES)) throw err
      }
      uses.push({ pid: Number(e.name), as, path, dev: inode?.dev, ino: inode?.ino })
    }
  }
  return uses.sort((a, b) => a.pid - b.pid || (a.as < b.as ? -1 : 1))
}

/** The processes standing at or below `mountPoint` (or in any mount below it). */
export async function usersOfMount(fs: FsPort, uses: readonly ProcessUse[], mounts: readonly MountEntry[], mountPoint: string): Promise<ProcessUse[]> {
  const at = (m: MountEntry): string => m.mountPoint.replace(/ \(deleted\)$/, '')
  const below = mounts.filter((m) => isInside(mountPoint, at(m)))
  const devCount = new Map<string, number>()
  for (const m of mounts) devCount.set(devKey(m.dev), (devCount.get(devKey(m.dev)) ?? 0) + 1)
  const uniqueDevs = new Set(below.filter((m) => devCount.get(devKey(m.dev)) === 1).map((m) => devKey(m.dev)))
  const roots: Inode[] = []
  for (const m of below) {
    const inode = await fs.lstat(at(m)).catch(() => undefined)
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
