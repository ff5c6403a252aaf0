/**
 * What a tree holds, as `du --apparent-size` would count it: the bytes of
 * its regular files, each inode once (hard links share their bytes), never
 * through a mount and never through a symlink. One walk; only regular files
 * are lstat'ed (for their size and inode number), because directory entry
 * kinds already tell the rest. Reports in place of deleting: it never
 * changes anything.
 */
import { isErrno } from '../errors.js'
import type { FsPort, MountEntry } from './port.js'
import { inodeKey } from './port.js'
import { isInside } from './safe-path.js'
import { walkTree } from './walk.js'

export interface TreeSize {
  /** Bytes of regular-file content, each inode counted once. */
  bytes: number
  /** Distinct regular-file inodes. */
  files: number
  /** Mount points at or below the root that were not entered, sorted. */
  mounts: string[]
  /** The first directory that could not be listed (EACCES, EPERM): the count stops there and is a lower bound. */
  unreadable: string | undefined
}

export interface TreeSizeOptions {
  /** The mount table, when the caller has read it; read here otherwise. */
  mounts?: readonly MountEntry[]
}

export async function treeSize(fs: FsPort, root: string, options: TreeSizeOptions = {}): Promise<TreeSize> {
  const table = options.mounts ?? (await fs.mounts())
  const mountPoints = new Set(table.map((m) => m.mountPoint).filter((p) => isInside(root, p)))
  const out: TreeSize = { bytes: 0, files: 0, mounts: [...mountPoints].sort(), unreadable: undefined }
  // The root itself a mount point: what is counted would be the mounted filesystem's, not the tree's.
  if (mountPoints.has(root)) return out
  const seen = new Set<string>()
  let current = root
  try {
    for await (const e of walkTree(fs, root, { descend: (d) => !mountPoints.has(d.path) })) {
      if (e.kind === 'dir') current = e.path
      if (e.kind !== 'file') continue
      const inode = await fs.lstat(e.path)
      // Gone or replaced since the listing: it holds no file bytes now.
      if (inode === undefined || inode.kind !== 'file') continue
      const key = inodeKey(inode)
      if (seen.has(key)) continue
      seen.add(key)
      out.bytes += inode.size
      out.files += 1
    }
  } catch (err) {
    if (!isErrno(err, 'EACCES', 'EPERM')) throw err
    // walkTree lists a directory after yielding its entry, so the failing one is the last dir seen (or the root).
    out.unreadable = typeof (err as { path?: unknown }).path === 'string' ? (err as { path: string }).path : current
  }
  return out
}

/** `1234567` → `1.2 MB (1234567 bytes)`: the exact count, and a size to read at a glance. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} bytes`
  const units = ['kB', 'MB', 'GB', 'TB', 'PB']
  let v = bytes
  let u = -1
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000
    u += 1
  }
  return `${v.toFixed(1)} ${units[u]} (${bytes} bytes)`
}
