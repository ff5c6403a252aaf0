/**
 * The memory adapter: memfs's inode and directory-entry model (its core
 * Superblock, Link and Node), with the operations written here to Linux's
 * rules, because memfs's own get them wrong where a layer tool cares
 * (aesthetics.md §3): rename follows a symlink source, replaces non-empty
 * directories and never drops the replaced inode's nlink; link() accepts
 * directories; there is no mknod, rdev, xattr, umask, root bypass, distinct
 * device number, mount, name limit or flock. `test/fs-contract.test.ts` holds
 * this file to the disk's behaviour case by case.
 *
 * A mount is a filesystem of its own, as on Linux: a fresh tree of memfs
 * links that hides what was below the mount point until it is unmounted,
 * with its own device number, so links and renames across it fail with
 * EXDEV and a removal that forgets the mount table still sees the boundary.
 * Mount-table lines that only describe a host (`setMounts`, `describeOnly`)
 * change no tree.
 *
 * A downstream suite can hand in the memfs Volume it already has: files made
 * through memfs show up here and the other way round (outside mounts, which
 * memfs does not know).
 */
import { Readable } from 'node:stream'
import { Volume } from 'memfs'
import { errnoError } from '../errors.js'
import { fsTypeMagic } from './fstype.js'
import { mountContaining } from './mountinfo.js'
import { linkEachName } from './link-names.js'
import { listTreeByReaddir } from './list-tree.js'
import { nameByteLength } from './name-bytes.js'
import type { DevNo, DirEntry, FileLock, FsPort, Inode, InodeKind, Inspected, MountEntry, WriteHandle, WriteOptions } from './port.js'
import { inspectLimits, isEntryName, joinDev, kindBits, kindFromMode, S_IFMT, sameDevNo, splitDev } from './port.js'
import { isInside } from './safe-path.js'

/** The part of memfs's core this adapter relies on; memfs is pinned to an exact version for it. */
interface CoreNode {
  ino: number
  mode: number
  uid: number
  gid: number
  nlink: number
  rdev: number
  symlink: string
  mtime: Date
  atime: Date
  ctime: Date
  getSize(): number
  read(buf: Uint8Array, off?: number, len?: number, pos?: number): number
  write(buf: Buffer, off?: number, len?: number, pos?: number): number
  truncate(len?: number): void
  isDirectory(): boolean
  isSymlink(): boolean
  makeSymlink(target: string): void
}

interface CoreLink {
  parent: CoreLink | undefined
  name: string
  steps: string[]
  children: Map<string, CoreLink | undefined>
  getNode(): CoreNode
  setNode(node: CoreNode): void
  createChild(name: string, node?: CoreNode): CoreLink
  setChild(name: string, link?: CoreLink): CoreLink
  deleteChild(link: CoreLink): void
}

interface CoreSuperblock {
  root: CoreLink
  createNode(mode: number): CoreNode
  deleteNode(node: CoreNode): void
  /** A parentless link: the root of a mounted tree. */
  createLink(): CoreLink
}

const DEFAULT_FREE = Object.freeze({ bytes: 2 ** 40, inodes: 1e9 })

export interface MemoryMount {
  mountPoint: string
  fsType: string
  source?: string
  options?: string[]
  superOptions?: string[]
  /** Device number of the mounted filesystem; distinct per mount unless given. */
  dev?: DevNo
  /** Path inside the mounted filesystem (bind mounts); "/" by default. */
  root?: string
  /** false simulates a filesystem without d_type (xfs made with ftype=0). */
  dtype?: boolean
  /** What statfs says is free; a terabyte and a billion inodes unless given (the memory holds what it holds). */
  free?: { bytes: number; inodes: number }
  /**
   * Only a line in the mount table: the mount point keeps showing what it
   * held (under this mount's dev). For tests that describe a host's mounts
   * rather than use one, such as an overlay whose merged content the test
   * builds in place, or a filesystem type under an existing store.
   */
  describeOnly?: boolean
  /** Permission bits of a new filesystem's root: 01777 for tmpfs (its default), 0755 otherwise. */
  rootMode?: number
}

export interface MemoryFsOptions {
  /** An existing memfs Volume to work on; a new empty one otherwise. */
  volume?: Volume
  /** Credentials of the simulated process; 0/0 (root) by default, as the tool runs in production. */
  uid?: number
  gid?: number
  /**
   * CAP_SYS_ADMIN (trusted.* and writing security.* xattrs) and CAP_MKNOD
   * (devices). Held by uid 0 alone unless given, so a test can be root
   * without them (a container without CAP_SYS_ADMIN) or the other way round.
   */
  capabilities?: { sysAdmin?: boolean; mknod?: boolean }
  /**
   * The pid tryLock reports as a holder; process.pid by default. Locks live
   * with the volume, so two adapters on one volume with different pids act as
   * two processes contending for a lock.
   */
  pid?: number
  /** Applied to the mode of every created inode, as the kernel does; 0o022 by default. */
  umask?: number
  /** The mount table; one memfs filesystem at / when not given. Every line describes only. */
  mounts?: MemoryMount[]
}

export interface MemoryFs extends FsPort {
  readonly kind: 'memory'
  readonly volume: Volume
  /**
   * Mounts on a directory as mount(8) would: a new empty filesystem there
   * (unless `describeOnly`), on top of whatever is mounted there already.
   */
  mount(mount: MemoryMount): MountEntry
  /** Replaces the whole mount table with lines that only describe a host; mounted trees go. */
  setMounts(mounts: MemoryMount[]): void
}

/** A filesystem a walk can be in: the volume's own tree, or one that `mount()` made. */
interface Tree {
  root: CoreLink
  /** The mount table line of a mounted tree; undefined for the volume's tree. */
  record?: MountRecord
  /** The directory the tree covers and the tree that holds it: where `..` leads out of the root. */
  covers?: { link: CoreLink; tree: Tree }
}

interface MountRecord {
  entry: MountEntry
  /** The mounted tree; undefined for a line that only describes the host. */
  tree?: Tree
  dtype: boolean
  free: { bytes: number; inodes: number }
}

/** Where a path led: the link, the tree it is in, and the path with every symlink resolved. */
interface At {
  link: CoreLink
  tree: Tree
  path: string
}

interface LockHolder {
  mode: 'shared' | 'exclusive'
  pid: number
}

// flock(2) state lives with the volume, not the adapter, so that adapters
// sharing a volume contend like processes sharing a disk. Keyed by the inode
// object: a file replaced under the same name is a new inode with no locks.
const LOCK_TABLES = new WeakMap<CoreSuperblock, WeakMap<CoreNode, LockHolder[]>>()

const MAX_SYMLINK_HOPS = 40
const NAME_MAX = 255
/** Counts the terminating NUL, as the kernel does: a path of 4096 bytes is already too long. */
const PATH_MAX = 4096
const XATTR_NAMESPACES = ['user.', 'trusted.', 'security.', 'system.']
const XATTR_NAME_MAX = 255
const XATTR_SIZE_MAX = 65536

// The errno each call gives when its last component is "." or ".." (or the
// path is "/"): the name of no entry it could create or remove. As Linux
// answers them (checked on ext4).
const DOTS_EXIST = (): string => 'EEXIST'
const DOTS_OPEN = (): string => 'EISDIR'
const DOTS_RENAME = (): string => 'EBUSY'
const DOTS_RMDIR = (which: string): string => (which === '.' ? 'EINVAL' : which === '..' ? 'ENOTEMPTY' : 'EBUSY')

export function createMemoryFs(options: MemoryFsOptions = {}): MemoryFs {
  const volume = options.volume ?? new Volume()
  const core = (volume as unknown as { _core: CoreSuperblock })._core
  const uid = options.uid ?? 0
  const gid = options.gid ?? 0
  const pid = options.pid ?? process.pid
  // Permission bypass (search, read, write, ownership) stays with uid 0;
  // what the tool asks of capabilities follows the options.
  const isRoot = uid === 0
  const capSysAdmin = options.capabilities?.sysAdmin ?? isRoot
  const capMknod = options.capabilities?.mknod ?? isRoot
  const umask = options.umask ?? 0o022

  // Side tables keyed by the inode object itself, so they die with it and a
  // reused inode number never inherits another file's xattrs or times.
  const xattrTable = new WeakMap<CoreNode, Map<string, Uint8Array>>()
  const nsTable = new WeakMap<CoreNode, { ms: number; ns: bigint }>()
  /** Open writers and lock files: an unlinked inode lives until the last one closes. */
  const openFiles = new Map<CoreNode, number>()
  let locks = LOCK_TABLES.get(core)
  if (locks === undefined) LOCK_TABLES.set(core, (locks = new WeakMap()))
  const lockTable = locks

  // --- mounts ----------------------------------------------------------------

  const volumeTree: Tree = { root: core.root }
  /** Mounted trees by the directory link they cover; a mount on a mount covers the lower tree's root. */
  const mountedOn = new Map<CoreLink, Tree>()
  let records: MountRecord[] = []
  let nextMountId = 1
  let nextMinor = 100
  const toEntry = (m: MemoryMount, mountPoint: string, parentId: number): MountEntry => ({
    id: nextMountId++,
    parentId,
    dev: m.dev ?? { major: 0, minor: nextMinor++ },
    root: m.root ?? '/',
    mountPoint,
    options: m.options ?? ['rw', 'relatime'],
    fsType: m.fsType,
    source: m.source ?? m.fsType,
    superOptions: m.superOptions ?? ['rw'],
  })
  const copyEntry = (e: MountEntry): MountEntry => ({ ...e, dev: { ...e.dev }, options: [...e.options], superOptions: [...e.superOptions] })

  const setMounts = (mounts: MemoryMount[]): void => {
    nextMountId = 1
    records = []
    mountedOn.clear()
    for (const m of mounts) {
      const parent = mountContaining(
        records.map((r) => r.entry),
        m.mountPoint,
      )
      records.push({ entry: toEntry(m, m.mountPoint, parent?.id ?? 0), dtype: m.dtype ?? true, free: m.free ?? DEFAULT_FREE })
    }
  }
  setMounts(options.mounts ?? [{ mountPoint: '/', fsType: 'memfs', source: 'memfs' }])

  /**
   * The mount table line a place belongs to: the mount of the tree it is in,
   * unless a describe-only line stacked later covers it more closely (that
   * line says what the host has there).
   */
  const recordAt = (tree: Tree, path: string): MountRecord | undefined => {
    const base = tree.record
    let best = base
    for (let i = base === undefined ? 0 : records.indexOf(base) + 1; i < records.length; i++) {
      const r = records[i]!
      if (r.tree !== undefined || !isInside(r.entry.mountPoint, path)) continue
      if (base !== undefined && !isInside(base.entry.mountPoint, r.entry.mountPoint)) continue
      if (best === undefined || r.entry.mountPoint.length >= best.entry.mountPoint.length) best = r
    }
    return best
  }
  const devOf = (at: Pick<At, 'tree' | 'path'>): DevNo => recordAt(at.tree, at.path)?.entry.dev ?? { major: 0, minor: 0 }
  const sameFilesystem = (a: At, b: At): boolean => a.tree === b.tree && sameDevNo(devOf(a), devOf(b))
  const isMountPoint = (link: CoreLink, path: string): boolean =>
    mountedOn.has(link) || (path !== '/' && records.some((r) => r.tree === undefined && r.entry.mountPoint === path))

  /** Steps onto whatever is mounted on `link`, topmost mount last. */
  const enter = (link: CoreLink, tree: Tree): { link: CoreLink; tree: Tree } => {
    for (let t = mountedOn.get(link); t !== undefined; t = mountedOn.get(link)) {
      tree = t
      link = t.root
    }
    return { link, tree }
  }

  /** `..`: out of a mount root to the directory it covers first, as follow_dotdot does. */
  const up = (link: CoreLink, tree: Tree): { link: CoreLink; tree: Tree } => {
    while (link === tree.root && tree.covers !== undefined) ({ link, tree } = tree.covers)
    // memfs's root link is its own parent; a mounted root has none.
    const parent = link.parent
    return { link: parent !== undefined ? parent : link, tree }
  }

  // --- path resolution ----------------------------------------------------

  const components = (path: string, syscall: string): string[] => {
    if (!path.startsWith('/')) throw errnoError('EINVAL', syscall, path)
    if (nameByteLength(path) >= PATH_MAX) throw errnoError('ENAMETOOLONG', syscall, path)
    return path.split('/')
  }

  const canSearch = (node: CoreNode): boolean => permits(node, 0o1)
  const permits = (node: CoreNode, bit: number): boolean => {
    if (isRoot) return true
    if (node.uid === uid) return ((node.mode >> 6) & bit) !== 0
    if (node.gid === gid) return ((node.mode >> 3) & bit) !== 0
    return (node.mode & bit) !== 0
  }

  /**
   * Resolves a path like the kernel's lookup: symlinks in every component but
   * (unless `followLast`) the last, mounts crossed on the way down and `..`
   * out of them. A trailing slash (or "/.") asks for a directory: it follows
   * a last symlink and makes anything but a directory ENOTDIR.
   */
  const resolve = (path: string, syscall: string, followLast: boolean): At => {
    const raw = components(path, syscall)
    const last = raw[raw.length - 1]
    const wantDir = last === '' || last === '.'
    let pending = raw.filter((s) => s !== '' && s !== '.')
    let { link, tree } = enter(core.root, volumeTree)
    let names: string[] = []
    let hops = 0
    while (pending.length > 0) {
      const step = pending.shift()!
      const node = link.getNode()
      if (!node.isDirectory()) throw errnoError('ENOTDIR', syscall, path)
      if (!canSearch(node)) throw errnoError('EACCES', syscall, path)
      if (step === '..') {
        ;({ link, tree } = up(link, tree))
        names.pop()
        continue
      }
      if (nameByteLength(step) > NAME_MAX) throw errnoError('ENAMETOOLONG', syscall, path)
      const child = link.children.get(step)
      if (child === undefined) throw errnoError('ENOENT', syscall, path)
      const childNode = child.getNode()
      if (childNode.isSymlink() && (pending.length > 0 || followLast || wantDir)) {
        if (++hops > MAX_SYMLINK_HOPS) throw errnoError('ELOOP', syscall, path)
        const target = childNode.symlink
        if (target === '') throw errnoError('ENOENT', syscall, path)
        pending = [...target.split('/').filter((s) => s !== '' && s !== '.'), ...pending]
        if (target.startsWith('/')) {
          ;({ link, tree } = enter(core.root, volumeTree))
          names = []
        }
        continue
      }
      ;({ link, tree } = enter(child, tree))
      names.push(step)
    }
    if (wantDir && !link.getNode().isDirectory()) throw errnoError('ENOTDIR', syscall, path)
    return { link, tree, path: `/${names.join('/')}` }
  }

  /**
   * The directory that would hold `path`, the name in it, and whether the
   * path ended in a slash. A last component that names no entry ("." or
   * "..", or the root itself) gets the call's own errno from `dots`.
   */
  const walkParent = (path: string, syscall: string, dots: (which: string) => string): { dir: At; name: string; trailing: boolean } => {
    const raw = components(path, syscall)
    const named = raw.filter((s) => s !== '')
    const name = named.pop()
    if (name === undefined || name === '.' || name === '..') {
      // A missing or non-directory path answers as such first.
      resolve(path, syscall, true)
      throw errnoError(dots(name ?? '/'), syscall, path)
    }
    const dir = resolve(`/${named.join('/')}`, syscall, true)
    if (!dir.link.getNode().isDirectory()) throw errnoError('ENOTDIR', syscall, path)
    if (!canSearch(dir.link.getNode())) throw errnoError('EACCES', syscall, path)
    if (nameByteLength(name) > NAME_MAX) throw errnoError('ENAMETOOLONG', syscall, path)
    return { dir, name, trailing: raw[raw.length - 1] === '' }
  }

  /** open(dir, O_RDONLY|O_DIRECTORY|O_NOFOLLOW), as the disk adapter opens a directory it looks up names in. */
  const openDir = (dir: string): At => {
    const at = resolve(dir, 'open', false)
    const node = at.link.getNode()
    if (node.isSymlink()) throw errnoError('ELOOP', 'open', dir)
    if (!node.isDirectory()) throw errnoError('ENOTDIR', 'open', dir)
    if (!permits(node, 0o4)) throw errnoError('EACCES', 'open', dir)
    return at
  }

  const childPath = (dir: At, name: string): string => (dir.path === '/' ? `/${name}` : `${dir.path}/${name}`)

  const requireWritableDir = (dir: CoreLink, syscall: string, path: string): void => {
    if (!permits(dir.getNode(), 0o2)) throw errnoError('EACCES', syscall, path)
  }

  // --- inode helpers --------------------------------------------------------

  const kindOf = (node: CoreNode): InodeKind => kindFromMode(node.mode) ?? 'file'

  const release = (node: CoreNode): void => {
    if (node.nlink <= 0 && !openFiles.has(node)) core.deleteNode(node)
  }
  const opened = (node: CoreNode): void => {
    openFiles.set(node, (openFiles.get(node) ?? 0) + 1)
  }
  const closed = (node: CoreNode): void => {
    const n = (openFiles.get(node) ?? 1) - 1
    if (n === 0) openFiles.delete(node)
    else openFiles.set(node, n)
    release(node)
  }

  /** Drops one name of a non-directory; the inode goes when its last name and opener do. */
  const dropName = (dir: CoreLink, link: CoreLink): void => {
    const node = link.getNode()
    dir.deleteChild(link)
    node.nlink -= 1
    node.ctime = new Date()
    release(node)
  }

  const dropDir = (dir: CoreLink, link: CoreLink): void => {
    const node = link.getNode()
    dir.deleteChild(link)
    link.children.delete('.')
    node.nlink = 0
    release(node)
  }

  /**
   * A new inode as Linux's inode_init_owner makes it: the umask applies; a
   * directory keeps only `01777` of the mode it asked for; in a setgid
   * directory everything takes the directory's group and a new directory
   * the setgid bit too.
   */
  const createInode = (dir: At, name: string, kind: InodeKind, perm: number): CoreLink => {
    const parent = dir.link.getNode()
    const inherit = (parent.mode & 0o2000) !== 0
    let mode = perm & ~umask & (kind === 'dir' ? 0o1777 : 0o7777)
    if (kind === 'dir' && inherit) mode |= 0o2000
    const group = inherit ? parent.gid : gid
    // A setgid-and-group-exec file in a group its creator is not in would be
    // a privilege it never had: the kernel drops the bit (no CAP_FSETID).
    if (kind !== 'dir' && (mode & 0o2010) === 0o2010 && !isRoot && group !== gid) mode &= ~0o2000
    const node = core.createNode(kindBits(kind) | mode)
    node.uid = uid
    node.gid = group
    return dir.link.createChild(name, node)
  }

  const mtimeNs = (node: CoreNode): bigint => {
    const ms = node.mtime.getTime()
    const exact = nsTable.get(node)
    if (exact && exact.ms === ms) return exact.ns
    return BigInt(ms) * 1_000_000n
  }

  const toInode = (at: At): Inode => {
    const node = at.link.getNode()
    const kind = kindOf(node)
    const size = kind === 'file' ? node.getSize() : kind === 'symlink' ? nameByteLength(node.symlink) : kind === 'dir' ? 4096 : 0
    return {
      kind,
      mode: node.mode & 0o7777,
      uid: node.uid,
      gid: node.gid,
      size,
      // As ext4 would allocate: whole 4 KiB blocks for data and directories; short symlinks live in the inode.
      blocks: kind === 'file' || kind === 'dir' ? Math.ceil(size / 4096) * 8 : kind === 'symlink' && size > 59 ? 8 : 0,
      nlink: node.nlink,
      dev: devOf(at),
      ino: BigInt(node.ino),
      rdev: kind === 'char' || kind === 'block' ? splitDev(BigInt(node.rdev)) : { major: 0, minor: 0 },
      mtimeNs: mtimeNs(node),
    }
  }

  const isAncestor = (maybeAncestor: CoreLink, link: CoreLink): boolean => {
    // memfs's root link is its own parent.
    for (let cur: CoreLink | undefined = link; cur !== undefined; cur = cur.parent === cur ? undefined : cur.parent) {
      if (cur === maybeAncestor) return true
    }
    return false
  }

  const checkXattrName = (name: string, syscall: string, path: string): void => {
    if (!XATTR_NAMESPACES.some((ns) => name.startsWith(ns) && name.length > ns.length)) throw errnoError('ENOTSUP', syscall, path)
    if (Buffer.byteLength(name) > XATTR_NAME_MAX) throw errnoError('ERANGE', syscall, path)
  }

  /** Who may see or change an attribute, as Linux decides it. */
  const xattrAllowed = (node: CoreNode, name: string, write: boolean): 'ok' | 'EPERM' | 'hidden' | 'ENOTSUP' => {
    if (name.startsWith('system.')) return 'ENOTSUP'
    if (name.startsWith('trusted.')) return capSysAdmin ? 'ok' : write ? 'EPERM' : 'hidden'
    if (name.startsWith('security.')) return capSysAdmin || !write ? 'ok' : 'EPERM'
    // user.* is only for regular files and directories (xattr(7)).
    const kind = kindOf(node)
    if (kind !== 'file' && kind !== 'dir') return write ? 'EPERM' : 'hidden'
    if (write && !isRoot && node.uid !== uid) return 'EPERM'
    return 'ok'
  }

  /** A directory's entries, with each one's inode number when asked (this adapter's listing always has it right). */
  const listing = (path: string, inodes: boolean): DirEntry[] => {
    const link = resolve(path, 'scandir', false).link
    const node = link.getNode()
    if (node.isSymlink()) throw errnoError('ELOOP', 'scandir', path)
    if (!node.isDirectory()) throw errnoError('ENOTDIR', 'scandir', path)
    if (!permits(node, 0o4)) throw errnoError('EACCES', 'scandir', path)
    const out: DirEntry[] = []
    for (const [name, child] of link.children) {
      if (name === '.' || name === '..' || child === undefined) continue
      const node = child.getNode()
      const kind = kindOf(node)
      const e: DirEntry = kind === 'char' || kind === 'block' ? { name, kind, rdev: splitDev(BigInt(node.rdev)) } : { name, kind }
      if (inodes) e.ino = node.ino
      out.push(e)
    }
    return out
  }

  const fs: MemoryFs = {
    kind: 'memory',
    volume,

    mount(m) {
      const at = resolve(m.mountPoint, 'mount', true)
      if (!at.link.getNode().isDirectory()) throw errnoError('ENOTDIR', 'mount', m.mountPoint)
      const record: MountRecord = { entry: toEntry(m, at.path, recordAt(at.tree, at.path)?.entry.id ?? 0), dtype: m.dtype ?? true, free: m.free ?? DEFAULT_FREE }
      if (m.describeOnly !== true) {
        const node = core.createNode(kindBits('dir') | ((m.rootMode ?? (m.fsType === 'tmpfs' ? 0o1777 : 0o755)) & 0o7777))
        node.uid = uid
        node.gid = gid
        const root = core.createLink()
        root.setNode(node)
        root.children.set('.', root)
        node.nlink += 1
        record.tree = { root, record, covers: { link: at.link, tree: at.tree } }
        mountedOn.set(at.link, record.tree)
      }
      records.push(record)
      return copyEntry(record.entry)
    },

    setMounts,

    async lstat(path) {
      try {
        return toInode(resolve(path, 'lstat', false))
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOENT') return undefined
        throw err
      }
    },

    async readdir(path) {
      return listing(path, false)
    },

    listTree(root, from, maxEntries, options) {
      const inodes = options?.inodes === true
      return listTreeByReaddir(async (p) => listing(p, inodes), root, from, maxEntries, options)
    },

    async inspect(dir, names, options = {}) {
      const { readUpTo, maxBytes } = inspectLimits(options)
      const at = openDir(dir)
      const dirNode = at.link.getNode()
      const out: Inspected[] = []
      let carried = 0
      for (const name of names) {
        if (carried >= maxBytes) break
        const child = isEntryName(name) && nameByteLength(name) <= NAME_MAX && canSearch(dirNode) ? at.link.children.get(name) : undefined
        if (child === undefined) {
          const errno = !isEntryName(name) ? 'EINVAL' : nameByteLength(name) > NAME_MAX ? 'ENAMETOOLONG' : !canSearch(dirNode) ? 'EACCES' : 'ENOENT'
          out.push({ errno, syscall: 'lstat' })
          continue
        }
        const entered = enter(child, at.tree)
        const node = entered.link.getNode()
        const inode = toInode({ ...entered, path: childPath(at, name) })
        const r: Inspected = { inode }
        if (options.xattrNames === true) {
          const table = xattrTable.get(node)
          r.xattrNames = table === undefined ? [] : [...table.keys()].filter((x) => xattrAllowed(node, x, false) === 'ok')
          for (const x of r.xattrNames) carried += nameByteLength(x) + 1
        }
        if (inode.kind === 'file' && inode.size > 0 && inode.size <= readUpTo) {
          if (!permits(node, 0o4)) {
            out.push({ ...r, errno: 'EACCES', syscall: 'open' })
            continue
          }
          const data = Buffer.alloc(inode.size)
          node.read(data, 0, inode.size, 0)
          r.bytes = data
          carried += data.length
        }
        if (inode.kind === 'symlink' && options.readlinks === true) {
          r.linkname = node.symlink
          carried += nameByteLength(node.symlink)
        }
        out.push(r)
      }
      return out
    },

    async readlink(path) {
      const node = resolve(path, 'readlink', false).link.getNode()
      if (!node.isSymlink()) throw errnoError('EINVAL', 'readlink', path)
      return node.symlink
    },

    async realpath(path) {
      return resolve(path, 'realpath', true).path
    },

    async openRead(path) {
      const node = resolve(path, 'open', false).link.getNode()
      const kind = kindOf(node)
      if (kind === 'symlink') throw errnoError('ELOOP', 'open', path)
      if (kind === 'dir') throw errnoError('EISDIR', 'open', path)
      // Nothing here has a driver or a writer; the disk adapter never opens
      // these for IO either, so a hostile store cannot make a read block.
      if (kind !== 'file') throw errnoError('ENXIO', 'open', path)
      if (!permits(node, 0o4)) throw errnoError('EACCES', 'open', path)
      // A snapshot at open time: what a reader of a file that is then replaced
      // by rename sees on Linux too.
      const size = node.getSize()
      const data = new Uint8Array(size)
      node.read(data, 0, size, 0)
      const chunk = 256 * 1024
      return Readable.from(
        (function* () {
          for (let off = 0; off < size; off += chunk) yield Buffer.from(data.subarray(off, Math.min(size, off + chunk)))
        })(),
        { objectMode: false },
      )
    },

    async openWrite(path, opts: WriteOptions = {}) {
      const { dir, name, trailing } = walkParent(path, 'open', DOTS_OPEN)
      // O_CREAT with a trailing slash is EISDIR whatever the name holds.
      if (trailing) throw errnoError('EISDIR', 'open', path)
      let link = dir.link.children.get(name)
      if (link !== undefined) {
        const node = link.getNode()
        // O_EXCL never follows a symlink: one there, dangling or not, is EEXIST.
        if (opts.exclusive) throw errnoError('EEXIST', 'open', path)
        if (node.isSymlink()) throw errnoError('ELOOP', 'open', path)
        if (node.isDirectory()) throw errnoError('EISDIR', 'open', path)
        if (!permits(node, 0o2)) throw errnoError('EACCES', 'open', path)
        // No drivers here, and a fifo without a reader would block: ENXIO,
        // as a 0/0 device (an overlay whiteout) and O_NONBLOCK answer on Linux.
        if (kindOf(node) !== 'file') throw errnoError('ENXIO', 'open', path)
        if (!opts.append) node.truncate(0)
      } else {
        requireWritableDir(dir.link, 'open', path)
        link = createInode(dir, name, 'file', opts.mode ?? 0o666)
      }
      const node = link.getNode()
      opened(node)
      let pos = 0
      let isClosed = false
      const handle: WriteHandle = {
        async write(chunk) {
          if (isClosed) throw errnoError('EBADF', 'write', path)
          // O_APPEND: every write lands at the end as it is then.
          if (opts.append) pos = node.getSize()
          node.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength), 0, chunk.byteLength, pos)
          pos += chunk.byteLength
        },
        async sync() {
          if (isClosed) throw errnoError('EBADF', 'fsync', path)
        },
        async close() {
          if (isClosed) return
          isClosed = true
          closed(node)
        },
      }
      return handle
    },

    async mkdir(path, mode = 0o777) {
      const { dir, name } = walkParent(path, 'mkdir', DOTS_EXIST)
      if (dir.link.children.has(name)) throw errnoError('EEXIST', 'mkdir', path)
      requireWritableDir(dir.link, 'mkdir', path)
      createInode(dir, name, 'dir', mode)
    },

    async mknod(path, kind, mode, rdev = { major: 0, minor: 0 }) {
      const { dir, name, trailing } = walkParent(path, 'mknod', DOTS_EXIST)
      if (dir.link.children.has(name)) throw errnoError('EEXIST', 'mknod', path)
      // Only mkdir may name a new entry with a trailing slash.
      if (trailing) throw errnoError('ENOENT', 'mknod', path)
      if (kind !== 'fifo' && !capMknod) throw errnoError('EPERM', 'mknod', path)
      requireWritableDir(dir.link, 'mknod', path)
      const link = createInode(dir, name, kind, mode)
      if (kind !== 'fifo') link.getNode().rdev = Number(joinDev(rdev))
    },

    async symlink(target, path) {
      if (nameByteLength(target) >= PATH_MAX) throw errnoError('ENAMETOOLONG', 'symlink', target, path)
      if (target === '') throw errnoError('ENOENT', 'symlink', target, path)
      const { dir, name, trailing } = walkParent(path, 'symlink', DOTS_EXIST)
      if (dir.link.children.has(name)) throw errnoError('EEXIST', 'symlink', target, path)
      if (trailing) throw errnoError('ENOENT', 'symlink', target, path)
      requireWritableDir(dir.link, 'symlink', path)
      const link = createInode(dir, name, 'symlink', 0o777)
      const node = link.getNode()
      node.makeSymlink(target)
      // Symlink permission bits are always 0777 on Linux, whatever the umask.
      node.mode = kindBits('symlink') | 0o777
    },

    async link(existing, path) {
      const src = resolve(existing, 'link', false)
      const node = src.link.getNode()
      // Linux's order: the new name, then the mounts, then the inode's kind.
      const { dir, name, trailing } = walkParent(path, 'link', DOTS_EXIST)
      if (dir.link.children.has(name)) throw errnoError('EEXIST', 'link', existing, path)
      if (trailing) throw errnoError('ENOENT', 'link', existing, path)
      if (!sameFilesystem(src, dir)) throw errnoError('EXDEV', 'link', existing, path)
      if (node.isDirectory()) throw errnoError('EPERM', 'link', existing, path)
      requireWritableDir(dir.link, 'link', path)
      dir.link.createChild(name, node)
      node.nlink += 1
      node.ctime = new Date()
    },

    async linkNames(fromDir, toDir, names) {
      openDir(fromDir)
      openDir(toDir)
      return linkEachName(fromDir, toDir, names, (existing, path) => fs.link(existing, path))
    },

    async rename(from, to) {
      const srcParent = walkParent(from, 'rename', DOTS_RENAME)
      const dstParent = walkParent(to, 'rename', DOTS_RENAME)
      // Linux compares the parents' mounts before it looks at either name.
      if (!sameFilesystem(srcParent.dir, dstParent.dir)) throw errnoError('EXDEV', 'rename', from, to)
      const src = srcParent.dir.link.children.get(srcParent.name)
      if (src === undefined) throw errnoError('ENOENT', 'rename', from, to)
      const dst = dstParent.dir.link.children.get(dstParent.name)
      const srcNode = src.getNode()
      // A trailing slash on either name says the source is a directory.
      if ((srcParent.trailing || dstParent.trailing) && !srcNode.isDirectory()) throw errnoError('ENOTDIR', 'rename', from, to)
      const fromPath = childPath(srcParent.dir, srcParent.name)
      const toPath = childPath(dstParent.dir, dstParent.name)
      if (isMountPoint(src, fromPath) || (dst !== undefined && isMountPoint(dst, toPath))) throw errnoError('EBUSY', 'rename', from, to)
      // Same link, or two names of one inode: rename(2) does nothing at all.
      if (dst !== undefined && dst.getNode() === srcNode) return
      if (srcNode.isDirectory()) {
        if (isAncestor(src, dstParent.dir.link)) throw errnoError('EINVAL', 'rename', from, to)
        if (dst !== undefined) {
          const dstNode = dst.getNode()
          if (!dstNode.isDirectory()) throw errnoError('ENOTDIR', 'rename', from, to)
          if ([...dst.children.keys()].some((k) => k !== '.' && k !== '..')) throw errnoError('ENOTEMPTY', 'rename', from, to)
        }
      } else if (dst !== undefined && dst.getNode().isDirectory()) {
        throw errnoError('EISDIR', 'rename', from, to)
      }
      requireWritableDir(srcParent.dir.link, 'rename', from)
      requireWritableDir(dstParent.dir.link, 'rename', to)
      if (dst !== undefined) {
        if (dst.getNode().isDirectory()) dropDir(dstParent.dir.link, dst)
        else dropName(dstParent.dir.link, dst)
      }
      srcParent.dir.link.deleteChild(src)
      src.name = dstParent.name
      dstParent.dir.link.setChild(dstParent.name, src)
      src.steps = [...dstParent.dir.link.steps, dstParent.name]
      srcNode.ctime = new Date()
      // Mounts hang on directories, not paths: /proc/self/mountinfo shows
      // them under the directory's new name.
      if (srcNode.isDirectory()) {
        for (const r of records) {
          if (r.entry.mountPoint.startsWith(`${fromPath}/`)) r.entry.mountPoint = toPath + r.entry.mountPoint.slice(fromPath.length)
        }
      }
    },

    async unlink(path) {
      const { dir, name, trailing } = walkParent(path, 'unlink', DOTS_OPEN)
      const link = dir.link.children.get(name)
      if (link === undefined) throw errnoError('ENOENT', 'unlink', path)
      if (link.getNode().isDirectory()) throw errnoError('EISDIR', 'unlink', path)
      // unlink never follows: a trailing slash on a symlink, even to a directory, is ENOTDIR.
      if (trailing) throw errnoError('ENOTDIR', 'unlink', path)
      requireWritableDir(dir.link, 'unlink', path)
      dropName(dir.link, link)
    },

    async rmdir(path) {
      const { dir, name } = walkParent(path, 'rmdir', DOTS_RMDIR)
      const link = dir.link.children.get(name)
      if (link === undefined) throw errnoError('ENOENT', 'rmdir', path)
      if (!link.getNode().isDirectory()) throw errnoError('ENOTDIR', 'rmdir', path)
      if (isMountPoint(link, childPath(dir, name))) throw errnoError('EBUSY', 'rmdir', path)
      if ([...link.children.keys()].some((k) => k !== '.' && k !== '..')) throw errnoError('ENOTEMPTY', 'rmdir', path)
      requireWritableDir(dir.link, 'rmdir', path)
      dropDir(dir.link, link)
    },

    async chmod(path, mode) {
      const node = resolve(path, 'chmod', false).link.getNode()
      if (node.isSymlink()) throw errnoError('ENOTSUP', 'lchmod', path)
      if (!isRoot && node.uid !== uid) throw errnoError('EPERM', 'chmod', path)
      node.mode = (node.mode & S_IFMT) | (mode & 0o7777)
      node.ctime = new Date()
    },

    async lchown(path, newUid, newGid) {
      const node = resolve(path, 'lchown', false).link.getNode()
      if (!isRoot && (newUid !== node.uid || newGid !== node.gid)) throw errnoError('EPERM', 'lchown', path)
      // chown(2) drops setuid from anything but a directory, even for root
      // and an unchanged owner; setgid only where it means "run as group"
      // (group-exec set) or the caller is outside the group without
      // CAP_FSETID. Linux 6.x, checked on ext4.
      if (!node.isDirectory()) {
        let mode = node.mode & ~0o4000
        if ((node.mode & 0o2000) !== 0 && ((node.mode & 0o010) !== 0 || (!isRoot && node.gid !== gid))) mode &= ~0o2000
        node.mode = mode
      }
      node.uid = newUid
      node.gid = newGid
      node.ctime = new Date()
    },

    async lutimes(path, atimeNs, mtimeNs) {
      const node = resolve(path, 'lutimes', false).link.getNode()
      if (!isRoot && node.uid !== uid) throw errnoError('EPERM', 'lutimes', path)
      const ms = Number(mtimeNs / 1_000_000n) - (mtimeNs % 1_000_000n < 0n ? 1 : 0)
      node.atime = new Date(Number(atimeNs / 1_000_000n))
      node.mtime = new Date(ms)
      nsTable.set(node, { ms: node.mtime.getTime(), ns: mtimeNs })
    },

    xattr: {
      async list(path) {
        const node = resolve(path, 'llistxattr', false).link.getNode()
        const table = xattrTable.get(node)
        if (!table) return []
        return [...table.keys()].filter((name) => xattrAllowed(node, name, false) === 'ok')
      },
      async get(path, name) {
        const node = resolve(path, 'lgetxattr', false).link.getNode()
        checkXattrName(name, 'lgetxattr', path)
        const allowed = xattrAllowed(node, name, false)
        if (allowed === 'ENOTSUP') throw errnoError('ENOTSUP', 'lgetxattr', path)
        if (allowed !== 'ok') return undefined
        const value = xattrTable.get(node)?.get(name)
        return value === undefined ? undefined : value.slice()
      },
      async set(path, name, value) {
        const node = resolve(path, 'lsetxattr', false).link.getNode()
        checkXattrName(name, 'lsetxattr', path)
        if (value.byteLength > XATTR_SIZE_MAX) throw errnoError('E2BIG', 'lsetxattr', path)
        const allowed = xattrAllowed(node, name, true)
        if (allowed !== 'ok') throw errnoError(allowed === 'hidden' ? 'EPERM' : allowed, 'lsetxattr', path)
        let table = xattrTable.get(node)
        if (!table) xattrTable.set(node, (table = new Map()))
        table.set(name, value.slice())
        node.ctime = new Date()
      },
      async remove(path, name) {
        const node = resolve(path, 'lremovexattr', false).link.getNode()
        checkXattrName(name, 'lremovexattr', path)
        const allowed = xattrAllowed(node, name, true)
        if (allowed !== 'ok') throw errnoError(allowed === 'hidden' ? 'EPERM' : allowed, 'lremovexattr', path)
        const table = xattrTable.get(node)
        if (!table?.delete(name)) throw errnoError('ENODATA', 'lremovexattr', path)
        node.ctime = new Date()
      },
    },

    // Memory is always durable; what fsync and syncfs make durable is the
    // crash decorator's model, which wraps this adapter.
    async fsync(path) {
      const node = resolve(path, 'open', false).link.getNode()
      if (node.isSymlink()) throw errnoError('ELOOP', 'open', path)
    },

    async syncfs(path) {
      resolve(path, 'syncfs', false)
    },

    async tryLock(path, mode, lockOptions = {}) {
      const { dir, name, trailing } = walkParent(path, 'open', DOTS_OPEN)
      if (trailing) throw errnoError('EISDIR', 'open', path)
      let link = dir.link.children.get(name)
      if (link === undefined) {
        if (lockOptions.create !== true) throw errnoError('ENOENT', 'open', path)
        requireWritableDir(dir.link, 'open', path)
        link = createInode(dir, name, 'file', 0o644)
      }
      const node = link.getNode()
      const kind = kindOf(node)
      if (kind === 'symlink') throw errnoError('ELOOP', 'open', path)
      if (kind === 'dir') throw errnoError('EISDIR', 'open', path)
      if (kind !== 'file') throw errnoError('ENXIO', 'open', path)
      if (!permits(node, 0o4)) throw errnoError('EACCES', 'open', path)
      let holders = lockTable.get(node)
      if (holders === undefined) lockTable.set(node, (holders = []))
      // Each call is an open file of its own: flock(2) makes two of them
      // exclude each other even within one process.
      const conflicting = holders.filter((h) => mode === 'exclusive' || h.mode === 'exclusive')
      if (conflicting.length > 0) return { ok: false, holders: [...new Set(conflicting.map((h) => h.pid))] }
      const mine: LockHolder = { mode, pid }
      holders.push(mine)
      opened(node)
      let held = true
      const lock: FileLock = {
        mode,
        async release() {
          if (!held) return
          held = false
          const list = lockTable.get(node) ?? []
          const at = list.indexOf(mine)
          if (at >= 0) list.splice(at, 1)
          closed(node)
        },
      }
      return { ok: true, lock }
    },

    async credentials() {
      return { uid, gid, capSysAdmin, capMknod }
    },

    async fsType(path) {
      const at = resolve(path, 'statfs', true)
      const record = recordAt(at.tree, at.path)
      const name = record?.entry.fsType ?? 'memfs'
      return { magic: fsTypeMagic(name), name, dtype: record?.dtype ?? true, free: { ...(record?.free ?? DEFAULT_FREE) } }
    },

    async mounts() {
      return records.map((r) => copyEntry(r.entry))
    },

    async unmount(path, opts = {}) {
      const at = resolve(path, 'umount', false)
      // The topmost mount whose root this is: a mounted tree by its root
      // link, a describe-only line by its path.
      let index = -1
      for (let i = records.length - 1; i >= 0 && index < 0; i--) {
        const r = records[i]!
        if (r.tree !== undefined ? r.tree.root === at.link : r.entry.mountPoint === at.path) index = i
      }
      const record = records[index]
      if (record === undefined || at.path === '/') throw errnoError('EINVAL', 'umount', path)
      const gone = new Set([record.entry.id])
      for (let grew = true; grew; ) {
        grew = false
        for (const r of records) {
          if (!gone.has(r.entry.id) && gone.has(r.entry.parentId)) {
            gone.add(r.entry.id)
            grew = true
          }
        }
      }
      if (gone.size > 1 && opts.detach !== true) throw errnoError('EBUSY', 'umount', path)
      for (const r of records) {
        const covers = r.tree?.covers
        if (gone.has(r.entry.id) && covers !== undefined && mountedOn.get(covers.link) === r.tree) mountedOn.delete(covers.link)
      }
      records = records.filter((r) => !gone.has(r.entry.id))
    },
  }
  return fs
}
