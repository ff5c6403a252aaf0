/**
 * The facts checks share, each read once and only when a check asks. This
 * base holds what every family reads the same way: listings that record
 * what cannot be read, the one content walk, the mount table, processes,
 * credentials and the host's filesystems. A family's data (its layers,
 * images, containers, which of them are live) extends it in the family's
 * folder. Reading never follows a symlink found inside a store.
 *
 * A directory this process may not read is a fact too: it is recorded (the
 * `dir-unreadable` check reports it) and read as holding nothing, so one
 * unreadable directory neither aborts the check nor passes silently.
 */
import { ExitCode, isErrno, LayerfsckError } from '../errors.js'
import { readTextLimited } from '../fs/io.js'
import { escapeName } from '../fs/name-bytes.js'
import { dirname } from '../fs/safe-path.js'
import { byName, READ_AHEAD, startTreeListing, walkParts, type ListedDirectory } from '../fs/walk.js'
import { treeSize, type TreeSize } from '../fs/tree-size.js'
import type { Credentials, DirEntry, FsPort, Inode, MountEntry, TreeListing } from '../fs/port.js'
import { readKernelFilesystems } from '../fs/kernel-filesystems.js'
import { DEFAULT_PROC_ROOT, readProcessUses, type ProcessUse } from '../fs/processes.js'
import { usersOfMount } from './process-use.js'
import type { FormatInfo } from '../family/types.js'
import type { ContentRoot } from './types.js'

/** A directory that could not be listed, and the errno that said so. */
export interface Unreadable {
  path: string
  code: string
}

export interface Liveness {
  source: 'known-containers' | 'runtime-dir' | 'unknown'
  live: Set<string>
  /** Why liveness is unknown, in words that name the options that would give it. */
  reason?: string
}

/** A liveness source the operator named and that cannot be read: the check cannot be trusted to unmount anything. */
export class LivenessSourceError extends LayerfsckError {
  constructor(what: string, path: string, why: string) {
    super('LIVENESS_SOURCE', `${what} ${escapeName(path)} ${why}; without it nothing can be judged live, so check stops before changing anything`, {
      exitCode: ExitCode.operational,
      hint: `name the runtime's state dir or a readable container list; leave the option out only if nothing ran here`,
    })
  }
}

export function once<T>(load: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined
  return () => (p ??= load())
}

export const UNREADABLE = ['EACCES', 'EPERM']

export interface BaseDataOptions {
  procFilesystems?: string
  /** Where processes are listed, for the mounts they stand in; '/proc' by default. */
  procRoot?: string
  /** How long a leftover must be untouched before it is garbage; DEFAULT_GRACE_MS when absent. */
  graceMs?: number
}

/** An hour, as gc's --grace defaults to: a pull or a load still writing its temp dir touches it far more often. */
export const DEFAULT_GRACE_MS = 60 * 60 * 1000

/** `3 days`, `5 hours`: an age coarse enough to read. */
export function ageWords(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000))
  const steps: [number, string][] = [
    [86_400, 'day'],
    [3_600, 'hour'],
    [60, 'minute'],
  ]
  for (const [unit, name] of steps) {
    const n = Math.floor(seconds / unit)
    if (n >= 1) return `${n} ${name}${n === 1 ? '' : 's'}`
  }
  return 'under a minute'
}

/** How old a leftover is, by the newest change anywhere in it (or in its top, when asked), and how much it holds. */
export interface LeftoverAge {
  size: TreeSize
  /** Milliseconds since anything in it last changed. */
  ageMs: number
  /** Older than the grace period: garbage, not the work of a command still running. */
  pastGrace: boolean
}

/** How the contents pass lists a layer: see ContentDir.entries. */
const WALK_LISTING = { skipPlainFiles: true }

export abstract class CheckData {
  private readonly unreadableDirs = new Map<string, string>()

  constructor(
    protected readonly fs: FsPort,
    readonly store: string,
    protected readonly baseOptions: BaseDataOptions,
  ) {}

  /** The store and the other dirs the family reads (a work dir): where host facts are asked. */
  abstract roots(): string[]

  /** Every layer tree the contents pass walks, with its whiteout form. */
  abstract contentRoots(): Promise<ContentRoot[]>

  /** Reads every fixed place of the store, so that what cannot be read is recorded (for `dir-unreadable`). */
  abstract readAll(): Promise<void>

  /** Which containers are live, and from what source (read once). */
  abstract readonly liveness: () => Promise<Liveness>

  /** Whether this store is read by overlayfs (host checks ask for d_type only then). */
  abstract usesOverlay(): Promise<boolean>

  /** What the report says about how the store was read (backend, driver, liveness), as words. */
  abstract settings(): Promise<Record<string, string>>

  /**
   * The format to stamp after fixes, when this data already knows it (what
   * the family would otherwise read the store again for); undefined asks the
   * family.
   */
  async stampFormat(): Promise<FormatInfo | undefined> {
    return undefined
  }

  /**
   * Reads the inputs the operator named (a liveness source), so that a bad
   * one stops the check before any pass, lock or fix.
   */
  async validateInputs(): Promise<void> {
    await this.liveness()
  }

  /** A directory's sorted listing, or undefined when it is not a directory or cannot be read (recorded). */
  async listIfDir(path: string): Promise<DirEntry[] | undefined> {
    try {
      const inode = await this.fs.lstat(path)
      if (inode?.kind !== 'dir') return undefined
      return (await this.fs.readdir(path)).sort(byName)
    } catch (err) {
      if (!isErrno(err, ...UNREADABLE)) throw err
      this.noteUnreadable(path, err)
      return undefined
    }
  }

  /**
   * lstat for checks that ask whether something exists: 'unreadable' when a
   * directory on the way may not be searched (that directory is recorded),
   * so that a check never reports "missing" for what it could not look at.
   */
  async lstat(path: string): Promise<Inode | undefined | 'unreadable'> {
    try {
      return await this.fs.lstat(path)
    } catch (err) {
      // A file or a symlink loop on the way: nothing is there, as for lstat of a missing path.
      if (isErrno(err, 'ENOTDIR', 'ELOOP')) return undefined
      if (!isErrno(err, ...UNREADABLE)) throw err
      // The deepest ancestor that can be looked at is the one that may not be searched.
      let dir = dirname(path)
      while (dir !== '/' && (await this.fs.lstat(dir).then(() => false, () => true))) dir = dirname(dir)
      this.noteUnreadable(dir, err)
      return 'unreadable'
    }
  }

  /** Records a directory the walk or a read could not list (the `dir-unreadable` check reports them). */
  noteUnreadable(path: string, err: unknown): void {
    if (!this.unreadableDirs.has(path)) this.unreadableDirs.set(path, isErrno(err) ? err.code : String(err))
  }

  /** The directories that could not be read so far, in path order. */
  unreadable(): Unreadable[] {
    return [...this.unreadableDirs].map(([path, code]) => ({ path, code })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  }

  /** The first part of a layer tree's walk, asked for ahead of it (`walk`'s `first`). */
  startListing(root: string): Promise<TreeListing> {
    return startTreeListing(this.fs, root, READ_AHEAD, WALK_LISTING)
  }

  /**
   * Each directory of a layer tree with its listing, the root first, a
   * listing part at a time (`walkParts`); a directory that cannot be listed
   * is recorded and skipped with what is below it, and the walk goes on.
   * Passes read; fixes run after the pass, so the walk may read ahead, and a
   * pass over many trees hands it `first`, asked for while the tree before
   * was walked (`startListing`). Contents checks judge whiteouts, devices,
   * links and directories, never a plain file: those are left out of the
   * listings (see ContentDir).
   */
  walk(root: string, options: { first?: Promise<TreeListing> } = {}): AsyncGenerator<ListedDirectory[]> {
    return walkParts(this.fs, root, READ_AHEAD, { ...WALK_LISTING, first: options.first ?? this.startListing(root), onUnreadable: (path, err) => this.noteUnreadable(path, err) })
  }

  readonly mounts = once((): Promise<MountEntry[]> => this.fs.mounts())

  readonly credentials = once((): Promise<Credentials> => this.fs.credentials())

  /** Every process's root and cwd, read once for the report; fixes read them again right before acting. */
  readonly processUses = once((): Promise<ProcessUse[]> => readProcessUses(this.fs, this.procRoot))

  get graceMs(): number {
    return this.baseOptions.graceMs ?? DEFAULT_GRACE_MS
  }

  private readonly ages = new Map<string, Promise<LeftoverAge>>()

  /**
   * How long ago anything in a leftover last changed (the tree's newest
   * mtime, not only its top's: a long pull writes deep inside its staging
   * dir), read once per path. gc and check judge grace by this one answer.
   */
  age(path: string, options: { top?: boolean } = {}): Promise<LeftoverAge> {
    const key = options.top ? `top:${path}` : path
    let a = this.ages.get(key)
    if (a === undefined) {
      a = (async () => {
        if (options.top) return this.topAge(path)
        const size = await treeSize(this.fs, path, { mounts: await this.mounts(), everyInode: true })
        const ageMs = Math.max(0, Date.now() - Number(size.newestMtimeNs / 1_000_000n))
        return { size, ageMs, pastGrace: ageMs >= this.graceMs }
      })()
      this.ages.set(key, a)
    }
    return a
  }

  /**
   * The age of a dir by its own mtime and its entries': for what is made
   * whole elsewhere and renamed in (a layer dir, built in staging), whose
   * deeper mtimes are the archive's and say nothing of when it arrived. One
   * lstat per entry of the top, not per file of the tree; no size.
   */
  private async topAge(path: string): Promise<LeftoverAge> {
    let newest = 0n
    const top = await this.fs.lstat(path)
    if (top !== undefined) newest = top.mtimeNs
    for (const e of (top?.kind === 'dir' ? await this.listIfDir(path) : undefined) ?? []) {
      const inode = await this.fs.lstat(`${path}/${e.name}`)
      if (inode !== undefined && inode.mtimeNs > newest) newest = inode.mtimeNs
    }
    const ageMs = Math.max(0, Date.now() - Number(newest / 1_000_000n))
    return { size: { bytes: 0, files: 0, mounts: [], unreadable: undefined, newestMtimeNs: newest }, ageMs, pastGrace: ageMs >= this.graceMs }
  }

  get procRoot(): string {
    return this.baseOptions.procRoot ?? DEFAULT_PROC_ROOT
  }

  /** The processes standing in the mount at `mountPoint` (or below it), from the snapshot this check took. */
  async mountUsers(mountPoint: string): Promise<ProcessUse[]> {
    return usersOfMount(this.fs, await this.processUses(), await this.mounts(), mountPoint)
  }

  /** Filesystems the kernel offers (/proc/filesystems), or undefined where that cannot be read. */
  readonly filesystems = once(async (): Promise<Set<string> | undefined> => {
    const listed = await readKernelFilesystems(this.fs, this.baseOptions.procFilesystems)
    return listed instanceof Set ? listed : undefined
  })

  /**
   * The real path of the dir a runtime keeps its state in: the one the
   * operator named, which must be there (LivenessSourceError otherwise: a
   * typo must never read as "nothing is live"), or the runtime's default,
   * whose absence only means there is no source. Named through a symlink
   * too, as /var/run is to /run.
   */
  protected async livenessDir(what: string, named: string, given: boolean, howToGive: string): Promise<{ dir: string } | { none: Liveness }> {
    let dir = named
    let why: string | undefined
    try {
      dir = await this.fs.realpath(named)
      const inode = await this.fs.lstat(dir)
      if (inode?.kind !== 'dir') why = inode === undefined ? 'does not exist' : `is a ${inode.kind}, not a directory`
    } catch (err) {
      if (!isErrno(err, 'ENOENT', 'ENOTDIR', 'ELOOP', ...UNREADABLE)) throw err
      why = isErrno(err, 'ENOENT', 'ENOTDIR') ? 'does not exist' : `cannot be read (${(err as Error).message})`
    }
    if (why === undefined) return { dir }
    if (given) throw new LivenessSourceError(what, named, why)
    return { none: { source: 'unknown', live: new Set(), reason: `no liveness source: the default ${what} ${named} ${why}; ${howToGive}` } }
  }

  /**
   * `--known-containers FILE`: the ids the operator says are live, one a
   * line. A file named and not readable is an error, never "nothing is live".
   */
  protected async readKnownContainers(file: string): Promise<Liveness> {
    let text: string
    try {
      let real: string
      try {
        real = await this.fs.realpath(file)
      } catch (err) {
        if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw new LivenessSourceError('--known-containers', file, 'does not exist')
        throw err
      }
      const inode = await this.fs.lstat(real)
      if (inode?.kind !== 'file') throw new LivenessSourceError('--known-containers', file, `is a ${inode?.kind ?? 'missing entry'}, not a file`)
      text = await readTextLimited(this.fs, real, 16 * 1024 * 1024)
    } catch (err) {
      if (err instanceof LayerfsckError) throw err
      if (isErrno(err)) throw new LivenessSourceError('--known-containers', file, `cannot be read (${(err as Error).message})`)
      throw err
    }
    const live = new Set(
      text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('#')),
    )
    return { source: 'known-containers', live }
  }
}
