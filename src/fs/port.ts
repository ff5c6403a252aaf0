/**
 * The filesystem port: every byte layerfsck reads or writes goes through this
 * interface, and nothing outside `src/fs/node.ts` imports node:fs. Two
 * adapters implement it: the disk (`createNodeFs`) and memory on memfs
 * (`createMemoryFs`). `test/fs-contract.test.ts` runs the same cases against
 * both, so a test that passes in memory means the same on Linux.
 *
 * Semantics, for both adapters:
 * - Paths are absolute POSIX paths. A file name is whatever bytes the kernel
 *   holds: names and symlink targets are carried as strings in which each
 *   byte that is not part of valid UTF-8 stands as the lone surrogate
 *   U+DC80+byte (PEP 383's surrogateescape; `src/fs/name-bytes.ts`). The disk
 *   adapter turns them back into the exact bytes; nothing decodes lossily.
 * - No method follows a symlink in the last
 *   component; intermediate components are resolved like the kernel does.
 *   Callers that must not leave a root use `src/fs/safe-path.ts` first.
 * - Errors are errno-shaped (`code`, `syscall`, `path`), as node:fs throws
 *   them, so `isErrno(err, 'ENOENT')` works everywhere.
 * - Directory listings come back in no particular order; callers sort where
 *   order matters.
 */
import type { Readable } from 'node:stream'

export type InodeKind = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket'

export interface DevNo {
  major: number
  minor: number
}

/** Our own stat: permission bits apart from the kind, devices split, times in ns. */
export interface Inode {
  kind: InodeKind
  /** Permission bits only, `& 0o7777` (setuid, setgid and sticky included). */
  mode: number
  uid: number
  gid: number
  size: number
  /** Space it takes on disk, in 512-byte units (st_blocks): what removing its last link frees. */
  blocks: number
  nlink: number
  /** The filesystem the inode lives on; `dev` plus `ino` is hard-link identity. */
  dev: DevNo
  ino: bigint
  /** Device number of a char or block device; overlay whiteouts are 0/0. */
  rdev: DevNo
  mtimeNs: bigint
}

export interface DirEntry {
  name: string
  kind: InodeKind
  /**
   * A char or block device's number, when the listing could read it (the
   * disk adapter stats devices as it lists, the memory adapter knows them);
   * absent for every other kind. Whiteout checks read it instead of an
   * lstat per device (`deviceNumber`).
   */
  rdev?: DevNo
  /**
   * The inode number the directory's entry names (d_ino), in a listing
   * asked for it (`ListTreeOptions.inodes`), where the filesystem is known
   * to list a regular file with the number its lstat reports (ext4, xfs,
   * btrfs, tmpfs; the memory adapter). A mount point's entry names the inode
   * under the mount, not the mounted root lstat reports.
   */
  ino?: number
}

/**
 * Part of a tree's walk, read in one go (`FsPort.listTree`): each directory
 * listed, in the order the walk visits them, and the directories still to
 * visit when the part was full.
 */
export interface TreeListing {
  dirs: ListedDir[]
  /** The walk's stack after this part, bottom first: the `from` of the next part. */
  pending: string[]
}

/**
 * A directory of a tree listing, by its path relative to the root ('' for
 * the root), with how many entries it has and its entries (without plain
 * files when asked, see `ListTreeOptions`), or the errno that kept it unlisted.
 */
export type ListedDir = { rel: string; count: number; entries: DirEntry[] } | { rel: string; errno: string }

export interface ListTreeOptions {
  /**
   * Leave out the regular files of a directory in which no name starts with
   * `.wh.`: what a whiteout check never looks at, and nearly every entry of a
   * layer, so its walk makes no object for them. A directory holding a
   * `.wh.` name is listed whole (its markers are judged by their siblings).
   */
  skipPlainFiles?: boolean
  /**
   * Give each entry's `ino` where the filesystem's listing has it right: a
   * comparison of two trees tells a hard link by its listings, without an
   * lstat of both names.
   */
  inodes?: boolean
}

/**
 * What `FsPort.inspect` reads of each name besides its lstat. Each is one
 * more syscall per entry, so a walk asks only for what it uses: export
 * wants all three, a comparison of two trees only the stats.
 */
export interface InspectOptions {
  /** The entry's xattr names (llistxattr, never following): export carries every xattr, and nearly no entry has one. */
  xattrNames?: boolean
  /**
   * Read a regular file whole when 0 < size <= readUpTo (at most
   * `INSPECT_READ_MAX`): most files of a layer are small, and an open, a
   * read and a close in the same call cost less than a stream each.
   */
  readUpTo?: number
  /** A symlink's target. */
  readlinks?: boolean
  /**
   * How many bytes (file contents, xattr names, link targets) one answer may
   * carry (`INSPECT_ANSWER_BYTES` unless given): a directory of small files
   * is read in parts of this size, so a walk holding an answer or two stays small.
   */
  maxBytes?: number
}

/**
 * One name of `FsPort.inspect`. `errno` (with the `syscall` that gave it)
 * says what could not be read: without `inode`, the lstat itself (ENOENT for
 * a name gone since its directory was listed); with it, a later step, and
 * what that step and those after it would have given is absent.
 */
export interface Inspected {
  inode?: Inode
  errno?: string
  syscall?: string
  /** With `xattrNames`: the entry's xattr names, as `XattrPort.list` gives them. */
  xattrNames?: string[]
  /**
   * With `readUpTo`: the file's bytes, read until a short read. `inode` is
   * then the open file's own fstat, so it describes these bytes even when the
   * name was replaced since the lstat; a file that grew past `readUpTo`
   * meanwhile comes without bytes, with its size as it is now.
   */
  bytes?: Uint8Array
  /** With `readlinks`: a symlink's target. */
  linkname?: string
}

/** The largest `InspectOptions.readUpTo`: an answer holds whole files, so none may be large. */
export const INSPECT_READ_MAX = 1024 * 1024
/** An answer's bytes unless `InspectOptions.maxBytes` says otherwise. */
export const INSPECT_ANSWER_BYTES = 4 * 1024 * 1024
/** The largest `InspectOptions.maxBytes`. */
export const INSPECT_ANSWER_MAX = 256 * 1024 * 1024

/** `InspectOptions` as numbers both adapters apply alike; a RangeError for a limit out of bounds. */
export function inspectLimits(options: InspectOptions): { readUpTo: number; maxBytes: number } {
  const readUpTo = options.readUpTo ?? 0
  const maxBytes = options.maxBytes ?? INSPECT_ANSWER_BYTES
  if (!Number.isSafeInteger(readUpTo) || readUpTo < 0 || readUpTo > INSPECT_READ_MAX) {
    throw new RangeError(`inspect reads files of up to ${INSPECT_READ_MAX} bytes whole, not ${readUpTo}`)
  }
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1 || maxBytes > INSPECT_ANSWER_MAX) {
    throw new RangeError(`an inspect answer carries 1 to ${INSPECT_ANSWER_MAX} bytes, not ${maxBytes}`)
  }
  return { readUpTo, maxBytes }
}

/** A name `FsPort.inspect` and `FsPort.linkNames` take: one entry of the directory, not a path ('', '.', '..' and a slash are EINVAL). */
export function isEntryName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0')
}

/** One line of /proc/self/mountinfo. */
export interface MountEntry {
  id: number
  parentId: number
  dev: DevNo
  /** The path inside the mounted filesystem that is mounted here ("/" for whole filesystems). */
  root: string
  /** Without the ` (deleted)` the kernel may append when the directory was removed; see `deleted`. */
  mountPoint: string
  /** The table said `<path> (deleted)`: the mount point's directory was removed while mounted. */
  deleted?: boolean
  options: string[]
  fsType: string
  source: string
  superOptions: string[]
}

export interface FsTypeInfo {
  /** Linux f_type magic from statfs(2). */
  magic: number
  /** A name for it: ext4, xfs, btrfs, tmpfs, overlay, ... or `unknown(0x…)`. */
  name: string
  /**
   * Whether readdir fills in entry types (d_type) here: overlayfs needs it,
   * and the walk trusts it. Only asked of directories; true for files.
   */
  dtype: boolean
  /** What an unprivileged writer may still use (statfs f_bavail × f_bsize, f_ffree): a plan's room is checked against it. */
  free: { bytes: number; inodes: number }
}

export interface WriteOptions {
  /** Permission bits for a created file; the umask applies as with open(2). */
  mode?: number
  /** O_EXCL: fail with EEXIST instead of truncating an existing file (a symlink there is EEXIST too). */
  exclusive?: boolean
  /** O_APPEND without O_TRUNC: writes go to the end of an existing file (journals). */
  append?: boolean
}

/** An flock(2) held on an open file; the kernel drops it when the process dies. */
export interface FileLock {
  readonly mode: 'shared' | 'exclusive'
  release(): Promise<void>
}

export type TryLockResult =
  | { ok: true; lock: FileLock }
  /** Held by another open file: the pids holding it, as /proc/locks names them (may be empty when unknown). */
  | { ok: false; holders: number[] }

/** What this process may see and do: trusted.* xattrs need CAP_SYS_ADMIN, device nodes CAP_MKNOD. */
export interface Credentials {
  uid: number
  gid: number
  capSysAdmin: boolean
  capMknod: boolean
}

export interface WriteHandle {
  write(chunk: Uint8Array): Promise<void>
  /** fsync(2): the data reached the disk when this resolves. */
  sync(): Promise<void>
  close(): Promise<void>
}

export interface XattrPort {
  /** Names on the entry itself (never follows a symlink). */
  list(path: string): Promise<string[]>
  /** The value as bytes, or undefined when the entry has no such attribute. */
  get(path: string, name: string): Promise<Uint8Array | undefined>
  set(path: string, name: string, value: Uint8Array): Promise<void>
  /** ENODATA when the attribute is absent. */
  remove(path: string, name: string): Promise<void>
}

export interface FsPort {
  /** Which adapter this is; reports mention it so a memory run is never mistaken for a disk run. */
  readonly kind: 'disk' | 'memory'

  /** lstat(2); undefined when the path does not exist, every other error throws. */
  lstat(path: string): Promise<Inode | undefined>
  readdir(path: string): Promise<DirEntry[]>
  /**
   * Directories of the tree at root, depth first from `from` (the walk's
   * stack, bottom first; `['']` to start at root), each with its listing, until
   * at least `maxEntries` entries were listed. The order is the walk's: a
   * directory's subdirectories are pushed in listing order, the last pushed
   * visited first. The disk adapter reads it on the threadpool, so a walk
   * that asks for its next part before it looks at this one has both cores
   * busy. Never follows a symlink; a directory that cannot be listed is
   * answered with its errno, and the walk goes on.
   */
  listTree(root: string, from: string[], maxEntries: number, options?: ListTreeOptions): Promise<TreeListing>
  /**
   * lstat of each name in the directory `dir`, with what `options` asks
   * besides, in one call: one answer per name, in order. A walk that looks
   * at every entry paid a port call per entry and per question (lstat,
   * xattrs, open, read, readlink); this is one per directory, run on the
   * threadpool on disk, so a walk can ask for the next directory while it
   * works on this one. `dir` is opened once without following a symlink
   * (ELOOP; ENOTDIR for anything else that is not a directory) and each name
   * is looked up in it, so a name is never a path. What fails for one name
   * is its `errno`, never the call's.
   *
   * The answer stops short, after at least one name, once the bytes it
   * carries reach `maxBytes`: the caller asks again for the names after it.
   */
  inspect(dir: string, names: readonly string[], options?: InspectOptions): Promise<Inspected[]>
  readlink(path: string): Promise<string>
  /**
   * realpath(3): the path with every symlink resolved. Only for roots an
   * operator names on the command line (a symlinked store dir is common);
   * paths found inside a store are never resolved through it.
   */
  realpath(path: string): Promise<string>

  /**
   * A stream of a regular file's bytes; opened with O_NOFOLLOW (ELOOP on a
   * symlink). Anything else that is not a regular file is refused without
   * being opened for IO (EISDIR for a directory, ENXIO for a device, a fifo
   * or a socket), so a hostile store can never make a read block or touch a
   * device.
   */
  openRead(path: string): Promise<Readable>
  /** Opens for writing with O_CREAT|O_TRUNC|O_NOFOLLOW (O_EXCL when `exclusive`). */
  openWrite(path: string, options?: WriteOptions): Promise<WriteHandle>

  mkdir(path: string, mode?: number): Promise<void>
  /** Creates a char or block device (needs CAP_MKNOD) or a fifo. */
  mknod(path: string, kind: 'char' | 'block' | 'fifo', mode: number, rdev?: DevNo): Promise<void>
  symlink(target: string, path: string): Promise<void>
  /** linkat(2) without AT_SYMLINK_FOLLOW: a symlink is linked, not its target. EPERM for a directory. */
  link(existing: string, path: string): Promise<void>
  /**
   * Hard-links each name of the directory `fromDir` under the same name in
   * `toDir`, in one call: one answer per name, in order, undefined when
   * linked, else its errno (EEXIST, ENOENT, EPERM for a directory, EXDEV
   * across filesystems, ...). A clone that links every file of a layer paid
   * a link(2) per file, each looking up two whole paths, on the main thread;
   * this opens both directories once and links by name in them
   * (linkat(2) without AT_SYMLINK_FOLLOW: a symlink is linked, not its
   * target), run on the threadpool on disk. Each directory is opened without
   * following a symlink (ELOOP; ENOTDIR for anything else that is not a
   * directory); when either cannot be opened the call fails and nothing is
   * linked. A name that is not one entry ('', '.', '..', a slash) is EINVAL.
   */
  linkNames(fromDir: string, toDir: string, names: readonly string[]): Promise<(string | undefined)[]>
  /** rename(2) with Linux's rules (EISDIR, ENOTDIR, ENOTEMPTY, EINVAL, EXDEV). */
  rename(from: string, to: string): Promise<void>
  unlink(path: string): Promise<void>
  rmdir(path: string): Promise<void>
  /** Never follows a symlink: a symlink itself answers ENOTSUP, as fchmodat(AT_SYMLINK_NOFOLLOW) does. */
  chmod(path: string, mode: number): Promise<void>
  lchown(path: string, uid: number, gid: number): Promise<void>
  lutimes(path: string, atimeNs: bigint, mtimeNs: bigint): Promise<void>
  readonly xattr: XattrPort

  /**
   * fsync(2) of a file or a directory (a directory fsync makes creates,
   * renames and unlinks in it durable). Never opens a special file: for a
   * device, fifo or socket it does nothing (their inodes hold no data).
   */
  fsync(path: string): Promise<void>
  /** syncfs(2): every change on the filesystem holding `path` is durable when this resolves. */
  syncfs(path: string): Promise<void>

  /**
   * flock(2) without blocking on the file at `path` (opened O_NOFOLLOW; created
   * mode 0644 when `create`, ENOENT otherwise). Locks conflict between open
   * files, not processes, so two calls in one process exclude each other too.
   */
  tryLock(path: string, mode: 'shared' | 'exclusive', options?: { create?: boolean }): Promise<TryLockResult>
  /** This process's credentials and the capabilities the tool cares about. */
  credentials(): Promise<Credentials>

  /** statfs(2) f_type of the filesystem holding the path. */
  fsType(path: string): Promise<FsTypeInfo>
  /** The mount table as /proc/self/mountinfo shows it. */
  mounts(): Promise<MountEntry[]>
  /** umount2(2) with UMOUNT_NOFOLLOW; `detach` adds MNT_DETACH. EINVAL when not a mount point. */
  unmount(path: string, options?: { detach?: boolean }): Promise<void>
}

/** The calls that change something: the crash-injection decorator fails these after the Nth (`linkNames` is a `link` per name). */
export const MUTATING_CALLS = [
  'openWrite',
  'write',
  'mkdir',
  'mknod',
  'symlink',
  'link',
  'rename',
  'unlink',
  'rmdir',
  'chmod',
  'lchown',
  'lutimes',
  'xattr.set',
  'xattr.remove',
  'fsync',
  'syncfs',
  'unmount',
] as const
export type MutatingCall = (typeof MUTATING_CALLS)[number]

export function devKey(dev: DevNo): string {
  return `${dev.major}:${dev.minor}`
}

/** One filesystem: the same device number. */
export const sameDevNo = (a: DevNo, b: DevNo): boolean => a.major === b.major && a.minor === b.minor

/** `dev:ino` identifies an inode: two paths with the same key are hard links of one file. */
export function inodeKey(inode: Pick<Inode, 'dev' | 'ino'>): string {
  return `${inode.dev.major}:${inode.dev.minor}:${inode.ino}`
}

/** Linux's encoding of a dev_t (glibc gnu_dev_major/minor), for numbers node:fs hands back. */
export function splitDev(dev: bigint): DevNo {
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn))
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn))
  return { major, minor }
}

export function joinDev(dev: DevNo): bigint {
  const major = BigInt(dev.major)
  const minor = BigInt(dev.minor)
  return ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n)
}

export const S_IFMT = 0o170000
const KIND_BITS: Record<InodeKind, number> = {
  file: 0o100000,
  dir: 0o040000,
  symlink: 0o120000,
  char: 0o020000,
  block: 0o060000,
  fifo: 0o010000,
  socket: 0o140000,
}

export function kindBits(kind: InodeKind): number {
  return KIND_BITS[kind]
}

/** S_IFMT bits → kind: a lookup, as every stat and inspect answer asks (a loop over KIND_BITS' entries was 70 ms of a 52k migrate). */
const KIND_OF_BITS = new Map(Object.entries(KIND_BITS).map(([kind, bits]) => [bits, kind as InodeKind]))

export function kindFromMode(mode: number): InodeKind | undefined {
  return KIND_OF_BITS.get(mode & S_IFMT)
}
