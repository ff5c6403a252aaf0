/**
 * The disk adapter: node:fs plus the calls Node 20 lacks (mknod, a chmod and
 * utimes that never follow symlinks, umount2, the l*xattr calls, syncfs,
 * flock) from the project's own N-API addon.
 *
 * Names are bytes: a path whose string holds an escaped byte (a lone
 * surrogate, see name-bytes.ts) goes to the kernel as a Buffer of its exact
 * bytes, and directory entries, link targets, real paths and xattr names
 * come back decoded losslessly. Plain text stays a string both ways, which
 * is node:fs's fast path: a listing is read as bytes only when Node's own
 * decoding shows it replaced something.
 *
 * Metadata calls (lstat, readdir, readlink, xattrs) use the synchronous
 * node:fs functions behind the async port: a sequential `await fsp.lstat`
 * walk measured 10-25x slower than the sync call on the same tree, and a
 * walk awaits each step anyway. The exceptions are the walks that look at
 * every entry (listTree, inspect): one native job per directory or part of a
 * tree, on the threadpool, so the walk's caller works while the next is read;
 * and linkNames, a directory's hard links in one native job.
 * Bulk data goes through real streams.
 */
import * as fs from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { Readable } from 'node:stream'
import { getSystemErrorName } from 'node:util'
import { isErrno, errnoError, LayerfsckError } from '../errors.js'
import { fsTypeName } from './fstype.js'
import { parseMountInfo } from './mountinfo.js'
import { decodeName, encodeName, escapeName } from './name-bytes.js'
import type { Credentials, DevNo, DirEntry, FsPort, FsTypeInfo, Inode, InodeKind, Inspected, ListedDir, MountEntry, TreeListing, TryLockResult, WriteHandle, WriteOptions } from './port.js'
import { inspectLimits, isEntryName, kindFromMode } from './port.js'

type PathArg = string | Buffer

/** The addon layout this code reads (LAYERFSCK_NATIVE_ABI in layerfsck_native.c). */
const NATIVE_ABI = 2

/** An addon that is there but not the one this code was built with: rebuilding it is the cure. */
const nativeStale = (message: string): LayerfsckError =>
  new LayerfsckError('NATIVE_STALE', message, { hint: 'run `npm rebuild layerfsck` (or `npm ci` in a checkout) to build it again' })

interface NativeAddon {
  /** LAYERFSCK_NATIVE_ABI of the build; absent before there was one. */
  abi?: number
  mknod(path: PathArg, mode: number, major: number, minor: number): void
  lchmod(path: PathArg, mode: number): void
  umount(path: PathArg, detach: boolean): void
  lutimes(path: PathArg, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): void
  dtype(path: PathArg): boolean
  /** A directory's entries as `<'@' + d_type><name>\0` records (a device's followed by `major:minor\0`); ELOOP on a symlink. */
  readdir(path: PathArg): Buffer
  /** Fills numbers and bigs (see the C source); false when nothing is there. */
  lstat(path: PathArg, numbers: Float64Array, bigs: BigInt64Array): boolean
  /** Sections of a tree's listing, read on the threadpool (see the C source). */
  listTreeAsync(root: PathArg, from: PathArg[], maxEntries: number, skipPlain: boolean, inodes: boolean): Promise<Buffer>
  /** What inspect asks of names in dir (a Buffer of NUL-ended names), read on the threadpool (see the C source). */
  inspectAsync(dir: PathArg, names: Buffer, xattrs: boolean, readUpTo: number, readlinks: boolean, maxBytes: number): Promise<ArrayBuffer>
  /** linkat of each name (a Buffer of NUL-ended names) from one directory to the other on the threadpool: an int32 per name, 0 or its errno. */
  linkNamesAsync(fromDir: PathArg, toDir: PathArg, names: Buffer): Promise<ArrayBuffer>
  /** undefined on ENODATA. */
  lgetxattr(path: PathArg, name: PathArg): Buffer | undefined
  /** The names, each ended by a NUL. */
  llistxattr(path: PathArg): Buffer
  lsetxattr(path: PathArg, name: PathArg, value: Uint8Array): void
  lremovexattr(path: PathArg, name: PathArg): void
  /** syncfs(2) on the threadpool: a syncfs waits for the disk, and the main thread has other work meanwhile. */
  syncfsAsync(path: PathArg): Promise<void>
  /** The descriptor holding the lock, or -1 when another open file holds a conflicting one. */
  flock(path: PathArg, exclusive: boolean, create: boolean): number
}

const require = createRequire(import.meta.url)
let native: NativeAddon | undefined
let nativeError: unknown

/** Files up to this size are read in one call when opened (see openRead). */
const SMALL_FILE = 64 * 1024

/**
 * The package root, from where this module runs: src/fs/node.ts under
 * vitest, dist/src/fs/node.js once built, dist/cli.cjs in the CLI's bundle.
 * The addon is loaded from that root only, by absolute path: never from a
 * directory above the package, where anyone could have put a file by that name.
 */
function packageRoot(): string | undefined {
  const here = fileURLToPath(import.meta.url)
  for (const tail of ['/src/fs/node.ts', '/dist/src/fs/node.js', '/dist/cli.cjs']) if (here.endsWith(tail)) return here.slice(0, -tail.length)
  return undefined
}

function loadNative(): NativeAddon {
  if (native) return native
  const root = packageRoot()
  try {
    if (root === undefined) throw new Error(`cannot tell the package root from ${import.meta.url}`)
    const loaded = require(`${root}/build/Release/layerfsck_native.node`) as NativeAddon
    // An addon built from older sources would take today's calls and answer in yesterday's layout.
    if (loaded.abi !== NATIVE_ABI) {
      throw nativeStale(`the native helper was built from other sources than this layerfsck (layout ${loaded.abi ?? 1}, this code reads ${NATIVE_ABI})`)
    }
    native = loaded
    return native
  } catch (err) {
    if (err instanceof LayerfsckError) throw err
    nativeError = err
  }
  throw new LayerfsckError('NATIVE_MISSING', 'the native helper (mknod, lchmod, umount, xattrs, flock) is not built', {
    hint: 'run `npm rebuild layerfsck` (or `npm ci` in a checkout); it needs make, a C compiler and the Node headers',
    cause: nativeError,
  })
}

/** Any surrogate: only such a string can hold an escaped byte, so only it pays for encoding. */
const SURROGATE = /[\ud800-\udfff]/

/**
 * Runs a call on the exact bytes of its paths. When a path holds escaped
 * bytes, node:fs and the addon see a Buffer, and their error (whose `path`
 * they decode lossily) gets the port's string back, escaped in the message.
 */
function onDisk<T>(path: string, call: (p: PathArg) => T): T {
  if (!SURROGATE.test(path)) return call(path)
  const bytes = encodeName(path)
  try {
    return call(bytes)
  } catch (err) {
    throw restorePaths(err, [[bytes, path, 'path']])
  }
}

async function onDiskAsync<T>(path: string, call: (p: PathArg) => Promise<T>): Promise<T> {
  if (!SURROGATE.test(path)) return call(path)
  const bytes = encodeName(path)
  try {
    return await call(bytes)
  } catch (err) {
    throw restorePaths(err, [[bytes, path, 'path']])
  }
}

/**
 * onDiskAsync for a call on two directories, whose error names the one it
 * could not open as `path`: that one gets its string back.
 */
async function onDiskAsync2<T>(a: string, b: string, call: (a: PathArg, b: PathArg) => Promise<T>): Promise<T> {
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return call(a, b)
  const ab = encodeName(a)
  const bb = encodeName(b)
  try {
    return await call(ab, bb)
  } catch (err) {
    const first = isErrno(err) && err.path === ab.toString('utf8')
    throw restorePaths(err, [first ? [ab, a, 'path'] : [bb, b, 'path']])
  }
}

function onDisk2<T>(a: string, b: string, call: (a: PathArg, b: PathArg) => T): T {
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return call(a, b)
  const ab = encodeName(a)
  const bb = encodeName(b)
  try {
    return call(ab, bb)
  } catch (err) {
    throw restorePaths(err, [
      [ab, a, 'path'],
      [bb, b, 'dest'],
    ])
  }
}

function restorePaths(err: unknown, paths: [Buffer, string, 'path' | 'dest'][]): unknown {
  if (!isErrno(err)) return err
  for (const [bytes, path, key] of paths) {
    if (err[key] === undefined) continue
    const lossy = `'${bytes.toString('utf8')}'`
    const at = err.message.lastIndexOf(lossy)
    if (at !== -1) err.message = `${err.message.slice(0, at)}'${escapeName(path)}'${err.message.slice(at + lossy.length)}`
    err[key] = path
  }
  return err
}

/** An xattr name as the kernel takes it. */
const xattrName = (name: string): PathArg => (SURROGATE.test(name) ? encodeName(name) : name)

/** d_type (DT_FIFO 1 … DT_SOCK 12) as the port names it; 0 is DT_UNKNOWN. */
const DT_KIND: (InodeKind | undefined)[] = [undefined, 'fifo', 'char', undefined, 'dir', undefined, 'block', undefined, 'file', undefined, 'symlink', undefined, 'socket']

/**
 * Reads the native helper's NUL-ended fields. The whole buffer is decoded as
 * UTF-8 in one go; only a buffer where that gave a U+FFFD (a name that is not
 * UTF-8, or a real U+FFFD) is read again field by field from its bytes, so a
 * name is never decoded lossily.
 */
class Fields {
  private readonly text: string
  private readonly lossless: boolean
  private at = 0
  constructor(private readonly raw: Buffer) {
    this.text = raw.toString('utf8')
    this.lossless = !this.text.includes('\ufffd')
  }
  get done(): boolean {
    return this.at >= (this.lossless ? this.text.length : this.raw.length)
  }
  /** The first byte of the next field (a record's type or a section's mark). */
  peek(): number {
    return this.lossless ? this.text.charCodeAt(this.at) : this.raw[this.at]!
  }
  /** The next field from `skip` bytes into it (past a type or mark byte). */
  next(skip = 0): string {
    const end = this.lossless ? this.text.indexOf('\0', this.at) : this.raw.indexOf(0, this.at)
    // Every field ends with a NUL; one that does not is an answer read in the wrong layout, never a short name.
    if (end < 0) throw nativeStale('the native helper answered in a layout this layerfsck does not read')
    const field = this.lossless ? this.text.slice(this.at + skip, end) : decodeName(this.raw.subarray(this.at + skip, end))
    this.at = end + 1
    return field
  }
}

/** Record types are '@' + d_type; section marks of a tree listing are below '@'. */
const RECORD = 64
const DT_CHR = RECORD + 2
const DT_BLK = RECORD + 6
const SECTION_DIR = 1
const SECTION_ERRNO = 2

/** One directory's records (`<'@' + d_type><name>\0`, a device's followed by `major:minor\0`) as port entries. */
function readEntries(f: Fields, dir: string, inodes = false): DirEntry[] {
  const out: DirEntry[] = []
  while (!f.done && f.peek() >= RECORD) {
    const code = f.peek()
    const name = f.next(1)
    const kind = DT_KIND[code - RECORD] ?? unknownKind(dir, name)
    let e: DirEntry = { name, kind }
    if (code === DT_CHR || code === DT_BLK) {
      const number = f.next()
      const colon = number.indexOf(':')
      if (colon !== -1) e = { name, kind, rdev: { major: Number(number.slice(0, colon)), minor: Number(number.slice(colon + 1)) } }
    }
    if (inodes) {
      const ino = f.next()
      if (ino !== '') e.ino = Number(ino)
    }
    out.push(e)
  }
  return out
}

/** The native listTree's sections (see layerfsck_native.c) as a port TreeListing. */
function treeListingOf(raw: Buffer, root: string, inodes: boolean): TreeListing {
  const f = new Fields(raw)
  const dirs: ListedDir[] = []
  const pending: string[] = []
  while (!f.done) {
    const mark = f.peek()
    const rel = f.next(1)
    if (mark === SECTION_DIR) {
      const count = Number(f.next())
      dirs.push({ rel, count, entries: readEntries(f, rel === '' ? root : `${root}/${rel}`, inodes) })
    }
    else if (mark === SECTION_ERRNO) dirs.push({ rel, errno: f.next() })
    else pending.push(rel)
  }
  return { dirs, pending }
}

/** DT_UNKNOWN (filesystems without d_type): the only case that costs an lstat. */
function unknownKind(dir: string, name: string): InodeKind {
  const path = dir === '/' ? `/${name}` : `${dir}/${name}`
  const st = lstatInode(path)
  if (st === undefined) throw errnoError('ENOENT', 'lstat', path)
  return st.kind
}

/** Where the native lstat writes its numbers: reused, so a stat makes no object but the Inode. */
const STAT_NUMBERS = new Float64Array(10)
const STAT_BIGS = new BigInt64Array(2)

/**
 * lstat as the port's Inode, or undefined when nothing is there (ENOENT).
 * Through the native helper: node's bigint lstat builds a Stats
 * object of 4 dates and 16 BigInts for every call, a third of a stat's cost.
 */
function lstatInode(path: string): Inode | undefined {
  if (!onDisk(path, (p) => loadNative().lstat(p, STAT_NUMBERS, STAT_BIGS))) return undefined
  return inodeOf(STAT_NUMBERS, 0, STAT_BIGS, 0)
}

/**
 * The native helper's stat as the port's Inode. Its lstat and each name of
 * its inspect answer lay one out alike (see layerfsck_native.c): st_mode,
 * uid, gid, size, blocks, nlink, dev major and minor, rdev major and minor
 * as numbers from `n[at]`, then st_ino and the mtime in ns from `big[bigAt]`.
 */
function inodeOf(n: Float64Array, at: number, big: BigInt64Array, bigAt: number): Inode {
  const mode = n[at]!
  const ino = big[bigAt]!
  return {
    kind: kindFromMode(mode) ?? 'file',
    mode: mode & 0o7777,
    uid: n[at + 1]!,
    gid: n[at + 2]!,
    size: n[at + 3]!,
    blocks: n[at + 4]!,
    nlink: n[at + 5]!,
    dev: sameDev.of(n[at + 6]!, n[at + 7]!),
    // st_ino is unsigned; the array is signed for the mtime's sake (an inode number past 2^63 reads negative).
    ino: ino < 0n ? BigInt.asUintN(64, ino) : ino,
    rdev: sameRdev.of(n[at + 8]!, n[at + 9]!),
    mtimeNs: big[bigAt + 1]!,
  }
}

/**
 * A device number as the port's DevNo, the same object as the one before
 * when the number is: the entries of one inspect answer nearly all live on
 * one filesystem and are no device (rdev 0:0), and two objects per entry
 * were a sixth of what a comparison of 50k entries allocated. Each is
 * frozen: one object stands for many inodes, so no caller may change it.
 */
class LastDevNo {
  private last: DevNo = Object.freeze({ major: 0, minor: 0 })
  of(major: number, minor: number): DevNo {
    const l = this.last
    return l.major === major && l.minor === minor ? l : (this.last = Object.freeze({ major, minor }))
  }
}
const sameDev = new LastDevNo()
const sameRdev = new LastDevNo()

/** Slots per name in the native inspect's answer (see layerfsck_native.c). */
const INSPECT_SLOTS = 16

/**
 * The names for the native inspect and linkNames, each ended by a NUL: one
 * encode of the joined text unless a name holds an escaped byte. A name the
 * native side must refuse goes as '/', which it answers EINVAL, as the port
 * does: a NUL inside one would split it into two.
 */
function entryNames(names: readonly string[]): Buffer {
  if (names.length === 0) return Buffer.alloc(0)
  const valid = names.every(isEntryName) ? names : names.map((n) => (isEntryName(n) ? n : '/'))
  const joined = `${valid.join('\0')}\0`
  if (!SURROGATE.test(joined)) return Buffer.from(joined, 'utf8')
  return Buffer.concat(valid.flatMap((n) => [encodeName(n), NUL]))
}
const NUL = Buffer.of(0)

/** NUL-ended names (llistxattr's list) as strings, each decoded losslessly. */
function splitNames(raw: Buffer, start: number, end: number): string[] {
  const names: string[] = []
  let from = start
  for (let i = start; i < end; i++) {
    if (raw[i] !== 0) continue
    if (i > from) names.push(decodeName(raw.subarray(from, i)))
    from = i + 1
  }
  return names
}

/** The native inspect's answer (numbers in slots, then each name's bytes) as the port's answers. */
function inspectedOf(raw: ArrayBuffer): Inspected[] {
  const done = new Float64Array(raw, 0, 1)[0]!
  const n = new Float64Array(raw, 8, done * INSPECT_SLOTS)
  const big = new BigInt64Array(raw, 8, done * INSPECT_SLOTS)
  const bytes = Buffer.from(raw)
  let at = 8 + done * INSPECT_SLOTS * 8
  const out: Inspected[] = []
  for (let i = 0, o = 0; i < done; i++, o += INSPECT_SLOTS) {
    const r: Inspected = {}
    // Slot 0 is -1 when the lstat failed.
    if (n[o]! >= 0) r.inode = inodeOf(n, o, big, o + 10)
    const xattrs = n[o + 12]!
    if (xattrs >= 0) {
      r.xattrNames = xattrs === 0 ? [] : splitNames(bytes, at, at + xattrs)
      at += xattrs
    }
    const body = n[o + 13]!
    if (body >= 0) {
      r.bytes = bytes.subarray(at, at + body)
      at += body
    }
    const link = n[o + 14]!
    if (link >= 0) {
      r.linkname = decodeName(bytes.subarray(at, at + link))
      at += link
    }
    const error = n[o + 15]!
    if (error > 0) {
      const text = bytes.toString('latin1', at, at + error)
      const space = text.indexOf(' ')
      r.errno = text.slice(0, space)
      r.syscall = text.slice(space + 1)
      at += error
    }
    out.push(r)
  }
  return out
}

/**
 * Writes on the descriptor synchronously: every caller awaits each write
 * before the next, so the threadpool bought no overlap, only a round trip
 * per call (an import spent most of its time idle between them).
 */
class NodeWriteHandle implements WriteHandle {
  private closed = false
  constructor(
    private readonly fd: number,
    private readonly path: string,
  ) {}
  async write(chunk: Uint8Array): Promise<void> {
    // A closed descriptor's number may already be another file's.
    if (this.closed) throw errnoError('EBADF', 'write', this.path)
    let off = 0
    while (off < chunk.length) off += onDisk(this.path, () => fs.writeSync(this.fd, chunk, off, chunk.length - off))
  }
  async sync(): Promise<void> {
    if (this.closed) throw errnoError('EBADF', 'fsync', this.path)
    onDisk(this.path, () => fs.fsyncSync(this.fd))
  }
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    onDisk(this.path, () => fs.closeSync(this.fd))
  }
}

// libuv adds O_CLOEXEC to every open.
const { O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_EXCL, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = fs.constants

const SPECIAL: ReadonlySet<InodeKind> = new Set(['char', 'block', 'fifo', 'socket'])

/** Capability bits of CapEff in /proc/<pid>/status (linux/capability.h). */
const CAP_SYS_ADMIN = 21n
const CAP_MKNOD = 27n

export interface NodeFsOptions {
  /** Where to read the mount table; tests point it at a file of their own. */
  mountInfoPath?: string
  /** Where to read flock holders; tests point it at a file of their own. */
  locksPath?: string
}

/**
 * Pids holding a flock on the inode, from /proc/locks lines such as
 * `3: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF` (device numbers in hex).
 * Waiters (`->`) hold nothing and are left out.
 */
export function flockHolders(procLocks: string, inode: Pick<Inode, 'dev' | 'ino'>): number[] {
  const holders = new Set<number>()
  for (const line of procLocks.split('\n')) {
    const m = /^\d+:\s+FLOCK\s+\S+\s+(?:READ|WRITE)\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/i.exec(line)
    if (!m) continue
    const pid = Number(m[1])
    if (pid <= 0) continue // a holder in a pid namespace this process cannot see
    if (Number.parseInt(m[2]!, 16) === inode.dev.major && Number.parseInt(m[3]!, 16) === inode.dev.minor && BigInt(m[4]!) === inode.ino) {
      holders.add(pid)
    }
  }
  return [...holders].sort((a, b) => a - b)
}

export function createNodeFs(options: NodeFsOptions = {}): FsPort {
  const mountInfoPath = options.mountInfoPath ?? '/proc/self/mountinfo'
  const locksPath = options.locksPath ?? '/proc/locks'

  const port: FsPort = {
    kind: 'disk',

    async lstat(path) {
      return lstatInode(path)
    },

    async readdir(path) {
      return onDisk(path, (p) => readEntries(new Fields(loadNative().readdir(p)), path))
    },
    async listTree(root, from, maxEntries, options = {}) {
      const rels = from.map((rel) => (SURROGATE.test(rel) ? encodeName(rel) : rel))
      const inodes = options.inodes === true
      return treeListingOf(await onDiskAsync(root, (p) => loadNative().listTreeAsync(p, rels, maxEntries, options.skipPlainFiles === true, inodes)), root, inodes)
    },

    async inspect(dir, names, options = {}) {
      const { readUpTo, maxBytes } = inspectLimits(options)
      const list = entryNames(names)
      const raw = await onDiskAsync(dir, (p) => loadNative().inspectAsync(p, list, options.xattrNames === true, readUpTo, options.readlinks === true, maxBytes))
      return inspectedOf(raw)
    },

    async readlink(path) {
      const text = onDisk(path, (p) => fs.readlinkSync(p))
      if (!text.includes('\ufffd')) return text
      return decodeName(onDisk(path, (p) => fs.readlinkSync(p, { encoding: 'buffer' })))
    },

    async realpath(path) {
      // The native realpath(3): the JS one works on strings and would decode lossily.
      return decodeName(onDisk(path, (p) => fs.realpathSync.native(p, { encoding: 'buffer' })))
    },

    async openRead(path) {
      // Decided from lstat before any open: opening a device can act on it
      // (a tape rewinds) and a fifo open blocks until a writer comes.
      const st = lstatInode(path)
      if (st === undefined) throw errnoError('ENOENT', 'open', path)
      if (st.kind === 'dir') throw errnoError('EISDIR', 'open', path)
      if (st.kind === 'symlink') throw errnoError('ELOOP', 'open', path)
      if (st.kind !== 'file') throw errnoError('ENXIO', 'open', path)
      const fd = onDisk(path, (p) => fs.openSync(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK))
      let size: number
      try {
        // Whatever is there now (it may have been swapped since the lstat) must still be a regular file.
        const now = fs.fstatSync(fd)
        if (now.isDirectory()) throw errnoError('EISDIR', 'open', path)
        if (!now.isFile()) throw errnoError('ENXIO', 'open', path)
        size = now.size
      } catch (err) {
        fs.closeSync(fd)
        throw err
      }
      // Most files of a layer (and every metadata file) are small: one read(2) and close(2) here, then a stream
      // of that one chunk, instead of a read stream's threadpool round trips and buffer per file.
      // procfs and sysfs files say 0 bytes whatever they hold (/proc/filesystems, a process's comm): they are
      // read the same way, up to SMALL_FILE, where a short read is not their end.
      const generated = size === 0
      if (size <= SMALL_FILE) {
        const room = generated ? SMALL_FILE : size + 1
        let buf = Buffer.allocUnsafe(generated ? 4096 : room)
        let got = 0
        try {
          // A short read of a regular file is its end: one read(2) for a file that did not change.
          for (;;) {
            if (got === buf.length && buf.length < room) buf = Buffer.concat([buf], Math.min(room, buf.length * 4))
            const want = buf.length - got
            const n = fs.readSync(fd, buf, got, want, got)
            got += n
            if (n === 0 || got === room || (!generated && n < want)) break
          }
        } catch (err) {
          fs.closeSync(fd)
          throw err
        }
        // Grown since the fstat (or a generated file larger than SMALL_FILE): read it whole as a stream, as a large file is.
        if (got < room) {
          fs.closeSync(fd)
          return Readable.from([buf.subarray(0, got)], { objectMode: false })
        }
      }
      return fs.createReadStream('', { fd, autoClose: true, highWaterMark: 256 * 1024, start: 0 })
    },

    async openWrite(path, opts: WriteOptions = {}) {
      // O_NONBLOCK: a fifo planted where a file is expected fails (ENXIO) instead of hanging the open.
      const flags =
        O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | (opts.append ? O_APPEND : O_TRUNC) | (opts.exclusive ? O_EXCL : 0)
      const fd = onDisk(path, (p) => fs.openSync(p, flags, opts.mode ?? 0o666))
      if (!opts.exclusive) {
        const st = fs.fstatSync(fd)
        if (!st.isFile()) {
          fs.closeSync(fd)
          throw errnoError(st.isDirectory() ? 'EISDIR' : 'ENXIO', 'open', path)
        }
      }
      return new NodeWriteHandle(fd, path)
    },

    async mkdir(path, mode = 0o777) {
      onDisk(path, (p) => fs.mkdirSync(p, { mode }))
    },

    async mknod(path, kind, mode, rdev = { major: 0, minor: 0 }) {
      const type = kind === 'char' ? 0o020000 : kind === 'block' ? 0o060000 : 0o010000
      onDisk(path, (p) => loadNative().mknod(p, type | (mode & 0o7777), rdev.major, rdev.minor))
    },

    async symlink(target, path) {
      onDisk2(target, path, (t, p) => fs.symlinkSync(t, p))
    },

    async link(existing, path) {
      onDisk2(existing, path, (e, p) => fs.linkSync(e, p))
    },

    async linkNames(fromDir, toDir, names) {
      const list = entryNames(names)
      const answers = new Int32Array(await onDiskAsync2(fromDir, toDir, (f, t) => loadNative().linkNamesAsync(f, t, list)))
      return Array.from(answers, (e) => (e === 0 ? undefined : getSystemErrorName(-e)))
    },

    async rename(from, to) {
      onDisk2(from, to, (f, t) => fs.renameSync(f, t))
    },

    async unlink(path) {
      onDisk(path, (p) => fs.unlinkSync(p))
    },

    async rmdir(path) {
      onDisk(path, (p) => fs.rmdirSync(p))
    },

    async chmod(path, mode) {
      onDisk(path, (p) => loadNative().lchmod(p, mode & 0o7777))
    },

    async lchown(path, uid, gid) {
      onDisk(path, (p) => fs.lchownSync(p, uid, gid))
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
      onDisk(path, (p) => loadNative().lutimes(p, ...split(atimeNs), ...split(mtimeNs)))
    },

    xattr: {
      async list(path) {
        const raw = onDisk(path, (p) => loadNative().llistxattr(p))
        return splitNames(raw, 0, raw.length)
      },
      async get(path, name) {
        const value = onDisk(path, (p) => loadNative().lgetxattr(p, xattrName(name)))
        return value === undefined ? undefined : new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
      },
      async set(path, name, value) {
        onDisk(path, (p) => loadNative().lsetxattr(p, xattrName(name), value))
      },
      async remove(path, name) {
        onDisk(path, (p) => loadNative().lremovexattr(p, xattrName(name)))
      },
    },

    async fsync(path) {
      const st = lstatInode(path)
      if (st === undefined) throw errnoError('ENOENT', 'fsync', path)
      // A device, fifo or socket keeps no data in its inode; opening one could act on it or block.
      if (SPECIAL.has(st.kind)) return
      const fd = onDisk(path, (p) => fs.openSync(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK))
      try {
        fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
      }
    },

    async syncfs(path) {
      const st = lstatInode(path)
      if (st === undefined) throw errnoError('ENOENT', 'syncfs', path)
      // Any file or directory names the filesystem; for anything else its directory does, unopened.
      const at = st.kind === 'file' || st.kind === 'dir' ? path : path.slice(0, path.lastIndexOf('/')) || '/'
      await onDiskAsync(at, (p) => loadNative().syncfsAsync(p))
    },

    async tryLock(path, mode, lockOptions = {}): Promise<TryLockResult> {
      const st = lstatInode(path)
      // A fifo, device or socket is refused before the open; the addon checks again on the open file.
      if (st !== undefined && st.kind !== 'file') throw errnoError(st.kind === 'dir' ? 'EISDIR' : st.kind === 'symlink' ? 'ELOOP' : 'ENXIO', 'open', path)
      const fd = onDisk(path, (p) => loadNative().flock(p, mode === 'exclusive', lockOptions.create === true))
      if (fd < 0) {
        const held = lstatInode(path)
        let holders: number[] = []
        if (held !== undefined) {
          try {
            holders = flockHolders(fs.readFileSync(locksPath, 'latin1'), held)
          } catch {
            // No /proc/locks (not Linux, or /proc not mounted): the holders stay unknown.
          }
        }
        return { ok: false, holders }
      }
      let open = true
      return {
        ok: true,
        lock: {
          mode,
          async release() {
            if (!open) return
            open = false
            fs.closeSync(fd)
          },
        },
      }
    },

    async credentials(): Promise<Credentials> {
      const uid = process.getuid?.() ?? -1
      const gid = process.getgid?.() ?? -1
      let capEff: bigint | undefined
      try {
        const m = /^CapEff:\s*([0-9a-f]+)$/im.exec(fs.readFileSync('/proc/self/status', 'latin1'))
        if (m) capEff = BigInt(`0x${m[1]}`)
      } catch {
        // No /proc: root is assumed to hold every capability, as without capabilities it does.
      }
      const has = (bit: bigint): boolean => (capEff === undefined ? uid === 0 : ((capEff >> bit) & 1n) === 1n)
      return { uid, gid, capSysAdmin: has(CAP_SYS_ADMIN), capMknod: has(CAP_MKNOD) }
    },

    async fsType(path): Promise<FsTypeInfo> {
      const st = onDisk(path, (p) => fs.statfsSync(p))
      const magic = st.type
      const isDir = lstatInode(path)?.kind === 'dir'
      return {
        magic,
        name: fsTypeName(magic),
        dtype: isDir ? onDisk(path, (p) => loadNative().dtype(p)) : true,
        free: { bytes: Number(st.bavail) * Number(st.bsize), inodes: Number(st.ffree) },
      }
    },

    async mounts(): Promise<MountEntry[]> {
      try {
        // Mount points are bytes too; the kernel escapes only space, tab, newline and backslash.
        return parseMountInfo(decodeName(fs.readFileSync(mountInfoPath)))
      } catch (err) {
        if (isErrno(err, 'ENOENT')) return []
        throw err
      }
    },

    async unmount(path, opts = {}) {
      onDisk(path, (p) => loadNative().umount(p, opts.detach === true))
    },
  }
  return port
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
