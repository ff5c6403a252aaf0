/**
 * The memory adapter: memfs's inode and directory-entry model (its core
 * Superblock, Link and Node), with the operations written here to Linux's
 * rules, because memfs's own get them wrong where a layer tool cares
 * (aesthetics.md §3): rename follows a symlink source, replaces non-empty
 * directories and never drops the replaced inode's nlink; link() accepts
 * directories; there is no mknod, rdev, xattr, umask, root bypass, distinct
 * device number or mount table. `test/fs-contract.test.ts` holds this file
 * to the disk's behaviour case by case.
 *
 * A downstream suite can hand in the memfs Volume it already has: files made
 * through memfs show up here and the other way round.
 */
import { Readable } from 'node:stream'
import { Volume } from 'memfs'
import { errnoError } from '../errors.js'
import { fsTypeMagic } from './fstype.js'
import { mountContaining } from './mountinfo.js'
import type { DevNo, DirEntry, FsPort, Inode, InodeKind, MountEntry, WriteHandle, WriteOptions } from './port.js'
import { joinDev, kindBits, kindFromMode, S_IFMT, splitDev } from './port.js'

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
  createChild(name: string, node?: CoreNode): CoreLink
  setChild(name: string, link?: CoreLink): CoreLink
  deleteChild(link: CoreLink): void
}

interface CoreSuperblock {
  root: CoreLink
  createNode(mode: number): CoreNode
  deleteNode(node: CoreNode): void
}

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
}

export interface MemoryFsOptions {
  /** An existing memfs Volume to work on; a new empty one otherwise. */
  volume?: Volume
  /** Credentials of the simulated process; 0/0 (root) by default, as the tool runs in production. */
  uid?: number
  gid?: number
  /** Applied to the mode of every created inode, as the kernel does; 0o022 by default. */
  umask?: number
  /** The mount table; one memfs filesystem at / when not given. */
  mounts?: MemoryMount[]
}

export interface MemoryFs extends FsPort {
  readonly kind: 'memory'
  readonly volume: Volume
  /** Adds a mount on top of the table (the path must be a directory), as mount(8) would. */
  mount(mount: MemoryMount): MountEntry
  /** Replaces the whole mount table; for tests that describe a host. */
  setMounts(mounts: MemoryMount[]): void
}

const MAX_SYMLINK_HOPS = 40
const XATTR_NAMESPACES = ['user.', 'trusted.', 'security.', 'system.']
const XATTR_NAME_MAX = 255
const XATTR_SIZE_MAX = 65536

export function createMemoryFs(options: MemoryFsOptions = {}): MemoryFs {
  const volume = options.volume ?? new Volume()
  const core = (volume as unknown as { _core: CoreSuperblock })._core
  const uid = options.uid ?? 0
  const gid = options.gid ?? 0
  const isRoot = uid === 0
  const umask = options.umask ?? 0o022

  // Side tables keyed by the inode object itself, so they die with it and a
  // reused inode number never inherits another file's xattrs or times.
  const xattrTable = new WeakMap<CoreNode, Map<string, Uint8Array>>()
  const nsTable = new WeakMap<CoreNode, { ms: number; ns: bigint }>()
  const openWriters = new Map<CoreNode, number>()

  let mountTable: MountEntry[] = []
  const dtypeByMount = new Map<string, boolean>()
  let nextMountId = 1
  let nextMinor = 100
  const toEntry = (m: MemoryMount, parentId: number): MountEntry => {
    if (m.dtype !== undefined) dtypeByMount.set(m.mountPoint, m.dtype)
    return {
      id: nextMountId++,
      parentId,
      dev: m.dev ?? { major: 0, minor: nextMinor++ },
      root: m.root ?? '/',
      mountPoint: m.mountPoint,
      options: m.options ?? ['rw', 'relatime'],
      fsType: m.fsType,
      source: m.source ?? m.fsType,
      superOptions: m.superOptions ?? ['rw'],
    }
  }
  const setMounts = (mounts: MemoryMount[]): void => {
    nextMountId = 1
    mountTable = []
    for (const m of mounts) {
      const parent = mountContaining(mountTable, m.mountPoint)
      mountTable.push(toEntry(m, parent?.id ?? 0))
    }
  }
  setMounts(options.mounts ?? [{ mountPoint: '/', fsType: 'memfs', source: 'memfs' }])

  const devOf = (path: string): DevNo => mountContaining(mountTable, path)?.dev ?? { major: 0, minor: 0 }
  const isMountPoint = (path: string): boolean => mountTable.some((m) => m.mountPoint === path && path !== '/')

  // --- path resolution ----------------------------------------------------

  const split = (path: string, syscall: string): string[] => {
    if (!path.startsWith('/')) throw errnoError('EINVAL', syscall, path)
    return path.split('/').filter((s) => s !== '' && s !== '.')
  }

  const canSearch = (node: CoreNode): boolean => permits(node, 0o1)
  const permits = (node: CoreNode, bit: number): boolean => {
    if (isRoot) return true
    if (node.uid === uid) return ((node.mode >> 6) & bit) !== 0
    if (node.gid === gid) return ((node.mode >> 3) & bit) !== 0
    return (node.mode & bit) !== 0
  }

  /** Walks `steps`, resolving symlinks in every component but (unless `followLast`) the last. */
  const walk = (path: string, syscall: string, followLast: boolean): CoreLink => {
    let pending = split(path, syscall)
    let cur = core.root
    let hops = 0
    while (pending.length > 0) {
      const step = pending[0]!
      pending = pending.slice(1)
      const node = cur.getNode()
      if (!node.isDirectory()) throw errnoError('ENOTDIR', syscall, path)
      if (!canSearch(node)) throw errnoError('EACCES', syscall, path)
      if (step === '..') {
        cur = cur.parent ?? core.root
        continue
      }
      const child = cur.children.get(step)
      if (child === undefined) throw errnoError('ENOENT', syscall, path)
      const childNode = child.getNode()
      if (childNode.isSymlink() && (pending.length > 0 || followLast)) {
        if (++hops > MAX_SYMLINK_HOPS) throw errnoError('ELOOP', syscall, path)
        const target = childNode.symlink
        const targetSteps = target.split('/').filter((s) => s !== '' && s !== '.')
        pending = [...targetSteps, ...pending]
        if (target.startsWith('/')) cur = core.root
        continue
      }
      cur = child
    }
    return cur
  }

  /** The directory that would hold `path`, and the name in it. */
  const walkParent = (path: string, syscall: string): { dir: CoreLink; name: string } => {
    const steps = split(path, syscall)
    const name = steps.pop()
    if (name === undefined) throw errnoError('EBUSY', syscall, path)
    if (name === '..') throw errnoError('EINVAL', syscall, path)
    const dir = walk(`/${steps.join('/')}`, syscall, true)
    if (!dir.getNode().isDirectory()) throw errnoError('ENOTDIR', syscall, path)
    if (!canSearch(dir.getNode())) throw errnoError('EACCES', syscall, path)
    return { dir, name }
  }

  const pathOf = (link: CoreLink): string => `/${link.steps.filter((p) => p !== '').join('/')}`

  const requireWritableDir = (dir: CoreLink, syscall: string, path: string): void => {
    if (!permits(dir.getNode(), 0o2)) throw errnoError('EACCES', syscall, path)
  }

  // --- inode helpers --------------------------------------------------------

  const kindOf = (node: CoreNode): InodeKind => kindFromMode(node.mode) ?? 'file'

  const release = (node: CoreNode): void => {
    if (node.nlink <= 0 && !openWriters.has(node)) core.deleteNode(node)
  }

  /** Drops one name of a non-directory; the inode goes when its last name and writer do. */
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

  const createInode = (dir: CoreLink, name: string, typeBits: number, perm: number): CoreLink => {
    const node = core.createNode(typeBits | (perm & ~umask & 0o7777))
    node.uid = uid
    node.gid = gid
    return dir.createChild(name, node)
  }

  const mtimeNs = (node: CoreNode): bigint => {
    const ms = node.mtime.getTime()
    const exact = nsTable.get(node)
    if (exact && exact.ms === ms) return exact.ns
    return BigInt(ms) * 1_000_000n
  }

  const toInode = (link: CoreLink, path: string): Inode => {
    const node = link.getNode()
    const kind = kindOf(node)
    const size = kind === 'file' ? node.getSize() : kind === 'symlink' ? Buffer.byteLength(node.symlink) : kind === 'dir' ? 4096 : 0
    return {
      kind,
      mode: node.mode & 0o7777,
      uid: node.uid,
      gid: node.gid,
      size,
      nlink: node.nlink,
      dev: devOf(path),
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
    if (name.startsWith('trusted.')) return isRoot ? 'ok' : write ? 'EPERM' : 'hidden'
    if (name.startsWith('security.')) return isRoot || !write ? 'ok' : 'EPERM'
    // user.* is only for regular files and directories (xattr(7)).
    const kind = kindOf(node)
    if (kind !== 'file' && kind !== 'dir') return write ? 'EPERM' : 'hidden'
    if (write && !isRoot && node.uid !== uid) return 'EPERM'
    return 'ok'
  }

  const fs: MemoryFs = {
    kind: 'memory',
    volume,

    mount(m) {
      const target = walk(m.mountPoint, 'mount', true)
      if (!target.getNode().isDirectory()) throw errnoError('ENOTDIR', 'mount', m.mountPoint)
      const entry = toEntry(m, mountContaining(mountTable, m.mountPoint)?.id ?? 0)
      mountTable.push(entry)
      return entry
    },

    setMounts,

    async lstat(path) {
      try {
        return toInode(walk(path, 'lstat', false), path)
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOENT') return undefined
        throw err
      }
    },

    async readdir(path) {
      const link = walk(path, 'scandir', false)
      const node = link.getNode()
      if (node.isSymlink()) throw errnoError('ELOOP', 'scandir', path)
      if (!node.isDirectory()) throw errnoError('ENOTDIR', 'scandir', path)
      if (!permits(node, 0o4)) throw errnoError('EACCES', 'scandir', path)
      const out: DirEntry[] = []
      for (const [name, child] of link.children) {
        if (name === '.' || name === '..' || child === undefined) continue
        out.push({ name, kind: kindOf(child.getNode()) })
      }
      return out
    },

    async readlink(path) {
      const node = walk(path, 'readlink', false).getNode()
      if (!node.isSymlink()) throw errnoError('EINVAL', 'readlink', path)
      return node.symlink
    },

    async realpath(path) {
      return pathOf(walk(path, 'realpath', true))
    },

    async openRead(path) {
      const node = walk(path, 'open', false).getNode()
      if (node.isSymlink()) throw errnoError('ELOOP', 'open', path)
      if (node.isDirectory()) throw errnoError('EISDIR', 'open', path)
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
      const { dir, name } = walkParent(path, 'open')
      let link = dir.children.get(name)
      if (link !== undefined) {
        const node = link.getNode()
        if (node.isSymlink()) throw errnoError('ELOOP', 'open', path)
        if (opts.exclusive) throw errnoError('EEXIST', 'open', path)
        if (node.isDirectory()) throw errnoError('EISDIR', 'open', path)
        if (!permits(node, 0o2)) throw errnoError('EACCES', 'open', path)
        node.truncate(0)
      } else {
        requireWritableDir(dir, 'open', path)
        link = createInode(dir, name, kindBits('file'), opts.mode ?? 0o666)
      }
      const node = link.getNode()
      openWriters.set(node, (openWriters.get(node) ?? 0) + 1)
      let pos = 0
      let closed = false
      const handle: WriteHandle = {
        async write(chunk) {
          if (closed) throw errnoError('EBADF', 'write', path)
          node.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength), 0, chunk.byteLength, pos)
          pos += chunk.byteLength
        },
        async sync() {
          if (closed) throw errnoError('EBADF', 'fsync', path)
        },
        async close() {
          if (closed) return
          closed = true
          const n = (openWriters.get(node) ?? 1) - 1
          if (n === 0) openWriters.delete(node)
          else openWriters.set(node, n)
          release(node)
        },
      }
      return handle
    },

    async mkdir(path, mode = 0o777) {
      const { dir, name } = walkParent(path, 'mkdir')
      if (dir.children.has(name)) throw errnoError('EEXIST', 'mkdir', path)
      requireWritableDir(dir, 'mkdir', path)
      createInode(dir, name, kindBits('dir'), mode)
    },

    async mknod(path, kind, mode, rdev = { major: 0, minor: 0 }) {
      const { dir, name } = walkParent(path, 'mknod')
      if (dir.children.has(name)) throw errnoError('EEXIST', 'mknod', path)
      if (kind !== 'fifo' && !isRoot) throw errnoError('EPERM', 'mknod', path)
      requireWritableDir(dir, 'mknod', path)
      const link = createInode(dir, name, kindBits(kind), mode)
      if (kind !== 'fifo') link.getNode().rdev = Number(joinDev(rdev))
    },

    async symlink(target, path) {
      const { dir, name } = walkParent(path, 'symlink')
      if (dir.children.has(name)) throw errnoError('EEXIST', 'symlink', target, path)
      requireWritableDir(dir, 'symlink', path)
      const link = createInode(dir, name, kindBits('symlink'), 0o777)
      const node = link.getNode()
      node.makeSymlink(target)
      // Symlink permission bits are always 0777 on Linux, whatever the umask.
      node.mode = kindBits('symlink') | 0o777
    },

    async link(existing, path) {
      const src = walk(existing, 'link', false)
      const node = src.getNode()
      if (node.isDirectory()) throw errnoError('EPERM', 'link', existing, path)
      const { dir, name } = walkParent(path, 'link')
      if (dir.children.has(name)) throw errnoError('EEXIST', 'link', existing, path)
      const srcDev = devOf(existing)
      const dstDev = devOf(path)
      if (srcDev.major !== dstDev.major || srcDev.minor !== dstDev.minor) throw errnoError('EXDEV', 'link', existing, path)
      requireWritableDir(dir, 'link', path)
      dir.createChild(name, node)
      node.nlink += 1
      node.ctime = new Date()
    },

    async rename(from, to) {
      const srcParent = walkParent(from, 'rename')
      const src = srcParent.dir.children.get(srcParent.name)
      if (src === undefined) throw errnoError('ENOENT', 'rename', from, to)
      const dstParent = walkParent(to, 'rename')
      const dst = dstParent.dir.children.get(dstParent.name)
      const srcNode = src.getNode()
      if (isMountPoint(pathOf(src)) || (dst !== undefined && isMountPoint(pathOf(dst)))) throw errnoError('EBUSY', 'rename', from, to)
      const a = devOf(pathOf(srcParent.dir))
      const b = devOf(`${pathOf(dstParent.dir)}/${dstParent.name}`.replace(/^\/\//, '/'))
      if (a.major !== b.major || a.minor !== b.minor) throw errnoError('EXDEV', 'rename', from, to)
      // Same link, or two names of one inode: rename(2) does nothing at all.
      if (dst !== undefined && dst.getNode() === srcNode) return
      if (srcNode.isDirectory()) {
        if (isAncestor(src, dstParent.dir)) throw errnoError('EINVAL', 'rename', from, to)
        if (dst !== undefined) {
          const dstNode = dst.getNode()
          if (!dstNode.isDirectory()) throw errnoError('ENOTDIR', 'rename', from, to)
          if ([...dst.children.keys()].some((k) => k !== '.' && k !== '..')) throw errnoError('ENOTEMPTY', 'rename', from, to)
        }
      } else if (dst !== undefined && dst.getNode().isDirectory()) {
        throw errnoError('EISDIR', 'rename', from, to)
      }
      requireWritableDir(srcParent.dir, 'rename', from)
      requireWritableDir(dstParent.dir, 'rename', to)
      if (dst !== undefined) {
        if (dst.getNode().isDirectory()) dropDir(dstParent.dir, dst)
        else dropName(dstParent.dir, dst)
      }
      srcParent.dir.deleteChild(src)
      src.name = dstParent.name
      dstParent.dir.setChild(dstParent.name, src)
      src.steps = [...dstParent.dir.steps, dstParent.name]
      srcNode.ctime = new Date()
    },

    async unlink(path) {
      const { dir, name } = walkParent(path, 'unlink')
      const link = dir.children.get(name)
      if (link === undefined) throw errnoError('ENOENT', 'unlink', path)
      if (link.getNode().isDirectory()) throw errnoError('EISDIR', 'unlink', path)
      requireWritableDir(dir, 'unlink', path)
      dropName(dir, link)
    },

    async rmdir(path) {
      const { dir, name } = walkParent(path, 'rmdir')
      const link = dir.children.get(name)
      if (link === undefined) throw errnoError('ENOENT', 'rmdir', path)
      if (!link.getNode().isDirectory()) throw errnoError('ENOTDIR', 'rmdir', path)
      if (isMountPoint(pathOf(link))) throw errnoError('EBUSY', 'rmdir', path)
      if ([...link.children.keys()].some((k) => k !== '.' && k !== '..')) throw errnoError('ENOTEMPTY', 'rmdir', path)
      requireWritableDir(dir, 'rmdir', path)
      dropDir(dir, link)
    },

    async chmod(path, mode) {
      const node = walk(path, 'chmod', false).getNode()
      if (node.isSymlink()) throw errnoError('ENOTSUP', 'lchmod', path)
      if (!isRoot && node.uid !== uid) throw errnoError('EPERM', 'chmod', path)
      node.mode = (node.mode & S_IFMT) | (mode & 0o7777)
      node.ctime = new Date()
    },

    async lchown(path, newUid, newGid) {
      const node = walk(path, 'lchown', false).getNode()
      if (!isRoot && (newUid !== node.uid || newGid !== node.gid)) throw errnoError('EPERM', 'lchown', path)
      node.uid = newUid
      node.gid = newGid
      node.ctime = new Date()
    },

    async lutimes(path, atimeNs, mtimeNs) {
      const node = walk(path, 'lutimes', false).getNode()
      if (!isRoot && node.uid !== uid) throw errnoError('EPERM', 'lutimes', path)
      const ms = Number(mtimeNs / 1_000_000n) - (mtimeNs % 1_000_000n < 0n ? 1 : 0)
      node.atime = new Date(Number(atimeNs / 1_000_000n))
      node.mtime = new Date(ms)
      nsTable.set(node, { ms: node.mtime.getTime(), ns: mtimeNs })
    },

    xattr: {
      async list(path) {
        const node = walk(path, 'llistxattr', false).getNode()
        const table = xattrTable.get(node)
        if (!table) return []
        return [...table.keys()].filter((name) => xattrAllowed(node, name, false) === 'ok')
      },
      async get(path, name) {
        const node = walk(path, 'lgetxattr', false).getNode()
        checkXattrName(name, 'lgetxattr', path)
        const allowed = xattrAllowed(node, name, false)
        if (allowed === 'ENOTSUP') throw errnoError('ENOTSUP', 'lgetxattr', path)
        if (allowed !== 'ok') return undefined
        const value = xattrTable.get(node)?.get(name)
        return value === undefined ? undefined : value.slice()
      },
      async set(path, name, value) {
        const node = walk(path, 'lsetxattr', false).getNode()
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
        const node = walk(path, 'lremovexattr', false).getNode()
        checkXattrName(name, 'lremovexattr', path)
        const allowed = xattrAllowed(node, name, true)
        if (allowed !== 'ok') throw errnoError(allowed === 'hidden' ? 'EPERM' : allowed, 'lremovexattr', path)
        const table = xattrTable.get(node)
        if (!table?.delete(name)) throw errnoError('ENODATA', 'lremovexattr', path)
        node.ctime = new Date()
      },
    },

    async fsync(path) {
      const node = walk(path, 'open', false).getNode()
      if (node.isSymlink()) throw errnoError('ELOOP', 'open', path)
    },

    async fsType(path) {
      walk(path, 'statfs', true)
      const mount = mountContaining(mountTable, path)
      const name = mount?.fsType ?? 'memfs'
      const dtype = mount === undefined ? true : (dtypeByMount.get(mount.mountPoint) ?? true)
      return { magic: fsTypeMagic(name), name, dtype }
    },

    async mounts() {
      return mountTable.map((m) => ({ ...m, options: [...m.options], superOptions: [...m.superOptions] }))
    },

    async unmount(path, opts = {}) {
      const index = mountTable.map((m) => m.mountPoint).lastIndexOf(path)
      const entry = mountTable[index]
      if (entry === undefined || path === '/') throw errnoError('EINVAL', 'umount', path)
      const below = (m: MountEntry): boolean => m !== entry && m.mountPoint.startsWith(path === '/' ? '/' : `${path}/`)
      if (opts.detach) {
        mountTable = mountTable.filter((m) => m !== entry && !below(m))
        return
      }
      if (mountTable.some(below)) throw errnoError('EBUSY', 'umount', path)
      mountTable.splice(index, 1)
    },
  }
  return fs
}
