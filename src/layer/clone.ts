/**
 * "Create an inode like this one", and what is built on it: a clone of a
 * layer tree, a census of one, and a comparison of two through the whiteout
 * codec. Copy-backend apply, tree specs, tar import and the migrator all
 * create inodes through `createLike`, so owner, mode, xattrs and times are
 * set in one order everywhere: owner before mode (chown clears setuid and
 * setgid, as tar knows), xattrs after owner (chown drops
 * security.capability), the time last (every other change moves it).
 *
 * Memory stays at one directory listing per level of depth plus a map of
 * the hard-link groups met (inodes with nlink > 1 only): never a set of
 * every path, so a layer of 10^6 entries costs what a deep one costs.
 */
import { createHash } from 'node:crypto'
import { ExitCode, isErrno, LayerfsckError } from '../errors.js'
import { deviceNumber } from '../fs/device-number.js'
import { escapeName } from '../fs/name-bytes.js'
import type { DevNo, DirEntry, FsPort, Inode, InodeKind } from '../fs/port.js'
import { inodeKey } from '../fs/port.js'
import { walkDirectories, walkPreorder } from '../fs/walk.js'
import { isOpaqueDir, planAufsDir, type WhiteoutForm } from './whiteout-codec.js'
import { isWhiteoutDevice, OPAQUE_XATTRS, WHITEOUT_PREFIX } from './whiteout-names.js'

// --- one inode ---------------------------------------------------------------

/**
 * What a new inode should be. An `Inode` from `lstat` plus its symlink
 * target and xattrs is one (see `likeOf`).
 */
export interface InodeLike {
  kind: InodeKind
  /** Permission bits (`& 0o7777`); ignored for a symlink, whose mode Linux does not keep. */
  mode: number
  /** Leave both out to keep the creating process as the owner (an unprivileged tar); a missing half is 0. */
  uid?: number
  gid?: number
  /** Left out: the time of creation stays. Never set on a directory here (see createLike). */
  mtimeNs?: bigint
  /** A char or block device's number (0/0 when left out). */
  rdev?: DevNo
  /** A symlink's target, stored as given and never followed. */
  target?: string
  /** Every one is set, overlay's own included: callers that must not carry some filter them first. */
  xattrs?: ReadonlyMap<string, Uint8Array>
}

export interface CreateOptions {
  /**
   * A regular file's bytes, written before any metadata so that the time
   * and a mode like 0000 stick. Left out, the file is empty and nothing is
   * read. An async iterable is read only once the new file is open
   * (`fileData` gives a lazy one).
   */
  data?: Uint8Array | AsyncIterable<Uint8Array>
  /** fsync a regular file's data before closing it: for trees that will be renamed into a store. */
  sync?: boolean
  /** `path` is already a directory (a layer applied over a lower one, a spec's parent made earlier): it only gets the metadata. */
  dirExists?: boolean
  /** A regular file already at `path` is truncated and rewritten (as a tree spec writes over its own files) instead of EEXIST. */
  truncate?: boolean
}

/**
 * Creates one inode at `path` like `like`: a directory, symlink, char or
 * block device, fifo or regular file (with `options.data` as its bytes),
 * with mode, owner, ns mtime and every xattr given. A directory's mtime is
 * not set: filling it would move it again, so callers set it after its
 * children. Nothing that exists is replaced (EEXIST), unless `dirExists` or
 * `truncate` says so. A socket cannot be made like another (a process binds
 * it): refused.
 */
export async function createLike(fs: FsPort, path: string, like: InodeLike, options: CreateOptions = {}): Promise<void> {
  switch (like.kind) {
    case 'dir':
      if (!options.dirExists) await fs.mkdir(path, 0o700)
      break
    case 'file': {
      const handle = await fs.openWrite(path, { mode: 0o600, exclusive: !options.truncate })
      try {
        const data = options.data
        if (data instanceof Uint8Array) await handle.write(data)
        else if (data !== undefined) for await (const chunk of data) await handle.write(chunk)
        if (options.sync) await handle.sync()
      } finally {
        await handle.close()
      }
      break
    }
    case 'symlink':
      if (like.target === undefined) throw new LayerfsckError('CREATE_LIKE', `${escapeName(path)}: a symlink needs a target`)
      await fs.symlink(like.target, path)
      break
    case 'char':
    case 'block':
    case 'fifo':
      await fs.mknod(path, like.kind, 0o600, like.rdev ?? { major: 0, minor: 0 })
      break
    case 'socket':
      throw new LayerfsckError('CREATE_LIKE', `${escapeName(path)}: a socket cannot be created like another; a process binds it`)
  }
  if (like.uid !== undefined || like.gid !== undefined) await fs.lchown(path, like.uid ?? 0, like.gid ?? 0)
  if (like.kind !== 'symlink') await fs.chmod(path, like.mode)
  for (const [name, value] of like.xattrs ?? []) await fs.xattr.set(path, name, value)
  if (like.kind !== 'dir' && like.mtimeNs !== undefined) await fs.lutimes(path, like.mtimeNs, like.mtimeNs)
}

/**
 * An existing entry as an InodeLike: its lstat, symlink target and xattrs
 * (all of them, or those `keepXattr` accepts). Never follows a symlink.
 */
export async function likeOf(
  fs: FsPort,
  path: string,
  inode: Inode,
  options: { keepXattr?: (name: string) => boolean } = {},
): Promise<InodeLike> {
  const xattrs = new Map<string, Uint8Array>()
  for (const name of await fs.xattr.list(path)) {
    if (options.keepXattr && !options.keepXattr(name)) continue
    const value = await fs.xattr.get(path, name)
    if (value !== undefined) xattrs.set(name, value)
  }
  return {
    kind: inode.kind,
    mode: inode.mode,
    uid: inode.uid,
    gid: inode.gid,
    mtimeNs: inode.mtimeNs,
    rdev: inode.rdev,
    ...(inode.kind === 'symlink' ? { target: await fs.readlink(path) } : {}),
    xattrs,
  }
}

/** A regular file's bytes, opened (O_NOFOLLOW) only when first iterated: for `createLike`'s `data`. */
export async function* fileData(fs: FsPort, path: string): AsyncGenerator<Uint8Array> {
  yield* (await fs.openRead(path)) as AsyncIterable<Uint8Array>
}

const childPath = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`)

function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new LayerfsckError('CANCELLED', `cancelled during ${what}`, { exitCode: ExitCode.cancelled })
}

/**
 * An aufs-form marker is created fresh even when files are hard-linked: the
 * codec writes markers in place (overlay → aufs truncates and chmods one it
 * finds), and that must never reach the source's inode.
 */
const isMarkerName = (name: string): boolean => name.startsWith(WHITEOUT_PREFIX)

// --- clone -------------------------------------------------------------------

export interface CloneOptions {
  /** Copy file data instead of hard-linking the source's files. */
  copy?: boolean
  /** Checked between entries: a cancelled clone stops there, and its caller removes the partial target. */
  signal?: AbortSignal
  onProgress?: (p: { entries: number; bytes: number }) => void
}

export interface CloneReport {
  /** Every entry, the root included. */
  entries: number
  /** Regular files, hard-linked or copied. */
  files: number
  /** Directories, the root included. */
  dirs: number
  /** Entries made with link(2): to the source's file, or to the first clone of their hard-link group. */
  hardLinked: number
  copiedBytes: number
  /** Symlinks, devices and fifos. */
  specials: number
}

/**
 * Clones `source` (a layer tree) to `target`, which must not exist and is
 * created. Regular files are hard links of the source's (layers are
 * read-only, and nothing here changes a shared inode), or copies with
 * `copy`; everything else, and every aufs-form marker, is created fresh
 * like its source entry. Hard-link groups of the source stay groups.
 * Directory mtimes are set last, children first. Symlinks are never
 * followed. The clone keeps the source's whiteout form: converting it is
 * convertLayer's job, run on the clone afterwards.
 */
export async function cloneTree(fs: FsPort, source: string, target: string, options: CloneOptions = {}): Promise<CloneReport> {
  const report: CloneReport = { entries: 0, files: 0, dirs: 0, hardLinked: 0, copiedBytes: 0, specials: 0 }
  const rootInode = await fs.lstat(source)
  if (rootInode?.kind !== 'dir') {
    throw new LayerfsckError('CLONE_SOURCE', `${escapeName(source)} is ${rootInode ? `a ${rootInode.kind}` : 'missing'}, not a layer directory`)
  }
  if ((await fs.lstat(target)) !== undefined) {
    throw new LayerfsckError('CLONE_TARGET_EXISTS', `${escapeName(target)} already exists; a clone is made only where nothing is`)
  }
  await createLike(fs, target, await likeOf(fs, source, rootInode))
  report.entries += 1
  report.dirs += 1

  /** Source inode → the first path of its group in the target, for groups the clone cannot get by linking the source. */
  const groups = new Map<string, string>()
  /** The directories on the path to the current entry, whose mtimes wait for their last child. */
  const open: { rel: string; path: string; mtimeNs: bigint }[] = [{ rel: '', path: target, mtimeNs: rootInode.mtimeNs }]
  const closeDirsNotAbove = async (rel: string): Promise<void> => {
    while (open.length > 1 && !rel.startsWith(`${open[open.length - 1]!.rel}/`)) {
      const done = open.pop()!
      await fs.lutimes(done.path, done.mtimeNs, done.mtimeNs)
    }
  }

  // Pre-order: a directory is finished exactly when the walk leaves it.
  for await (const e of walkPreorder(fs, source)) {
    throwIfAborted(options.signal, `the clone of ${escapeName(source)}`)
    await closeDirsNotAbove(e.rel)
    const to = `${target}/${e.rel}`
    report.entries += 1
    // A file to hard-link is not lstat'ed: link(2) takes whatever inode the name holds, which is all the
    // clone needs of it (a comparison after it reads both names anyway).
    if (e.kind === 'file' && !options.copy && !isMarkerName(e.name)) {
      report.files += 1
      try {
        await fs.link(e.path, to)
      } catch (err) {
        if (isErrno(err, 'ENOENT') && (await fs.lstat(e.path)) === undefined) throw vanished(e.path)
        if (!isErrno(err, 'EXDEV')) throw err
        throw new LayerfsckError('CLONE_CROSS_DEVICE', `cannot hard-link ${escapeName(e.path)} into ${escapeName(target)}: another filesystem`, {
          cause: err,
          hint: 'build the clone on the source\'s filesystem, or copy the data (--copy)',
        })
      }
      report.hardLinked += 1
      options.onProgress?.({ entries: report.entries, bytes: report.copiedBytes })
      continue
    }
    const inode = await fs.lstat(e.path)
    if (inode === undefined) throw vanished(e.path)
    if (inode.kind === 'dir') report.dirs += 1
    else if (inode.kind === 'file') report.files += 1
    else report.specials += 1

    if (inode.kind !== 'dir' && inode.nlink > 1 && groups.has(inodeKey(inode))) {
      await fs.link(groups.get(inodeKey(inode))!, to)
      report.hardLinked += 1
    } else {
      const like = await likeOf(fs, e.path, inode)
      const data = inode.kind === 'file' && inode.size > 0 ? counted(fileData(fs, e.path), (n) => (report.copiedBytes += n)) : undefined
      await createLike(fs, to, like, data ? { data } : {})
      if (inode.kind === 'dir') open.push({ rel: e.rel, path: to, mtimeNs: inode.mtimeNs })
      else if (inode.nlink > 1) groups.set(inodeKey(inode), to)
    }
    options.onProgress?.({ entries: report.entries, bytes: report.copiedBytes })
  }
  while (open.length > 0) {
    const d = open.pop()!
    await fs.lutimes(d.path, d.mtimeNs, d.mtimeNs)
  }
  return report
}

const vanished = (path: string): LayerfsckError =>
  new LayerfsckError('CLONE_SOURCE', `${escapeName(path)} vanished while it was cloned; layers must not change`)

async function* counted(chunks: AsyncIterable<Uint8Array>, add: (n: number) => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    add(chunk.length)
    yield chunk
  }
}

// --- plan --------------------------------------------------------------------

export interface TreePlan {
  /** Every entry, the root included. */
  entries: number
  files: number
  /** Directories, the root included. */
  dirs: number
  /** Data bytes of the regular files, each hard-link group once: what a copying clone writes. */
  bytes: number
  /** `.wh.<name>` files the codec turns into whiteout devices. */
  aufsWhiteouts: number
  /** Directories the codec marks opaque: `.wh..wh..opq` inside, or `.wh.<dir>` beside a directory of this layer. */
  aufsOpaque: number
  /** Char devices 0/0. */
  overlayWhiteouts: number
  /** Directories with an opaque attribute set to `y`. */
  overlayOpaque: number
}

/**
 * A read-only census of a layer tree for a dry run, in one walk: lstat only
 * where a number needs it (file sizes, char devices), xattrs listed only on
 * directories.
 */
export async function planTree(fs: FsPort, root: string): Promise<TreePlan> {
  const plan: TreePlan = { entries: 1, files: 0, dirs: 1, bytes: 0, aufsWhiteouts: 0, aufsOpaque: 0, overlayWhiteouts: 0, overlayOpaque: 0 }
  const seenGroups = new Set<string>()
  for await (const { path, entries } of walkDirectories(fs, root)) {
    if (await isOpaqueDir(fs, path)) plan.overlayOpaque += 1
    for (const a of planAufsDir(entries)) {
      if (a.op === 'whiteout') plan.aufsWhiteouts += 1
      else if (a.op === 'opaque' || (a.op === 'shadowed' && a.targetKind === 'dir')) plan.aufsOpaque += 1
    }
    for (const e of entries) {
      plan.entries += 1
      if (e.kind === 'dir') plan.dirs += 1
      else if (e.kind === 'file') {
        plan.files += 1
        const inode = await fs.lstat(childPath(path, e.name))
        if (inode === undefined) continue
        if (inode.nlink > 1) {
          const key = inodeKey(inode)
          if (seenGroups.has(key)) continue
          seenGroups.add(key)
        }
        plan.bytes += inode.size
      } else if (e.kind === 'char' && (await isListedWhiteout(fs, path, e))) plan.overlayWhiteouts += 1
    }
  }
  return plan
}

/** A listed char device is a whiteout: its number from the listing where the adapter gave it. */
async function isListedWhiteout(fs: FsPort, dir: string, e: DirEntry): Promise<boolean> {
  const rdev = await deviceNumber(fs, dir, e)
  return rdev !== undefined && isWhiteoutDevice({ kind: 'char', rdev })
}

// --- compare -----------------------------------------------------------------

export interface Mismatch {
  /** Relative to the compared roots, in the overlay view (a whiteout is the name it hides); `.` is the root. */
  path: string
  what: string
}

export interface CompareOptions {
  /** Stop after this many mismatches (20). */
  limit?: number
  signal?: AbortSignal
  /**
   * Also compare the bytes of regular files that are not the same inode on
   * both sides (a copying clone): reads both. Otherwise sizes are compared.
   */
  data?: boolean
}

/** An entry of a directory as the overlay view sees it. */
interface ViewEntry {
  /** Where it really is: for an aufs whiteout, the `.wh.` marker. */
  path: string
  kind: InodeKind | 'whiteout'
}

/**
 * One directory's listing as overlayfs would read it once the tree is in
 * overlay form: what `aufsToOverlay` makes of an aufs-form listing (the
 * codec's own per-directory rule, `planAufsDir`), an overlay-form listing as
 * it is. A `none`-form tree (a copy-backend rootfs) means nothing by any name
 * or device.
 */
async function overlayView(
  fs: FsPort,
  dir: string,
  entries: readonly DirEntry[],
  form: WhiteoutForm,
): Promise<{ children: Map<string, ViewEntry>; markerOpaque: boolean }> {
  const children = new Map<string, ViewEntry>()
  let markerOpaque = false
  const consumed = new Set<string>()
  const whiteouts: [string, string][] = []
  if (form === 'aufs') {
    for (const a of planAufsDir(entries)) {
      if (a.op === 'leave') continue
      consumed.add(a.marker)
      if (a.op === 'opaque') markerOpaque = true
      else if (a.op === 'whiteout') whiteouts.push([a.target, a.marker])
      // A shadowed marker is dropped; a directory it shadows is opaque, which that directory's own visit reads.
    }
  }
  for (const e of entries) {
    if (consumed.has(e.name)) continue
    const path = childPath(dir, e.name)
    // Only the overlay form hides a name with a 0/0 device: in an aufs-form tree it is a device aufs, copy and bind expose.
    const whiteout = form === 'overlay' && e.kind === 'char' && (await isListedWhiteout(fs, dir, e))
    children.set(e.name, { path, kind: whiteout ? 'whiteout' : e.kind })
  }
  for (const [name, marker] of whiteouts) children.set(name, { path: childPath(dir, marker), kind: 'whiteout' })
  return { children, markerOpaque }
}

/** Opaque in the overlay view: an opaque attribute, or (aufs form) a marker inside or a `.wh.<name>` file beside it. */
async function isOpaqueInView(fs: FsPort, dir: string, markerOpaque: boolean, form: WhiteoutForm, isRoot: boolean): Promise<boolean> {
  if (form === 'none') return false
  if (markerOpaque || (await isOpaqueDir(fs, dir))) return true
  if (form !== 'aufs' || isRoot) return false
  const slash = dir.lastIndexOf('/')
  return (await fs.lstat(`${dir.slice(0, slash)}/${WHITEOUT_PREFIX}${dir.slice(slash + 1)}`))?.kind === 'file'
}

class Enough extends Error {}

const octal = (mode: number): string => mode.toString(8).padStart(4, '0')
const devText = (d: DevNo): string => `${d.major}:${d.minor}`
/** The opaque attributes are the form itself: the view's opaque flag stands for them. */
const isFormXattr = (name: string): boolean => (OPAQUE_XATTRS as readonly string[]).includes(name)

/**
 * Compares two layer trees through the codec: `a` in form `aForm`, `b` in
 * form `bForm`. They are equal when their overlay views are: the same names
 * (a whiteout is the name it hides, in either form; an opaque directory is
 * opaque in either form), kinds, modes, owners, ns mtimes, xattrs (but the
 * opaque attributes, which are the form), symlink targets, device numbers,
 * file sizes (bytes with `data`), and link structure (files hard-linked
 * together in one are in the other). A whiteout is compared by kind, owner
 * and time, which the codec carries; its mode and xattrs are the form's.
 * Returns [] when equal, at most `limit` mismatches otherwise. Never follows
 * a symlink.
 */
export async function compareLayerTrees(
  fs: FsPort,
  a: string,
  aForm: WhiteoutForm,
  b: string,
  bForm: WhiteoutForm,
  options: CompareOptions = {},
): Promise<Mismatch[]> {
  const limit = options.limit ?? 20
  const out: Mismatch[] = []
  const miss = (path: string, what: string): void => {
    out.push({ path, what })
    if (out.length >= limit) throw new Enough()
  }
  /** Directories of `a` whose counterpart in `b` is missing or no directory: reported once, not descended. */
  const notDescended: string[] = []
  const groupsA = new Map<string, string>()
  const groupsB = new Map<string, string>()

  const compareInodes = async (rel: string, pa: string, pb: string, whiteout: boolean): Promise<void> => {
    const [ia, ib] = [await fs.lstat(pa), await fs.lstat(pb)]
    if (ia === undefined || ib === undefined) return miss(rel, `vanished from ${ia === undefined ? 'a' : 'b'} during the comparison`)
    // One inode under both names (a hard-linking clone's file): its kind, mode, owner, times, size, bytes and
    // xattrs are one and the same, so only the link structure is left to compare. Nearly every entry of such a
    // clone is one, and its two xattr listings were half of the comparison's time.
    if (!whiteout && sameInode(ia, ib)) return compareGroups(rel, pa, pb, ia, ib)
    if (ia.uid !== ib.uid || ia.gid !== ib.gid) miss(rel, `owner ${ia.uid}:${ia.gid} in a, ${ib.uid}:${ib.gid} in b`)
    if (ia.mtimeNs !== ib.mtimeNs) miss(rel, `mtime ${ia.mtimeNs} in a, ${ib.mtimeNs} in b`)
    if (whiteout) return
    if (ia.kind !== ib.kind) return miss(rel, `a ${ia.kind} in a, a ${ib.kind} in b`)
    if (ia.kind !== 'symlink' && ia.mode !== ib.mode) miss(rel, `mode ${octal(ia.mode)} in a, ${octal(ib.mode)} in b`)
    if ((ia.kind === 'char' || ia.kind === 'block') && devText(ia.rdev) !== devText(ib.rdev)) {
      miss(rel, `device ${devText(ia.rdev)} in a, ${devText(ib.rdev)} in b`)
    }
    if (ia.kind === 'symlink') {
      const [ta, tb] = [await fs.readlink(pa), await fs.readlink(pb)]
      if (ta !== tb) miss(rel, `symlink to ${escapeName(ta)} in a, to ${escapeName(tb)} in b`)
    }
    if (ia.kind === 'file') {
      if (ia.size !== ib.size) miss(rel, `size ${ia.size} in a, ${ib.size} in b`)
      else if (options.data && ia.size > 0 && (await digest(fs, pa)) !== (await digest(fs, pb))) {
        miss(rel, 'the same size but other bytes')
      }
    }
    await compareXattrs(rel, pa, pb)
    compareGroups(rel, pa, pb, ia, ib)
  }

  const compareGroups = (rel: string, pa: string, pb: string, ia: Inode, ib: Inode): void => {
    // One inode with exactly these two names (a hard-linking clone's file) is alone on
    // both sides: not recorded, or the maps would hold every file of such a clone.
    const pairOnly = ia.nlink === 2 && pa !== pb && sameInode(ia, ib)
    if (ia.kind !== 'dir' && !pairOnly) {
      const firstA = firstOfGroup(groupsA, ia, rel)
      const firstB = firstOfGroup(groupsB, ib, rel)
      if (firstA !== firstB) {
        const side = (first: string): string => (first === rel ? 'no earlier link' : `a hard link of ${first}`)
        miss(rel, `${side(firstA)} in a, ${side(firstB)} in b`)
      }
    }
  }

  const compareXattrs = async (rel: string, pa: string, pb: string): Promise<void> => {
    const na = (await fs.xattr.list(pa)).filter((n) => !isFormXattr(n)).sort()
    const nb = new Set((await fs.xattr.list(pb)).filter((n) => !isFormXattr(n)))
    for (const name of na) {
      if (!nb.delete(name)) miss(rel, `xattr ${name} only in a`)
      else {
        const [va, vb] = [await fs.xattr.get(pa, name), await fs.xattr.get(pb, name)]
        if (va === undefined || vb === undefined || Buffer.compare(va, vb) !== 0) miss(rel, `xattr ${name} differs`)
      }
    }
    for (const name of [...nb].sort()) miss(rel, `xattr ${name} only in b`)
  }

  try {
    const [ra, rb] = [await fs.lstat(a), await fs.lstat(b)]
    if (ra?.kind !== 'dir' || rb?.kind !== 'dir') {
      miss('.', `${ra ? `a ${ra.kind}` : 'missing'} in a, ${rb ? `a ${rb.kind}` : 'missing'} in b; layers are directories`)
      return out
    }
    for await (const { path: dirA, rel, entries } of walkDirectories(fs, a)) {
      throwIfAborted(options.signal, 'the comparison of two layers')
      if (notDescended.some((d) => rel === d || rel.startsWith(`${d}/`))) continue
      const here = rel === '' ? '.' : rel
      const dirB = rel === '' ? b : `${b}/${rel}`
      const viewA = await overlayView(fs, dirA, entries, aForm)
      const viewB = await overlayView(fs, dirB, await fs.readdir(dirB), bForm)
      await compareInodes(here, dirA, dirB, false)
      const [opaqueA, opaqueB] = [
        await isOpaqueInView(fs, dirA, viewA.markerOpaque, aForm, rel === ''),
        await isOpaqueInView(fs, dirB, viewB.markerOpaque, bForm, rel === ''),
      ]
      if (opaqueA !== opaqueB) miss(here, `${opaqueA ? 'opaque' : 'not opaque'} in a, ${opaqueB ? 'opaque' : 'not opaque'} in b`)

      const names = [...new Set([...viewA.children.keys(), ...viewB.children.keys()])].sort()
      for (const name of names) {
        const childRel = rel === '' ? name : `${rel}/${name}`
        const [ea, eb] = [viewA.children.get(name), viewB.children.get(name)]
        if (ea?.kind === 'dir' && eb?.kind !== 'dir') notDescended.push(childRel)
        if (ea === undefined || eb === undefined) {
          const [kind, side] = ea ? [ea.kind, 'a'] : [eb!.kind, 'b']
          miss(childRel, `${kind === 'whiteout' ? 'a whiteout' : `a ${kind}`} only in ${side}`)
        } else if ((ea.kind === 'whiteout') !== (eb.kind === 'whiteout') || (ea.kind === 'dir') !== (eb.kind === 'dir')) {
          const say = (k: ViewEntry['kind']): string => (k === 'whiteout' ? 'a whiteout' : `a ${k}`)
          miss(childRel, `${say(ea.kind)} in a, ${say(eb.kind)} in b`)
        } else if (ea.kind !== 'dir') await compareInodes(childRel, ea.path, eb.path, ea.kind === 'whiteout')
      }
    }
  } catch (err) {
    if (!(err instanceof Enough)) throw err
  }
  return out
}

const sameInode = (a: Inode, b: Inode): boolean => a.ino === b.ino && a.dev.major === b.dev.major && a.dev.minor === b.dev.minor

/** The first path this comparison met of the entry's hard-link group (its own path when it is the first, or alone). */
function firstOfGroup(groups: Map<string, string>, inode: Inode, rel: string): string {
  if (inode.nlink <= 1) return rel
  const key = inodeKey(inode)
  const first = groups.get(key)
  if (first !== undefined) return first
  groups.set(key, rel)
  return rel
}

async function digest(fs: FsPort, path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of fileData(fs, path)) hash.update(chunk)
  return hash.digest('hex')
}
