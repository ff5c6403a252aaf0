/**
 * A streaming tree walk that trusts directory entry kinds (d_type) and never
 * lstats on its own: at 10^5..10^6 entries a stat per file is what makes a
 * walk 10-25x slower than find (env.md §4). Callers stat only what they must.
 * Symlinks are reported, never followed. Memory is one pending-directory
 * stack, not the tree.
 */
import { errnoError, isErrno, LayerfsckError } from '../errors.js'
import { withoutPlainFiles } from './list-tree.js'
import { escapeName } from './name-bytes.js'
import type { DirEntry, FsPort, InodeKind, InspectOptions, Inspected, ListTreeOptions, TreeListing } from './port.js'

/** An entry's absolute path from its directory's. */
export const childPath = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`)
/** An entry's path relative to the walk root from its directory's ('' for the root). */
export const childRel = (rel: string, name: string): string => (rel === '' ? name : `${rel}/${name}`)

export interface WalkEntry {
  /** Absolute path. */
  path: string
  /** Path relative to the walk root, without a leading slash. */
  rel: string
  name: string
  kind: InodeKind
}

export interface WalkOptions {
  /** Visit children in name order (deterministic output costs a sort per directory). */
  sorted?: boolean
  /** Return false to skip a directory's contents (the directory itself is still yielded). */
  descend?: (entry: WalkEntry) => boolean
}

export async function* walkTree(fs: FsPort, root: string, options: WalkOptions = {}): AsyncGenerator<WalkEntry> {
  const stack: { path: string; rel: string }[] = [{ path: root, rel: '' }]
  while (stack.length > 0) {
    const dir = stack.pop()!
    let entries: DirEntry[] = await fs.readdir(dir.path)
    if (options.sorted) entries = entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    const subdirs: { path: string; rel: string }[] = []
    for (const e of entries) {
      const path = childPath(dir.path, e.name)
      const rel = childRel(dir.rel, e.name)
      const entry: WalkEntry = { path, rel, name: e.name, kind: e.kind }
      yield entry
      if (e.kind === 'dir' && (options.descend?.(entry) ?? true)) subdirs.push({ path, rel })
    }
    // Reverse so that the stack pops subdirectories in listing order.
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!)
  }
}

export interface WalkDirectoriesOptions {
  /**
   * Called for a directory this process may not list (EACCES, EPERM): the
   * walk skips it, with everything below it, and goes on; the callback may
   * throw to stop the walk. Without it, the error is thrown.
   */
  onUnreadable?: (path: string, err: unknown) => void
  /** `ListTreeOptions.skipPlainFiles`: each listing without the plain files no whiteout check looks at. */
  skipPlainFiles?: boolean
}

export interface WalkPartsOptions extends WalkDirectoriesOptions {
  /** The walk's first part, already asked for (`startTreeListing`), as a pass walking many trees does for the next one. */
  first?: Promise<TreeListing>
  /** `ListTreeOptions.inodes`: each entry's inode number where the filesystem lists it right. */
  inodes?: boolean
}

/** A directory as a walk hands it out: its listing (see `skipPlainFiles`) and how many entries it has. */
export interface ListedDirectory {
  path: string
  rel: string
  entries: DirEntry[]
  count: number
}

/** Entries in a part of a read-ahead walk: enough to keep a thread busy, small enough to keep memory flat. */
export const READ_AHEAD = 8192

/** Asks for the first part of a read-ahead walk of root (see `WalkPartsOptions.first`). */
export function startTreeListing(fs: FsPort, root: string, readAhead: number = READ_AHEAD, options: ListTreeOptions = {}): Promise<TreeListing> {
  const part = fs.listTree(root, [''], readAhead, options)
  // Its error is seen when the walk awaits it (or never, if no walk does).
  part.catch(() => {})
  return part
}

/**
 * Each of `items` with the first part of its tree's read-ahead walk
 * (`start`, say `startTreeListing`) already asked for, the next `depth`
 * items' asked for as it is handed out: a pass over many trees keeps threads
 * listing the next ones while it walks this one, instead of a threadpool
 * round trip per tree. Each listing is asked for once, in order; the
 * generator holds only those not handed out yet. `start`'s promise must
 * carry its own catch, as `startTreeListing`'s does: one asked for ahead may
 * never be awaited if the pass stops.
 */
export function* withListingsAhead<T>(items: readonly T[], start: (item: T) => Promise<TreeListing>, depth = 1): Generator<[T, Promise<TreeListing>]> {
  const queue: Promise<TreeListing>[] = []
  let asked = 0
  for (const item of items) {
    while (asked < items.length && queue.length <= depth) queue.push(start(items[asked++]!))
    yield [item, queue.shift()!]
  }
}

/**
 * Each directory of a tree with its listing, the root first, for work that
 * is decided per directory (whiteouts are judged by their siblings). The
 * subdirectories come from the listing handed out, so a caller may change
 * the files of the directory it holds before the walk goes on.
 */
export async function* walkDirectories(
  fs: FsPort,
  root: string,
  options: WalkDirectoriesOptions = {},
): AsyncGenerator<ListedDirectory> {
  const stack = [{ path: root, rel: '' }]
  while (stack.length > 0) {
    const { path, rel } = stack.pop()!
    let entries: DirEntry[]
    try {
      entries = await fs.readdir(path)
    } catch (err) {
      if (options.onUnreadable === undefined || !isErrno(err, 'EACCES', 'EPERM')) throw err
      options.onUnreadable(path, err)
      continue
    }
    yield { path, rel, entries: options.skipPlainFiles ? withoutPlainFiles(entries) : entries, count: entries.length }
    for (const e of entries) {
      if (e.kind === 'dir') stack.push({ path: childPath(path, e.name), rel: childRel(rel, e.name) })
    }
  }
}

/**
 * `walkDirectories`, read ahead of the caller and handed out a listing part
 * at a time: `FsPort.listTree` lists parts of about `readAhead` entries, and
 * the next part is read (on the threadpool, on disk) while the caller looks
 * at this one, so the walk goes at the pace of the slower side, not of both
 * added. Memory is two parts. Only for a walk that changes nothing: a
 * listing is as old as its part. The directories come in walk order; an
 * async generator's hand-over costs a few allocations and a microtask, once
 * per part instead of once per directory. A directory the part could not
 * list splits it: the directories before it are handed out first, then it
 * goes to `onUnreadable` or is thrown, where a walk by directory meets it.
 */
export async function* walkParts(
  fs: FsPort,
  root: string,
  readAhead: number = READ_AHEAD,
  options: WalkPartsOptions = {},
): AsyncGenerator<ListedDirectory[]> {
  const pathOf = (rel: string): string => (rel === '' ? root : childPath(root, rel))
  const listOptions: ListTreeOptions = { skipPlainFiles: options.skipPlainFiles === true, inodes: options.inodes === true }
  let next: Promise<TreeListing> | undefined = options.first ?? startTreeListing(fs, root, readAhead, listOptions)
  while (next !== undefined) {
    const part: TreeListing = await next
    next = undefined
    if (part.pending.length > 0) {
      next = fs.listTree(root, part.pending, readAhead, listOptions)
      next.catch(() => {})
    }
    let listed: ListedDirectory[] = []
    for (const dir of part.dirs) {
      const path = pathOf(dir.rel)
      if ('entries' in dir) {
        listed.push({ path, rel: dir.rel, entries: dir.entries, count: dir.count })
        continue
      }
      if (listed.length > 0) yield listed
      listed = []
      const err = errnoError(dir.errno, 'scandir', path)
      if (options.onUnreadable === undefined || !isErrno(err, 'EACCES', 'EPERM')) throw err
      options.onUnreadable(path, err)
    }
    if (listed.length > 0) yield listed
  }
}

/** Code-unit order: the C locale's byte order for ASCII names, and stable for any. */
export const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

/** A directory's entries in the order of their `sortKey` (the name unless given), by `byName`. */
export async function sortedListing(fs: FsPort, path: string, sortKey: (e: DirEntry) => string = (e) => e.name): Promise<DirEntry[]> {
  return (await fs.readdir(path))
    .map((e) => ({ e, name: sortKey(e) }))
    .sort(byName)
    .map((x) => x.e)
}

/** A directory of a pre-order walk, as the walk goes through it: its entries in walk order. */
export interface PreorderDirectory {
  path: string
  rel: string
  entries: DirEntry[]
}

/**
 * Names in a run at most: a huge directory goes in parts, so that one
 * inspect answer (`InspectOptions.maxBytes`) or two hold a run.
 */
export const PREORDER_RUN_NAMES = 4096

export interface PreorderRunsOptions<D extends PreorderDirectory = PreorderDirectory> {
  /** What each entry sorts by, by `byName` (its name unless given). */
  sortKey?: (e: DirEntry) => string
  /**
   * What the walk keeps of a directory's sorted listing: the caller may
   * leave entries out (the walk neither hands them out nor goes below them)
   * and note what it needs of the whole listing once it reaches the
   * directory. Called once per directory, when the walk lists it.
   */
  listing?: (dir: PreorderDirectory) => D
  /** Start `fs.inspect` of each run's names as the run is planned, so that the threadpool reads while the caller works. */
  inspect?: InspectOptions
  /** Runs planned (their inspect started) past the one the caller holds: 0 unless given. */
  runsAhead?: number
  /** `PREORDER_RUN_NAMES` unless given. */
  namesPerRun?: number
}

/**
 * Entries of one directory next to each other in walk order. A run ends
 * with the first subdirectory, whose contents come next, so its answer is
 * used up before the walk goes below it: per level of depth the walk holds
 * a listing, never an answer.
 */
export interface PreorderRun<D extends PreorderDirectory = PreorderDirectory> {
  dir: D
  entries: DirEntry[]
  /** The entries' names, as inspect was asked for them. */
  names: string[]
  /**
   * With `inspect`: its answer for `names`, started when the run was
   * planned. It may stop short of them (`InspectOptions.maxBytes`), and the
   * caller asks again for the rest: the walk holds one answer per run.
   */
  answer?: Promise<Inspected[]>
  /**
   * The subdirectory the run ends with, listed when the run was planned,
   * or why it could not be: then no run is planned after this one, and the
   * walk throws `failed` when asked for the next, where a lazy walk would
   * have listed it (after the directory's own entry).
   */
  child?: { dir: D } | { failed: unknown }
}

/**
 * The answers for all of `names` in `dir`, after those already `answered`
 * (a run's answer, say): an answer stops short once it carries its bytes'
 * worth (`InspectOptions.maxBytes`), and the names after it are asked for
 * again. Appends to `answered` and returns it.
 */
export async function inspectRest(
  fs: FsPort,
  dir: string,
  names: readonly string[],
  options: InspectOptions,
  answered: Inspected[] = [],
): Promise<Inspected[]> {
  while (answered.length < names.length) {
    const answer = await fs.inspect(dir, answered.length === 0 ? names : names.slice(answered.length), options)
    // Every answer holds at least one name; one that held none would be asked again forever.
    if (answer.length === 0) throw new LayerfsckError('INSPECT', `${escapeName(dir)}: an inspect answered no name`)
    for (const x of answer) answered.push(x)
  }
  return answered
}

/**
 * Strict pre-order in runs: a directory's entries in sort order, each
 * subdirectory's contents right after its entry. The order depends on
 * listings only, so runs are planned ahead of the caller and their inspect
 * calls read while it works on the run before. Memory is one listing per
 * level of depth (and those of the runs ahead) and `runsAhead` + 1 answers.
 */
export function walkPreorderRuns<D extends PreorderDirectory = PreorderDirectory>(
  fs: FsPort,
  root: string,
  options: PreorderRunsOptions<D> & { inspect: InspectOptions },
): AsyncGenerator<PreorderRun<D> & { answer: Promise<Inspected[]> }>
export function walkPreorderRuns<D extends PreorderDirectory = PreorderDirectory>(
  fs: FsPort,
  root: string,
  options?: PreorderRunsOptions<D>,
): AsyncGenerator<PreorderRun<D>>
export async function* walkPreorderRuns<D extends PreorderDirectory>(
  fs: FsPort,
  root: string,
  options: PreorderRunsOptions<D> = {},
): AsyncGenerator<PreorderRun<D>> {
  const namesPerRun = options.namesPerRun ?? PREORDER_RUN_NAMES
  const runsAhead = options.runsAhead ?? 0
  if (!Number.isSafeInteger(namesPerRun) || namesPerRun < 1) throw new RangeError(`a run holds at least one name, not ${namesPerRun}`)
  if (!Number.isSafeInteger(runsAhead) || runsAhead < 0) throw new RangeError(`runs ahead: a count, not ${runsAhead}`)
  const keep = options.listing ?? ((dir: PreorderDirectory) => dir as D)
  const list = async (path: string, rel: string): Promise<D> => keep({ path, rel, entries: await sortedListing(fs, path, options.sortKey) })

  const stack: { dir: D; next: number }[] = [{ dir: await list(root, ''), next: 0 }]
  let stopped = false
  const plan = async (): Promise<PreorderRun<D> | undefined> => {
    while (!stopped && stack.length > 0) {
      const top = stack[stack.length - 1]!
      const all = top.dir.entries
      if (top.next >= all.length) {
        stack.pop()
        continue
      }
      const start = top.next
      let end = start
      while (end < all.length && end - start < namesPerRun) if (all[end++]!.kind === 'dir') break
      top.next = end
      const entries = all.slice(start, end)
      const names = entries.map((e) => e.name)
      const run: PreorderRun<D> = { dir: top.dir, entries, names }
      if (options.inspect !== undefined) {
        run.answer = fs.inspect(top.dir.path, names, options.inspect)
        // Seen when the caller takes the run, or never when it stops before.
        run.answer.catch(() => {})
      }
      const last = entries[entries.length - 1]!
      if (last.kind === 'dir') {
        try {
          const dir = await list(childPath(top.dir.path, last.name), childRel(top.dir.rel, last.name))
          stack.push({ dir, next: 0 })
          run.child = { dir }
        } catch (failed) {
          run.child = { failed }
          stopped = true
        }
      }
      return run
    }
    return undefined
  }

  const ahead: PreorderRun<D>[] = []
  for (;;) {
    while (ahead.length <= runsAhead) {
      const planned = await plan()
      if (planned === undefined) break
      ahead.push(planned)
    }
    const run = ahead.shift()
    if (run === undefined) return
    yield run
    if (run.child !== undefined && 'failed' in run.child) throw run.child.failed
  }
}

/**
 * Strict pre-order in name order: a directory, then everything below it,
 * then its next sibling. What a deterministic tar needs (each directory's
 * entry before its contents, one stable order). Memory is one sorted
 * listing per level of depth: `walkPreorderRuns` without inspect or
 * reading ahead, so a subdirectory is listed once the walk reaches the run
 * that ends with it.
 */
export async function* walkPreorder(
  fs: FsPort,
  root: string,
  options: { sortKey?: (e: DirEntry) => string } = {},
): AsyncGenerator<WalkEntry> {
  for await (const run of walkPreorderRuns(fs, root, options)) {
    for (const e of run.entries) yield { path: childPath(run.dir.path, e.name), rel: childRel(run.dir.rel, e.name), name: e.name, kind: e.kind }
  }
}
