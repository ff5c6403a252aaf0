/**
 * A streaming tree walk that trusts directory entry kinds (d_type) and never
 * lstats on its own: at 10^5..10^6 entries a stat per file is what makes a
 * walk 10-25x slower than find (env.md §4). Callers stat only what they must.
 * Symlinks are reported, never followed. Memory is one pending-directory
 * stack, not the tree.
 */
import { errnoError, isErrno } from '../errors.js'
import { withoutPlainFiles } from './list-tree.js'
import type { DirEntry, FsPort, InodeKind, ListTreeOptions, TreeListing } from './port.js'

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
      const path = dir.path === '/' ? `/${e.name}` : `${dir.path}/${e.name}`
      const rel = dir.rel === '' ? e.name : `${dir.rel}/${e.name}`
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
  /**
   * Read the tree ahead of the caller, in parts of about this many entries
   * (`READ_AHEAD`), with `FsPort.listTree`: the next part is read (on the
   * threadpool, on disk) while the caller looks at this one, so the walk goes
   * at the pace of the slower side, not of both added. Memory is two parts.
   * Only for a walk that changes nothing: a listing is as old as its part.
   */
  readAhead?: number
  /** With readAhead: the walk's first part, already asked for (`startTreeListing`), as a pass walking many trees does for the next one. */
  first?: Promise<TreeListing>
  /** `ListTreeOptions.skipPlainFiles`: each listing without the plain files no whiteout check looks at. */
  skipPlainFiles?: boolean
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

/** Asks for the first part of a read-ahead walk of root (see `WalkDirectoriesOptions.first`). */
export function startTreeListing(fs: FsPort, root: string, readAhead: number = READ_AHEAD, options: ListTreeOptions = {}): Promise<TreeListing> {
  const part = fs.listTree(root, [''], readAhead, options)
  // Its error is seen when the walk awaits it (or never, if no walk does).
  part.catch(() => {})
  return part
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
  if (options.readAhead !== undefined) {
    yield* walkReadingAhead(fs, root, options.readAhead, options)
    return
  }
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
      if (e.kind === 'dir') stack.push({ path: path === '/' ? `/${e.name}` : `${path}/${e.name}`, rel: rel === '' ? e.name : `${rel}/${e.name}` })
    }
  }
}

async function* walkReadingAhead(
  fs: FsPort,
  root: string,
  readAhead: number,
  options: WalkDirectoriesOptions,
): AsyncGenerator<ListedDirectory> {
  const pathOf = (rel: string): string => (rel === '' ? root : root === '/' ? `/${rel}` : `${root}/${rel}`)
  const listOptions = { skipPlainFiles: options.skipPlainFiles === true }
  let next: Promise<TreeListing> | undefined = options.first ?? startTreeListing(fs, root, readAhead, listOptions)
  while (next !== undefined) {
    const part: TreeListing = await next
    next = undefined
    if (part.pending.length > 0) {
      next = fs.listTree(root, part.pending, readAhead, listOptions)
      next.catch(() => {})
    }
    for (const dir of part.dirs) {
      const path = pathOf(dir.rel)
      if ('entries' in dir) {
        yield { path, rel: dir.rel, entries: dir.entries, count: dir.count }
        continue
      }
      const err = errnoError(dir.errno, 'scandir', path)
      if (options.onUnreadable === undefined || !isErrno(err, 'EACCES', 'EPERM')) throw err
      options.onUnreadable(path, err)
    }
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

/**
 * Strict pre-order in name order: a directory, then everything below it,
 * then its next sibling. What a deterministic tar needs (each directory's
 * entry before its contents, one stable order). Memory is one sorted
 * listing per level of depth.
 */
export async function* walkPreorder(
  fs: FsPort,
  root: string,
  options: { sortKey?: (e: DirEntry) => string } = {},
): AsyncGenerator<WalkEntry> {
  const listing = (path: string): Promise<DirEntry[]> => sortedListing(fs, path, options.sortKey)
  const stack: { path: string; rel: string; entries: DirEntry[]; next: number }[] = [
    { path: root, rel: '', entries: await listing(root), next: 0 },
  ]
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!
    if (top.next >= top.entries.length) {
      stack.pop()
      continue
    }
    const e = top.entries[top.next++]!
    const path = top.path === '/' ? `/${e.name}` : `${top.path}/${e.name}`
    const rel = top.rel === '' ? e.name : `${top.rel}/${e.name}`
    yield { path, rel, name: e.name, kind: e.kind }
    if (e.kind === 'dir') stack.push({ path, rel, entries: await listing(path), next: 0 })
  }
}
