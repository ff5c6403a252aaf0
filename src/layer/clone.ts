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
import { errnoError, ExitCode, isErrno, LayerfsckError } from '../errors.js'
import { escapeName } from '../fs/name-bytes.js'
import type { DevNo, DirEntry, FsPort, Inode, InodeKind, InspectOptions, Inspected, TreeListing } from '../fs/port.js'
import { inodeKey, sameDevNo } from '../fs/port.js'
import { childPath, childRel, inspectRest, READ_AHEAD, startTreeListing, walkParts, walkPreorderRuns, type ListedDirectory, type PreorderDirectory } from '../fs/walk.js'
import { applyAufsPlan, isListedWhiteout, isOpaqueDir, planAufsDir, type AufsAction, type ConvertReport, type OpaqueXattr, type WhiteoutForm } from './whiteout-codec.js'
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

function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new LayerfsckError('CANCELLED', `cancelled during ${what}`, { exitCode: ExitCode.cancelled })
}

/**
 * An aufs-form marker is created fresh even when files are hard-linked: the
 * codec writes markers in place (overlay → aufs truncates and chmods one it
 * finds), and that must never reach the source's inode. Unless the caller
 * says the clone's markers are only ever read and removed
 * (`CloneOptions.linkMarkers`).
 */
const isMarkerName = (name: string): boolean => name.startsWith(WHITEOUT_PREFIX)

// --- clone -------------------------------------------------------------------

export interface CloneOptions {
  /** Copy file data instead of hard-linking the source's files. */
  copy?: boolean
  /**
   * Hard-link `.wh.` files too. Only for a clone whose markers nothing
   * writes in place: one converted to the overlay form (in place, the codec
   * reads a marker's owner and time, then unlinks it; with `toOverlay`, the
   * markers it converts are never made and those it leaves stay as they
   * are) or not converted at all. A marker made afresh cost an open, an
   * owner, a mode and a time each.
   */
  linkMarkers?: boolean
  /** Checked between the entries it makes and between runs of linked files: a cancelled clone stops there, and its caller removes the partial target. */
  signal?: AbortSignal
  /** Called once the root is made and after each run of a directory's entries (see walkPreorderRuns), with the counts so far. */
  onProgress?: (p: { entries: number; bytes: number }) => void
  /**
   * Converts an aufs-form source to the overlay form as the clone is made:
   * each directory by the codec's plan of its listing (`applyAufsPlan`), once
   * the walk has left it. The markers the plan acts on are never made, so the
   * clone needs no second walk and no link and unlink per marker. Its
   * counts are in `CloneReport.conversion`.
   */
  toOverlay?: { opaqueXattr?: OpaqueXattr }
}

export interface CloneReport {
  /** Every entry of the source, the root included, a marker `toOverlay` converted too. */
  entries: number
  /** Regular files, hard-linked or copied. */
  files: number
  /** Directories, the root included. */
  dirs: number
  /** Entries made with link(2): to the source's file, or to the first clone of their hard-link group. */
  hardLinked: number
  copiedBytes: number
  /** Symlinks, devices and fifos (not the whiteouts `toOverlay` made). */
  specials: number
  /** What `toOverlay` converted, as the codec counts it. */
  conversion?: ConvertReport
}

/** A directory of the source as the clone walks it, with what converting it means when the clone converts. */
type CloneDirectory = PreorderDirectory & { plan?: readonly AufsAction[]; notMade?: ReadonlySet<string> }

/**
 * Clones `source` (a layer tree) to `target`, which must not exist and is
 * created. Regular files are hard links of the source's (layers are
 * read-only, and nothing here changes a shared inode), or copies with
 * `copy`; everything else, and every aufs-form marker (unless
 * `linkMarkers`), is created fresh like its source entry. Hard-link groups
 * of the source stay groups.
 * Directory mtimes are set last, children first. Symlinks are never
 * followed. The clone keeps the source's whiteout form unless `toOverlay`
 * says to convert it on the way; convertLayer converts one in place.
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
  const conversion: ConvertReport | undefined = options.toOverlay ? { from: 'aufs', to: 'overlay', whiteouts: 0, opaqueDirs: 0, dirs: 0, notes: [] } : undefined
  const opaqueXattr = options.toOverlay?.opaqueXattr ?? 'trusted.overlay.opaque'
  if (conversion) report.conversion = conversion

  /** Source inode → the first path of its group in the target, for groups the clone cannot get by linking the source. */
  const groups = new Map<string, string>()
  /** Link batches on their way (each a directory's run of files), oldest first, and how many were sent and have landed. */
  const linking: Promise<void>[] = []
  let sent = 0
  let landedCount = 0
  /**
   * Directories the walk has left, children first, each with the number of batches sent by then: its mtime is
   * set once those landed, as a link into it would move it again. Waiting for them when the walk left it
   * emptied the threadpool at every directory, and the main thread waited with it.
   */
  const closed: { path: string; mtimeNs: bigint; after: number }[] = []
  const setTimesLanded = async (): Promise<void> => {
    while (closed.length > 0 && closed[0]!.after <= landedCount) {
      const d = closed.shift()!
      await fs.lutimes(d.path, d.mtimeNs, d.mtimeNs)
    }
  }
  const landOne = async (): Promise<void> => {
    await linking.shift()
    landedCount += 1
    await setTimesLanded()
  }
  /** The directories on the path to the current entry, whose mtimes wait for their last child; `listed` once the walk is in it. */
  type Open = { rel: string; path: string; mtimeNs: bigint; listed?: CloneDirectory }
  const open: Open[] = [{ rel: '', path: target, mtimeNs: rootInode.mtimeNs }]
  /** Every entry of a directory the walk left is made (its files maybe still linking): what converting it needs, it has. */
  const leave = async (done: Open): Promise<void> => {
    if (conversion !== undefined) {
      conversion.dirs += 1
      const plan = done.listed?.plan
      if (plan !== undefined && plan.length > 0) await applyAufsPlan(fs, done.path, plan, conversion, { opaqueXattr, markersIn: done.listed!.path })
    }
    closed.push({ path: done.path, mtimeNs: done.mtimeNs, after: sent })
  }
  const closeDirsNotAbove = async (rel: string): Promise<void> => {
    while (open.length > 1 && !rel.startsWith(`${open[open.length - 1]!.rel}/`)) await leave(open.pop()!)
    await setTimesLanded()
  }
  options.onProgress?.({ entries: report.entries, bytes: report.copiedBytes })

  try {
    // Pre-order in runs (a directory's entries up to its next subdirectory): a directory is finished exactly when the walk leaves it.
    for await (const run of walkPreorderRuns<CloneDirectory>(fs, source, conversion ? { listing: planned } : {})) {
      throwIfAborted(options.signal, `the clone of ${escapeName(source)}`)
      const from = run.dir.path
      const into = run.dir.rel === '' ? target : `${target}/${run.dir.rel}`
      await closeDirsNotAbove(childRel(run.dir.rel, run.entries[0]!.name))
      // The walk is in the directory made last on the way down: the one its runs fill.
      const here = open[open.length - 1]!
      if (here.rel !== run.dir.rel) throw new Error(`clone: the walk is in ${escapeName(run.dir.rel)}, the clone in ${escapeName(here.rel)}`)
      here.listed = run.dir
      const notMade = run.dir.notMade
      // Files to hard-link are linked by name in one call per run, on the threadpool, and never lstat'ed:
      // link(2) takes whatever inode the name holds, which is all the clone needs of it (a comparison after
      // it reads both names anyway). The rest of the run is made meanwhile.
      const names: string[] = []
      for (const e of run.entries) {
        report.entries += 1
        // A marker the conversion replaces: what it says is made when the walk leaves the directory.
        if (notMade !== undefined && notMade.has(e.name)) continue
        if (e.kind === 'file' && !options.copy && (options.linkMarkers === true || !isMarkerName(e.name))) {
          names.push(e.name)
          continue
        }
        // Checked between entries made here (a copied file can take long); the linked ones go out as one call.
        throwIfAborted(options.signal, `the clone of ${escapeName(source)}`)
        const path = childPath(from, e.name)
        const to = childPath(into, e.name)
        const inode = await fs.lstat(path)
        if (inode === undefined) throw vanished(path)
        if (inode.kind === 'dir') report.dirs += 1
        else if (inode.kind === 'file') report.files += 1
        else report.specials += 1

        if (inode.kind !== 'dir' && inode.nlink > 1 && groups.has(inodeKey(inode))) {
          await fs.link(groups.get(inodeKey(inode))!, to)
          report.hardLinked += 1
        } else {
          const like = await likeOf(fs, path, inode)
          const data = inode.kind === 'file' && inode.size > 0 ? counted(fileData(fs, path), (n) => (report.copiedBytes += n)) : undefined
          await createLike(fs, to, like, data ? { data } : {})
          if (inode.kind === 'dir') open.push({ rel: childRel(run.dir.rel, e.name), path: to, mtimeNs: inode.mtimeNs })
          else if (inode.nlink > 1) groups.set(inodeKey(inode), to)
        }
      }
      if (names.length > 0) {
        report.files += names.length
        report.hardLinked += names.length
        const batch = linkRun(fs, from, into, names, target)
        // Seen when the clone waits for it, or when the clone ends by an error first.
        batch.catch(() => {})
        linking.push(batch)
        sent += 1
        // Two runs' links in flight keep the threadpool busy while the main thread makes the next run.
        if (linking.length > 2) await landOne()
      }
      options.onProgress?.({ entries: report.entries, bytes: report.copiedBytes })
    }
    while (open.length > 0) await leave(open.pop()!)
    while (linking.length > 0) await landOne()
    await setTimesLanded()
  } catch (err) {
    // Links still on their way would land in a tree the caller is about to remove.
    await Promise.allSettled(linking)
    throw err
  }
  return report
}

/** A listed directory with the codec's plan for it, and the markers the plan makes something else of. */
function planned(dir: PreorderDirectory): CloneDirectory {
  const plan = planAufsDir(dir.entries)
  if (plan.length === 0) return dir
  const notMade = new Set<string>()
  for (const a of plan) if (a.op !== 'leave') notMade.add(a.marker)
  return { ...dir, plan, notMade }
}

/** Links a run's files into the clone; what one name met is thrown as the clone's own error for it. */
async function linkRun(fs: FsPort, from: string, into: string, names: string[], target: string): Promise<void> {
  let answers: (string | undefined)[]
  try {
    answers = await fs.linkNames(from, into, names)
  } catch (err) {
    // The source directory itself gone since it was listed: the layer changed, as for a file.
    if (isErrno(err, 'ENOENT') && err.path === from && (await fs.lstat(from)) === undefined) throw vanished(from)
    throw err
  }
  for (let i = 0; i < names.length; i++) {
    const code = answers[i]
    if (code === undefined) continue
    const path = childPath(from, names[i]!)
    if (code === 'ENOENT' && (await fs.lstat(path)) === undefined) throw vanished(path)
    const err = errnoError(code, 'link', path, childPath(into, names[i]!))
    if (code !== 'EXDEV') throw err
    throw new LayerfsckError('CLONE_CROSS_DEVICE', `cannot hard-link ${escapeName(path)} into ${escapeName(target)}: another filesystem`, {
      cause: err,
      hint: 'build the clone on the source\'s filesystem, or copy the data (--copy)',
    })
  }
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
  /** Data bytes of the regular files, each hard-link group once: what a copying clone writes (0 without `sizes`). */
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

export interface PlanOptions {
  /**
   * Size the regular files (`bytes`, an inspect per directory), as by default.
   * False leaves `bytes` 0: a hard-linking migration writes no file data,
   * and learns the bytes from its comparison (`CompareOptions.tally`).
   */
  sizes?: boolean
  /** The walk's first part, already asked for (`planListing`): a census of many trees reads the next one's ahead. */
  first?: Promise<TreeListing>
}

/** Asks for the first part of `planTree`'s walk of root, with the same options. */
export const planListing = (fs: FsPort, root: string, options: PlanOptions = {}): Promise<TreeListing> =>
  startTreeListing(fs, root, READ_AHEAD, { skipPlainFiles: options.sizes === false })

/**
 * A read-only census of a layer tree for a dry run, in one walk: stat only
 * where a number needs it (file sizes, an inspect per directory; a char
 * device the listing gave no number), xattrs listed only on directories.
 */
export async function planTree(fs: FsPort, root: string, options: PlanOptions = {}): Promise<TreePlan> {
  const sizes = options.sizes !== false
  const plan: TreePlan = { entries: 1, files: 0, dirs: 1, bytes: 0, aufsWhiteouts: 0, aufsOpaque: 0, overlayWhiteouts: 0, overlayOpaque: 0 }
  const seenGroups = new Set<string>()
  // Listed on the threadpool ahead of the count; without sizes, a directory's plain files are only counted.
  for await (const listed of walkParts(fs, root, READ_AHEAD, { skipPlainFiles: !sizes, ...(options.first ? { first: options.first } : {}) })) {
    for (const { path, entries, count } of listed) {
      if (await isOpaqueDir(fs, path)) plan.overlayOpaque += 1
      for (const a of planAufsDir(entries)) {
        if (a.op === 'whiteout') plan.aufsWhiteouts += 1
        else if (a.op === 'opaque' || (a.op === 'shadowed' && a.targetKind === 'dir')) plan.aufsOpaque += 1
      }
      plan.entries += count
      let others = 0
      const files: string[] = []
      for (const e of entries) {
        if (e.kind === 'file') {
          if (sizes) files.push(e.name)
          continue
        }
        others += 1
        if (e.kind === 'dir') plan.dirs += 1
        else if (await isListedWhiteout(fs, path, e)) plan.overlayWhiteouts += 1
      }
      plan.files += count - others
      for (let from = 0; from < files.length; from += WINDOW) {
        const part = files.length <= WINDOW ? files : files.slice(from, from + WINDOW)
        for (const [i, x] of (await inspectAll(fs, path, part, {})).entries()) {
          const inode = x.inode
          if (inode === undefined) {
            // Gone since it was listed: not counted, as an lstat would have said.
            if (x.errno === undefined || x.errno === 'ENOENT') continue
            throw errnoError(x.errno, x.syscall ?? 'lstat', childPath(path, part[i]!))
          }
          if (inode.nlink > 1) {
            const key = inodeKey(inode)
            if (seenGroups.has(key)) continue
            seenGroups.add(key)
          }
          plan.bytes += inode.size
        }
      }
    }
  }
  return plan
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
  /**
   * Counts, as the comparison goes, the data bytes of a's regular files,
   * each inode once (a hard-link group at its first name, an aufs marker as
   * itself): a census's `bytes`, for a caller that did not size its files.
   * Whole when the comparison found no mismatch.
   */
  tally?: { bytes: number }
}

/** An entry of a directory as the overlay view sees it. */
interface ViewEntry {
  /** Its name in the directory: for an aufs whiteout, the `.wh.` marker's. */
  name: string
  /** As listed; whether an overlay-form char device is a whiteout is known from its number (`viewKind`). */
  kind: InodeKind | 'whiteout'
  /** A listed device's number, where the listing gave it. */
  rdev?: DevNo
  /** The listed inode number, where the listing gave it (`ListTreeOptions.inodes`). */
  ino?: number
}

/**
 * One directory's listing as overlayfs would read it once the tree is in
 * overlay form: what `aufsToOverlay` makes of an aufs-form listing (the
 * codec's own per-directory rule, `planAufsDir`), an overlay-form listing as
 * it is. A `none`-form tree (a copy-backend rootfs) means nothing by any name
 * or device.
 */
interface View {
  children: Map<string, ViewEntry>
  /** An aufs opaque marker inside. */
  markerOpaque: boolean
  /** The aufs markers the view drops (the opaque marker, a marker beside the name it shadows): inspected on side a for the tally only. */
  dropped: string[]
  /** The `.wh.` files listed (aufs form, only when there are any): a subdirectory with a `.wh.<its name>` file beside it is opaque. */
  markerFiles: Set<string> | undefined
}

function viewOf(entries: readonly DirEntry[], form: WhiteoutForm): View {
  const view: View = { children: new Map(), markerOpaque: false, dropped: [], markerFiles: undefined }
  const consumed = new Set<string>()
  const whiteouts: [string, string][] = []
  if (form === 'aufs') {
    for (const a of planAufsDir(entries)) {
      if (a.op === 'leave') continue
      consumed.add(a.marker)
      if (a.op === 'whiteout') whiteouts.push([a.target, a.marker])
      else view.dropped.push(a.marker)
      // A shadowed marker is dropped; a directory it shadows is opaque, which that directory's own visit reads.
      if (a.op === 'opaque') view.markerOpaque = true
    }
    if (entries.some((e) => e.name.startsWith(WHITEOUT_PREFIX))) {
      view.markerFiles = new Set(entries.filter((e) => e.kind === 'file' && e.name.startsWith(WHITEOUT_PREFIX)).map((e) => e.name))
    }
  }
  // A listed entry is its own view entry: no object per entry.
  for (const e of entries) if (!consumed.has(e.name)) view.children.set(e.name, e)
  for (const [name, marker] of whiteouts) view.children.set(name, { name: marker, kind: 'whiteout' })
  return view
}

/**
 * An entry's kind in the view, once inspected: only the overlay form hides a
 * name with a 0/0 char device (in an aufs-form tree it is a device aufs,
 * copy and bind expose). Its number is the listing's where the adapter gave
 * it, else the inspect's.
 */
function viewKind(e: ViewEntry, x: Inspected | undefined, form: WhiteoutForm): ViewEntry['kind'] {
  if (form !== 'overlay' || e.kind !== 'char') return e.kind
  const inode = x?.inode
  const rdev = e.rdev ?? (inode?.kind === 'char' || inode?.kind === 'block' ? inode.rdev : undefined)
  return rdev !== undefined && isWhiteoutDevice({ kind: 'char', rdev }) ? 'whiteout' : 'char'
}

/** A directory's listing read on the threadpool (a `listTree` of that one directory), as readdir gives it, with inode numbers. */
async function listDir(fs: FsPort, dir: string): Promise<DirEntry[]> {
  const listed = (await fs.listTree(dir, [''], 1, { inodes: true })).dirs[0]
  if (listed === undefined) return fs.readdir(dir)
  if ('errno' in listed) throw errnoError(listed.errno, 'scandir', dir)
  return listed.entries
}

/**
 * Inspect answers of every name in dir, in order (`inspectRest`). A
 * directory gone since it was listed answers each name ENOENT, as an lstat
 * of each would.
 */
async function inspectAll(fs: FsPort, dir: string, names: readonly string[], options: InspectOptions): Promise<Inspected[]> {
  const out: Inspected[] = []
  try {
    return await inspectRest(fs, dir, names, options, out)
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err
    while (out.length < names.length) out.push({ errno: 'ENOENT', syscall: 'lstat' })
    return out
  }
}

/**
 * What the comparison asks of each entry: its lstat and a symlink's target.
 * Not its xattr names: a hard-linking clone's files (nearly every entry)
 * are one inode on both sides, whose xattrs are never compared, and an
 * llistxattr per entry cost the inspect half again; the few entries the
 * clone made fresh are listed one by one.
 */
const INSPECT: InspectOptions = { readlinks: true }

/** One side's inspect answers: `entries[i]` for the entry named `names[i]` in the view (undefined where this side has none, `LISTED_AS_A` where it was not asked), `extra` for the extra names. */
interface SideAnswers {
  entries: (Inspected | undefined)[]
  extra: Inspected[]
}

/**
 * Side b's answer for an entry whose listing names the inode side a lists
 * under that name, a regular file both (`listedAsOne`): not asked, as the
 * lstat of a's name says all an lstat of b's would, once it shows that inode
 * on b's filesystem (`compareLayerTrees`). Nearly every entry of a
 * hard-linking clone is one: an lstat fewer per file.
 */
const LISTED_AS_A: Inspected = {}

/** A regular file on both sides, listed with one inode number: the same inode when both directories are on one filesystem. */
const listedAsOne = (ea: ViewEntry | undefined, eb: ViewEntry | undefined): boolean =>
  ea !== undefined && eb !== undefined && ea.kind === 'file' && eb.kind === 'file' && ea.ino !== undefined && ea.ino === eb.ino

/**
 * Inspects one side's entries of `names` (view names) by their names in the
 * directory, and the `extra` names; with `other` (side a's view, when this is
 * side b), not the entries `listedAsOne` with a's.
 */
async function inspectSide(fs: FsPort, dir: string, view: View, names: readonly string[], extra: readonly string[], other?: View): Promise<SideAnswers> {
  const asked: string[] = [...extra]
  const at: number[] = []
  for (const name of names) {
    const e = view.children.get(name)
    const listed = other !== undefined && listedAsOne(other.children.get(name), e)
    at.push(e === undefined ? -1 : listed ? -2 : asked.length)
    if (e !== undefined && !listed) asked.push(e.name)
  }
  const answers = asked.length > 0 ? await inspectAll(fs, dir, asked, INSPECT) : []
  return { entries: at.map((i) => (i === -1 ? undefined : i === -2 ? LISTED_AS_A : answers[i])), extra: answers.slice(0, extra.length) }
}

/** Names of a directory compared per inspect of each side: a huge directory is compared in windows. */
const WINDOW = 2048
/**
 * How far the comparison reads ahead of itself: directories whose listing
 * and first window's inspects are under way (on the threadpool, on disk)
 * while the one before them is compared, up to this many entries of a, or
 * of directories. Memory is these windows, whatever the layer's size.
 */
const ENTRIES_AHEAD = 4096
const DIRS_AHEAD = 16

/** Some names of a directory, sorted, with the inspects of both sides under way. */
interface Window {
  from: number
  names: string[]
  a: Promise<SideAnswers>
  b: Promise<SideAnswers>
}

interface DirReady {
  viewA: View
  viewB: View
  /** Every name of both views, sorted. */
  names: string[]
  first: Window
}

/** A directory of the comparison, read ahead: b's listing, both views and the first window, or what reading them met. */
type DirJob = { rel: string; dirA: string; dirB: string; entries: number; ready: Promise<DirReady> } | { failed: unknown }

/** What a directory's parent read of it: whether its xattr names (listed when it was compared) hold an opaque attribute, whether a `.wh.<its name>` file is beside it. */
interface OpaqueHint {
  attr: [boolean, boolean]
  shadowed: [boolean, boolean]
}
const NO_HINT: OpaqueHint = { attr: [false, false], shadowed: [false, false] }
const namesOpaque = (names: readonly string[] | undefined): boolean => names === undefined || names.some(isFormXattr)
type XattrNames = [string[], string[]]

class Enough extends Error {}

/** An entry of side a or b is gone (ENOENT) since it was listed. */
class Vanished extends Error {
  constructor(readonly side: 'a' | 'b') {
    super(`vanished from ${side}`)
  }
}

/** One read of an entry of a side; its ENOENT says the entry vanished. */
async function read<T>(side: 'a' | 'b', call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    throw isErrno(err, 'ENOENT') ? new Vanished(side) : err
  }
}

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
 *
 * Each directory's entries are read in one inspect per side (per window of
 * a huge one), a directory's own inode with its parent's entries, and the
 * next directories are listed and inspected on the threadpool while this one
 * is compared.
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
  const tally = options.tally
  const out: Mismatch[] = []
  const miss = (path: string, what: string): void => {
    out.push({ path, what })
    if (out.length >= limit) throw new Enough()
  }
  /** Directories of `a` whose counterpart in `b` is missing or no directory: reported once, not descended. */
  const notDescended: string[] = []
  const skipped = (rel: string): boolean => notDescended.some((d) => rel === d || rel.startsWith(`${d}/`))
  const groupsA = new Map<string, string>()
  const groupsB = new Map<string, string>()
  /** Directories compared but not visited yet that may be opaque by what their parent read: only those are asked at their visit. */
  const hints = new Map<string, OpaqueHint>()
  /** Directories compared but not visited yet whose two sides are on one filesystem, by its device: b's answers `LISTED_AS_A` hold only there. */
  const dirDevs = new Map<string, DevNo>()

  /** An entry's inode from its answer: undefined when it is gone, what the lstat met otherwise. */
  const inodeOf = (x: Inspected, path: string): Inode | undefined => {
    if (x.inode !== undefined) return x.inode
    if (x.errno === undefined || x.errno === 'ENOENT') return undefined
    throw errnoError(x.errno, x.syscall ?? 'lstat', path)
  }

  /**
   * Compares one entry from its answers, reading what they lack (xattrs, bytes) as it goes: an entry gone
   * since it was inspected, which the read-ahead makes a while, is one that vanished. Returns the xattr names
   * of both sides where it listed them.
   */
  const compareInodes = async (rel: string, pa: string, pb: string, xa: Inspected, xb: Inspected, whiteout: boolean): Promise<XattrNames | undefined> => {
    try {
      return await compareInspected(rel, pa, pb, xa, xb, whiteout)
    } catch (err) {
      if (!(err instanceof Vanished)) throw err
      miss(rel, `vanished from ${err.side} during the comparison`)
      return undefined
    }
  }

  const compareInspected = async (rel: string, pa: string, pb: string, xa: Inspected, xb: Inspected, whiteout: boolean): Promise<XattrNames | undefined> => {
    const ia = inodeOf(xa, pa)
    const ib = inodeOf(xb, pb)
    if (ia === undefined || ib === undefined) throw new Vanished(ia === undefined ? 'a' : 'b')
    // One inode under both names (a hard-linking clone's file): its kind, mode, owner, times, size, bytes and
    // xattrs are one and the same, so only the link structure is left to compare. Nearly every entry of such a
    // clone is one, and its two xattr listings were half of the comparison's time.
    if (!whiteout && sameInode(ia, ib)) {
      compareGroups(rel, pa, pb, ia, ib)
      return undefined
    }
    if (ia.uid !== ib.uid || ia.gid !== ib.gid) miss(rel, `owner ${ia.uid}:${ia.gid} in a, ${ib.uid}:${ib.gid} in b`)
    if (ia.mtimeNs !== ib.mtimeNs) miss(rel, `mtime ${ia.mtimeNs} in a, ${ib.mtimeNs} in b`)
    if (whiteout) {
      // An aufs marker's bytes, which a census counts with the files.
      tallyFile(ia)
      return undefined
    }
    if (ia.kind !== ib.kind) {
      miss(rel, `a ${ia.kind} in a, a ${ib.kind} in b`)
      return undefined
    }
    if (ia.kind !== 'symlink' && ia.mode !== ib.mode) miss(rel, `mode ${octal(ia.mode)} in a, ${octal(ib.mode)} in b`)
    if ((ia.kind === 'char' || ia.kind === 'block') && devText(ia.rdev) !== devText(ib.rdev)) {
      miss(rel, `device ${devText(ia.rdev)} in a, ${devText(ib.rdev)} in b`)
    }
    if (ia.kind === 'symlink') {
      const [ta, tb] = [xa.linkname ?? (await read('a', () => fs.readlink(pa))), xb.linkname ?? (await read('b', () => fs.readlink(pb)))]
      if (ta !== tb) miss(rel, `symlink to ${escapeName(ta)} in a, to ${escapeName(tb)} in b`)
    }
    if (ia.kind === 'file') {
      if (ia.size !== ib.size) miss(rel, `size ${ia.size} in a, ${ib.size} in b`)
      else if (options.data && ia.size > 0 && (await read('a', () => digest(fs, pa))) !== (await read('b', () => digest(fs, pb)))) {
        miss(rel, 'the same size but other bytes')
      }
    }
    const names = await compareXattrs(rel, pa, pb)
    compareGroups(rel, pa, pb, ia, ib)
    return names
  }

  const compareGroups = (rel: string, pa: string, pb: string, ia: Inode, ib: Inode): void => {
    if (ia.kind === 'dir') return
    if (isLinkedPair(ia, ib, pa === pb)) return tallyFile(ia)
    const firstA = firstOfGroup(groupsA, ia, rel)
    const firstB = firstOfGroup(groupsB, ib, rel)
    if (firstA === rel) tallyFile(ia)
    if (firstA !== firstB) {
      const side = (first: string): string => (first === rel ? 'no earlier link' : `a hard link of ${first}`)
      miss(rel, `${side(firstA)} in a, ${side(firstB)} in b`)
    }
  }

  const tallyFile = (ia: Inode): void => {
    if (tally !== undefined && ia.kind === 'file') tally.bytes += ia.size
  }

  /** The xattrs but the form's; returns every name of both sides. */
  const compareXattrs = async (rel: string, pa: string, pb: string): Promise<XattrNames> => {
    const listed: XattrNames = [await read('a', () => fs.xattr.list(pa)), await read('b', () => fs.xattr.list(pb))]
    const na = listed[0].filter((n) => !isFormXattr(n)).sort()
    const nb = new Set(listed[1].filter((n) => !isFormXattr(n)))
    for (const name of na) {
      if (!nb.delete(name)) miss(rel, `xattr ${name} only in a`)
      else {
        const [va, vb] = [await read('a', () => fs.xattr.get(pa, name)), await read('b', () => fs.xattr.get(pb, name))]
        if (va === undefined || vb === undefined || Buffer.compare(va, vb) !== 0) miss(rel, `xattr ${name} differs`)
      }
    }
    for (const name of [...nb].sort()) miss(rel, `xattr ${name} only in b`)
    return listed
  }

  /** A directory's visit asks for an opaque attribute only where the names listed when it was compared say there may be one. */
  const hintOf = (listed: XattrNames | undefined, shadowedA: boolean, shadowedB: boolean): OpaqueHint => ({
    attr: [aForm !== 'none' && namesOpaque(listed?.[0]), bForm !== 'none' && namesOpaque(listed?.[1])],
    shadowed: [shadowedA, shadowedB],
  })

  /** Opaque in the overlay view: an opaque attribute, or (aufs form) a marker inside or a `.wh.<name>` file beside it. */
  const isOpaqueInView = async (dir: string, view: View, form: WhiteoutForm, attr: boolean, shadowed: boolean): Promise<boolean> => {
    if (form === 'none') return false
    if (view.markerOpaque || (attr && (await isOpaqueDir(fs, dir)))) return true
    return form === 'aufs' && shadowed
  }

  const startWindow = (dirA: string, dirB: string, viewA: View, viewB: View, names: string[], from: number): Window => {
    const part = from === 0 && names.length <= WINDOW ? names : names.slice(from, from + WINDOW)
    const window: Window = {
      from,
      names: part,
      a: inspectSide(fs, dirA, viewA, part, from === 0 && tally !== undefined ? viewA.dropped : []),
      b: inspectSide(fs, dirB, viewB, part, [], viewA),
    }
    // Seen when the window is compared, or never when the comparison stops before it.
    window.a.catch(() => {})
    window.b.catch(() => {})
    return window
  }

  const startDir = (rel: string, dirA: string, entries: readonly DirEntry[], count: number): DirJob => {
    const dirB = rel === '' ? b : `${b}/${rel}`
    const ready = (async (): Promise<DirReady> => {
      const viewA = viewOf(entries, aForm)
      const viewB = viewOf(await listDir(fs, dirB), bForm)
      const names = [...viewA.children.keys()]
      for (const name of viewB.children.keys()) if (!viewA.children.has(name)) names.push(name)
      names.sort()
      return { viewA, viewB, names, first: startWindow(dirA, dirB, viewA, viewB, names, 0) }
    })()
    ready.catch(() => {})
    return { rel, dirA, dirB, entries: count, ready }
  }

  /**
   * b's answer for an entry `LISTED_AS_A`: a's own, where a's lstat shows the listed inode on the filesystem
   * both directories are on (`dev`): b's directory entry names it too, and that entry is what b holds (a mount
   * over b's name would hide it from an lstat, not change it; the stage is this run's own). Else (a's name
   * mounted over, or gone since its listing; a side on another filesystem) b's name is inspected after all.
   */
  const answerAsA = async (ansA: Inspected, ea: ViewEntry, dirB: string, eb: ViewEntry, dev: DevNo | undefined): Promise<Inspected> => {
    const ia = ansA.inode
    if (ia !== undefined && dev !== undefined && Number(ia.ino) === ea.ino && sameDevNo(ia.dev, dev)) return ansA
    return (await inspectAll(fs, dirB, [eb.name], INSPECT))[0] ?? GONE
  }

  const compareWindow = async (rel: string, dirA: string, dirB: string, viewA: View, viewB: View, window: Window, dev: DevNo | undefined): Promise<void> => {
    const xa = await window.a
    const xb = await window.b
    for (const x of xa.extra) if (x.inode?.kind === 'file') tallyFile(x.inode)
    // Once per entry, and interpreted for a while: plain consts, where a pair destructured from an array
    // literal cost an array each until V8 optimized the loop.
    for (let i = 0; i < window.names.length; i++) {
      const name = window.names[i]!
      const ea = viewA.children.get(name)
      const eb = viewB.children.get(name)
      const ansA = ea && (xa.entries[i] ?? GONE)
      let ansB = eb && (xb.entries[i] ?? GONE)
      if (ansB === LISTED_AS_A) ansB = await answerAsA(ansA!, ea!, dirB, eb!, dev)
      const ka = ea && viewKind(ea, ansA, aForm)
      const kb = eb && viewKind(eb, ansB, bForm)
      // Nearly every entry of a hard-linking clone: one inode under the two names, told without a path or a call.
      if (isLeafEntry(ka) && isLeafEntry(kb) && ansA!.inode !== undefined && ansB!.inode !== undefined) {
        if (isLinkedPair(ansA!.inode, ansB!.inode, dirA === dirB && ea!.name === eb!.name)) {
          tallyFile(ansA!.inode)
          continue
        }
      }
      const entryRel = childRel(rel, name)
      if (ka === 'dir' && kb !== 'dir') notDescended.push(entryRel)
      if (ka === undefined || kb === undefined) {
        const [kind, side] = ka ? [ka, 'a'] : [kb!, 'b']
        miss(entryRel, `${kind === 'whiteout' ? 'a whiteout' : `a ${kind}`} only in ${side}`)
      } else if ((ka === 'whiteout') !== (kb === 'whiteout') || (ka === 'dir') !== (kb === 'dir')) {
        const say = (k: ViewEntry['kind']): string => (k === 'whiteout' ? 'a whiteout' : `a ${k}`)
        miss(entryRel, `${say(ka)} in a, ${say(kb)} in b`)
      } else {
        const listed = await compareInodes(entryRel, childPath(dirA, ea!.name), childPath(dirB, eb!.name), ansA!, ansB!, ka === 'whiteout')
        if (ka === 'dir') {
          const [da, db] = [ansA!.inode?.dev, ansB!.inode?.dev]
          if (da !== undefined && db !== undefined && sameDevNo(da, db)) dirDevs.set(entryRel, da)
          const marker = `${WHITEOUT_PREFIX}${name}`
          const hint = hintOf(listed, viewA.markerFiles?.has(marker) === true, viewB.markerFiles?.has(marker) === true)
          if (hint.attr.some(Boolean) || hint.shadowed.some(Boolean)) hints.set(entryRel, hint)
        }
      }
    }
  }

  // A part at a time: a directory costs no generator hand-over of its own.
  const walk = walkParts(fs, a, READ_AHEAD, { inodes: true })
  try {
    const [ra, rb] = [await fs.lstat(a), await fs.lstat(b)]
    if (ra?.kind !== 'dir' || rb?.kind !== 'dir') {
      miss('.', `${ra ? `a ${ra.kind}` : 'missing'} in a, ${rb ? `a ${rb.kind}` : 'missing'} in b; layers are directories`)
      return out
    }
    const jobs: DirJob[] = []
    let queued = 0
    let walked = false
    /** The listing part of a being read ahead, and how far into it. */
    let part: ListedDirectory[] = []
    let at = 0
    // What the walk of a meets is thrown where it met it, after the directories before.
    const readAhead = async (): Promise<void> => {
      while (!walked && jobs.length < DIRS_AHEAD && queued < ENTRIES_AHEAD) {
        if (at === part.length) {
          try {
            const next = await walk.next()
            if (next.done) walked = true
            else [part, at] = [next.value, 0]
          } catch (failed) {
            jobs.push({ failed })
            walked = true
          }
          continue
        }
        const d = part[at++]!
        if (!skipped(d.rel)) {
          jobs.push(startDir(d.rel, d.path, d.entries, d.count))
          queued += d.count
        }
      }
    }
    for (;;) {
      await readAhead()
      const job = jobs.shift()
      if (job === undefined) break
      if ('failed' in job) throw job.failed
      queued -= job.entries
      throwIfAborted(options.signal, 'the comparison of two layers')
      const { rel, dirA, dirB } = job
      const dev = rel === '' ? (sameDevNo(ra.dev, rb.dev) ? ra.dev : undefined) : dirDevs.get(rel)
      dirDevs.delete(rel)
      // Known only once its parent was compared, which may be after it was read ahead.
      if (skipped(rel)) continue
      const { viewA, viewB, names, first } = await job.ready
      const here = rel === '' ? '.' : rel
      // A directory's own inode is compared with its parent's entries; the roots, which have none, here.
      const hint = rel === '' ? hintOf(await compareInodes(here, a, b, { inode: ra }, { inode: rb }, false), false, false) : (hints.get(rel) ?? NO_HINT)
      hints.delete(rel)
      const [opaqueA, opaqueB] = [
        await isOpaqueInView(dirA, viewA, aForm, hint.attr[0], hint.shadowed[0]),
        await isOpaqueInView(dirB, viewB, bForm, hint.attr[1], hint.shadowed[1]),
      ]
      if (opaqueA !== opaqueB) miss(here, `${opaqueA ? 'opaque' : 'not opaque'} in a, ${opaqueB ? 'opaque' : 'not opaque'} in b`)
      for (let window: Window | undefined = first; window !== undefined; ) {
        const following: Window | undefined = window.from + WINDOW < names.length ? startWindow(dirA, dirB, viewA, viewB, names, window.from + WINDOW) : undefined
        await compareWindow(rel, dirA, dirB, viewA, viewB, window, dev)
        if (following !== undefined) throwIfAborted(options.signal, 'the comparison of two layers')
        window = following
      }
    }
  } catch (err) {
    if (!(err instanceof Enough)) throw err
  } finally {
    await walk.return(undefined)
  }
  return out
}

/** A file, symlink, device, fifo or socket: neither a directory (visited on its own) nor a whiteout (compared as one). */
const isLeafEntry = (k: ViewEntry['kind'] | undefined): boolean => k !== undefined && k !== 'dir' && k !== 'whiteout'

/** The answer for a name the inspect did not carry: gone. */
const GONE: Inspected = { errno: 'ENOENT', syscall: 'lstat' }

const sameInode = (a: Inode, b: Inode): boolean => a.ino === b.ino && sameDevNo(a.dev, b.dev)

/**
 * One inode with exactly two names, one on each side (a hard-linking clone's
 * file): alone on both sides, so its link structure is the same. Not recorded
 * in the groups, or they would hold every file of such a clone.
 */
const isLinkedPair = (a: Inode, b: Inode, samePath: boolean): boolean => a.nlink === 2 && !samePath && sameInode(a, b)

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
