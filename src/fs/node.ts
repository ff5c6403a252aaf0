/**
 * The disk adapter: node:fs plus the calls Node 20 lacks (mknod, a chmod and
 * utimes that never follow symlinks, umount2) from the project's own N-API
 * addon, and xattrs from @napi-rs/xattr, which acts on a symlink itself.
 *
 * Metadata calls (lstat, readdir, readlink, xattrs) use the synchronous
 * node:fs functions behind the async port: a sequential `await fsp.lstat`
 * walk measured 10-25x slower than the sync call on the same tree, and a
 * walk awaits each step anyway. Bulk data goes through real streams.
 */
import * as fs from 'node:fs'
import { createRequire } from 'node:module'
import { isErrno, errnoError, LayerfsckError } from '../errors.js'
import { fsTypeName } from './fstype.js'
import { parseMountInfo } from './mountinfo.js'
import type { DirEntry, FsPort, FsTypeInfo, Inode, InodeKind, MountEntry, WriteHandle, WriteOptions } from './port.js'
import { kindFromMode, splitDev } from './port.js'

interface NativeAddon {
  mknod(path: string, mode: number, major: number, minor: number): void
  lchmod(path: string, mode: number): void
  umount(path: string, detach: boolean): void
  lutimes(path: string, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): void
  dtype(path: string): boolean
}

interface XattrModule {
  getAttributeSync(path: string, name: string): Buffer | null
  listAttributesSync(path: string): string[]
  setAttributeSync(path: string, name: string, value: Uint8Array): void
  removeAttributeSync(path: string, name: string): void
}

const require = createRequire(import.meta.url)
let native: NativeAddon | undefined
let nativeError: unknown

function loadNative(): NativeAddon {
  if (native) return native
  // src/fs/node.ts runs from the source tree under vitest and from dist/src/fs
  // once built; the addon sits in build/Release at the package root in both.
  for (const rel of ['../../build/Release/layerfsck_native.node', '../../../build/Release/layerfsck_native.node']) {
    try {
      native = require(rel) as NativeAddon
      return native
    } catch (err) {
      nativeError = err
    }
  }
  throw new LayerfsckError('NATIVE_MISSING', 'the native helper (mknod, lchmod, umount) is not built', {
    hint: 'run `npm rebuild layerfsck` (or `npm ci` in a checkout); it needs make, g++ and the Node headers',
    cause: nativeError,
  })
}

let xattrModule: XattrModule | undefined
function xattrs(): XattrModule {
  xattrModule ??= require('@napi-rs/xattr') as XattrModule
  return xattrModule
}

const ERRNO_BY_NUMBER = new Map<number, string>(
  Object.entries(require('node:os').constants.errno as Record<string, number>).map(([name, n]) => [n, name]),
)

/** @napi-rs/xattr reports `GenericFailure` with "(os error N)" in the message; turn it back into errno form. */
function xattrError(err: unknown, syscall: string, path: string): unknown {
  const m = err instanceof Error ? /\(os error (\d+)\)/.exec(err.message) : null
  if (!m) return err
  const code = ERRNO_BY_NUMBER.get(Number(m[1])) ?? 'EIO'
  return errnoError(code === 'EOPNOTSUPP' ? 'ENOTSUP' : code, syscall, path)
}

function direntKind(d: fs.Dirent, path: string): InodeKind {
  if (d.isFile()) return 'file'
  if (d.isDirectory()) return 'dir'
  if (d.isSymbolicLink()) return 'symlink'
  if (d.isCharacterDevice()) return 'char'
  if (d.isBlockDevice()) return 'block'
  if (d.isFIFO()) return 'fifo'
  if (d.isSocket()) return 'socket'
  // DT_UNKNOWN (filesystems without d_type): the only case that costs an lstat.
  const st = fs.lstatSync(`${path}/${d.name}`)
  return kindFromMode(st.mode) ?? 'file'
}

function toInode(st: fs.BigIntStats): Inode {
  return {
    kind: kindFromMode(Number(st.mode)) ?? 'file',
    mode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    nlink: Number(st.nlink),
    dev: splitDev(st.dev),
    ino: st.ino,
    rdev: splitDev(st.rdev),
    mtimeNs: st.mtimeNs,
  }
}

class NodeWriteHandle implements WriteHandle {
  constructor(private readonly handle: fs.promises.FileHandle) {}
  async write(chunk: Uint8Array): Promise<void> {
    let off = 0
    while (off < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, off, chunk.length - off)
      off += bytesWritten
    }
  }
  async sync(): Promise<void> {
    await this.handle.sync()
  }
  async close(): Promise<void> {
    await this.handle.close()
  }
}

const { O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_EXCL, O_NOFOLLOW } = fs.constants

export interface NodeFsOptions {
  /** Where to read the mount table; tests point it at a file of their own. */
  mountInfoPath?: string
}

export function createNodeFs(options: NodeFsOptions = {}): FsPort {
  const mountInfoPath = options.mountInfoPath ?? '/proc/self/mountinfo'
  return {
    kind: 'disk',

    async lstat(path) {
      const st = fs.lstatSync(path, { bigint: true, throwIfNoEntry: false })
      return st === undefined ? undefined : toInode(st)
    },

    async readdir(path) {
      // readdir(3) follows a symlink; the port never does. One lstat per
      // directory (about 1% of a layer's entries) keeps the walk in the store.
      if (fs.lstatSync(path).isSymbolicLink()) throw errnoError('ELOOP', 'scandir', path)
      const out: DirEntry[] = []
      for (const d of fs.readdirSync(path, { withFileTypes: true })) out.push({ name: d.name, kind: direntKind(d, path) })
      return out
    },

    async readlink(path) {
      return fs.readlinkSync(path)
    },

    async realpath(path) {
      return fs.realpathSync(path)
    },

    async openRead(path) {
      const fd = fs.openSync(path, O_RDONLY | O_NOFOLLOW)
      try {
        if (fs.fstatSync(fd).isDirectory()) throw errnoError('EISDIR', 'open', path)
      } catch (err) {
        fs.closeSync(fd)
        throw err
      }
      return fs.createReadStream('', { fd, autoClose: true, highWaterMark: 256 * 1024 })
    },

    async openWrite(path, opts: WriteOptions = {}) {
      const flags = O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | (opts.exclusive ? O_EXCL : 0)
      return new NodeWriteHandle(await fs.promises.open(path, flags, opts.mode ?? 0o666))
    },

    async mkdir(path, mode = 0o777) {
      fs.mkdirSync(path, { mode })
    },

    async mknod(path, kind, mode, rdev = { major: 0, minor: 0 }) {
      const type = kind === 'char' ? 0o020000 : kind === 'block' ? 0o060000 : 0o010000
      loadNative().mknod(path, type | (mode & 0o7777), rdev.major, rdev.minor)
    },

    async symlink(target, path) {
      fs.symlinkSync(target, path)
    },

    async link(existing, path) {
      fs.linkSync(existing, path)
    },

    async rename(from, to) {
      fs.renameSync(from, to)
    },

    async unlink(path) {
      fs.unlinkSync(path)
    },

    async rmdir(path) {
      fs.rmdirSync(path)
    },

    async chmod(path, mode) {
      loadNative().lchmod(path, mode & 0o7777)
    },

    async lchown(path, uid, gid) {
      fs.lchownSync(path, uid, gid)
    },

    async lutimes(path, atimeNs, mtimeNs) {
      const split = (ns: bigint): [number, number] => {
        let sec = ns / 1_000_000_000n
        let nsec = ns % 1_000_000_000n
        if (nsec < 0n) {
          sec -= 1n
          nsec += 1_000_000_000n
        }
        return [Number(sec), Number(nsec)]
      }
      loadNative().lutimes(path, ...split(atimeNs), ...split(mtimeNs))
    },

    xattr: {
      async list(path) {
        try {
          return xattrs().listAttributesSync(path)
        } catch (err) {
          throw xattrError(err, 'llistxattr', path)
        }
      },
      async get(path, name) {
        let value: Buffer | null
        try {
          value = xattrs().getAttributeSync(path, name)
        } catch (err) {
          throw xattrError(err, 'lgetxattr', path)
        }
        if (value !== null) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
        // The library answers null for a missing path as well as for a missing
        // attribute; only the rare null case pays for telling them apart.
        if (fs.lstatSync(path, { throwIfNoEntry: false }) === undefined) throw errnoError('ENOENT', 'lgetxattr', path)
        return undefined
      },
      async set(path, name, value) {
        try {
          xattrs().setAttributeSync(path, name, value)
        } catch (err) {
          throw xattrError(err, 'lsetxattr', path)
        }
      },
      async remove(path, name) {
        try {
          xattrs().removeAttributeSync(path, name)
        } catch (err) {
          throw xattrError(err, 'lremovexattr', path)
        }
      },
    },

    async fsync(path) {
      const fd = fs.openSync(path, O_RDONLY | O_NOFOLLOW)
      try {
        fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
      }
    },

    async fsType(path): Promise<FsTypeInfo> {
      const magic = fs.statfsSync(path).type
      const isDir = fs.lstatSync(path).isDirectory()
      return { magic, name: fsTypeName(magic), dtype: isDir ? loadNative().dtype(path) : true }
    },

    async mounts(): Promise<MountEntry[]> {
      try {
        return parseMountInfo(fs.readFileSync(mountInfoPath, 'utf8'))
      } catch (err) {
        if (isErrno(err, 'ENOENT')) return []
        throw err
      }
    },

    async unmount(path, opts = {}) {
      loadNative().umount(path, opts.detach === true)
    },
  }
}

/**
 * Temp dirs for the disk side of tests and the demo. Lives here because it is
 * the one other place that needs node:fs; the port has no "make a unique
 * name" call on purpose (stores get names they choose themselves).
 */
export function makeTempDir(prefix: string): string {
  const base = process.env['TMPDIR'] ?? '/tmp'
  return fs.mkdtempSync(`${base.replace(/\/$/, '')}/${prefix}`)
}

/** Removes a temp tree made by makeTempDir; callers unmount anything they mounted inside it first. */
export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true })
}
