/**
 * What a tree holds, counted two ways in one walk, never through a mount
 * and never through a symlink:
 *
 * - `bytes`: regular-file content, each inode once (`du --apparent-size`),
 *   for findings that say how big an orphan is. Only regular files are
 *   lstat'ed, since directory entry kinds already tell the rest.
 * - with a `ledger`: the space removing the tree would really free, as
 *   `du -x` counts it (st_blocks of every inode: directories and symlinks
 *   too), where a hard link shared with something that stays frees
 *   nothing. Every inode is lstat'ed then; gc is about to unlink each one
 *   anyway.
 *
 * It never changes anything.
 */
import { isErrno } from '../errors.js'
import type { FsPort, Inode, MountEntry } from './port.js'
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
  /** The newest mtime of what was lstat'ed (everything with a ledger or everyInode; the root and regular files otherwise). */
  newestMtimeNs: bigint
}

export interface TreeSizeOptions {
  /** The mount table, when the caller has read it; read here otherwise. */
  mounts?: readonly MountEntry[]
  /** Records every inode's disk space under `owner`, for what removing a set of trees frees. */
  ledger?: { ledger: FreedLedger; owner: string }
  /** lstat directories and symlinks too, for the newest mtime anywhere in the tree (implied by a ledger). */
  everyInode?: boolean
}

/**
 * Disk space of the inodes of several trees that are to be removed, each
 * inode once. An inode with more links than the trees hold is still
 * reachable from something that stays (a live layer sharing it by a hard
 * link): it frees nothing. The space of an inode whose links all lie in the
 * trees goes to the tree that saw it first. Only multi-link inodes are
 * remembered, so memory is bounded by hard links, not by files.
 */
export class FreedLedger {
  /** Multi-link inodes: their space, their link count, and how many of their links each tree holds. */
  private readonly shared = new Map<string, { bytes: number; nlink: number; seen: Map<string, number>; first: string }>()
  private readonly single = new Map<string, number>()

  add(owner: string, inode: Inode): void {
    const bytes = inode.blocks * 512
    if (inode.kind === 'dir' || inode.nlink <= 1) {
      this.single.set(owner, (this.single.get(owner) ?? 0) + bytes)
      return
    }
    const key = inodeKey(inode)
    let s = this.shared.get(key)
    if (s === undefined) this.shared.set(key, (s = { bytes, nlink: inode.nlink, seen: new Map(), first: owner }))
    s.seen.set(owner, (s.seen.get(owner) ?? 0) + 1)
  }

  /** What removing `owner`'s tree frees, given every tree recorded so far goes too. */
  freedBy(owner: string): number {
    let n = this.single.get(owner) ?? 0
    for (const s of this.shared.values()) if (s.first === owner && links(s.seen) >= s.nlink) n += s.bytes
    return n
  }

  /** What removing the trees of `owners` frees, when only those go (the rest stayed: busy, refused). */
  freedByAll(owners: ReadonlySet<string>): number {
    let n = 0
    for (const o of owners) n += this.single.get(o) ?? 0
    for (const s of this.shared.values()) {
      let held = 0
      for (const [o, c] of s.seen) if (owners.has(o)) held += c
      if (held >= s.nlink) n += s.bytes
    }
    return n
  }
}

const links = (seen: Map<string, number>): number => [...seen.values()].reduce((a, b) => a + b, 0)

export async function treeSize(fs: FsPort, root: string, options: TreeSizeOptions = {}): Promise<TreeSize> {
  const table = options.mounts ?? (await fs.mounts())
  const mountPoints = new Set(table.map((m) => m.mountPoint).filter((p) => isInside(root, p)))
  const out: TreeSize = { bytes: 0, files: 0, mounts: [...mountPoints].sort(), unreadable: undefined, newestMtimeNs: 0n }
  // The root itself a mount point: what is counted would be the mounted filesystem's, not the tree's.
  if (mountPoints.has(root)) return out
  const ledger = options.ledger
  const seen = new Set<string>()
  const count = (inode: Inode): void => {
    if (inode.mtimeNs > out.newestMtimeNs) out.newestMtimeNs = inode.mtimeNs
    ledger?.ledger.add(ledger.owner, inode)
    if (inode.kind !== 'file') return
    // A file with one link is met once; only hard-linked ones are remembered, so memory is bounded by hard links.
    if (inode.nlink > 1) {
      const key = inodeKey(inode)
      if (seen.has(key)) return
      seen.add(key)
    }
    out.bytes += inode.size
    out.files += 1
  }
  const top = await fs.lstat(root)
  if (top === undefined) return out
  count(top)
  if (top.kind !== 'dir') return out
  let current = root
  try {
    for await (const e of walkTree(fs, root, { descend: (d) => !mountPoints.has(d.path) })) {
      if (e.kind === 'dir') current = e.path
      // A mount point's own inode is the mounted root's: it belongs to the other filesystem.
      if (mountPoints.has(e.path)) continue
      if (e.kind !== 'file' && ledger === undefined && !options.everyInode) continue
      const inode = await fs.lstat(e.path)
      // Gone since the listing: it holds nothing now.
      if (inode === undefined) continue
      count(inode)
    }
  } catch (err) {
    if (!isErrno(err, 'EACCES', 'EPERM')) throw err
    // The error names the dir that could not be listed; the last dir seen (or the root) if it does not.
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
