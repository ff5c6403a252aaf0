/**
 * The facts checks share, each read once and only when a check asks:
 * listings of the store's fixed places, storedImages, the containers of the
 * provisioner dir, the mount table, which containers are live, what the host
 * kernel supports. Reading never follows a symlink found inside the store.
 *
 * A directory this process may not read is a fact too: it is recorded (the
 * `dir-unreadable` check reports it) and read as holding nothing, so one
 * unreadable directory neither aborts the check nor passes silently.
 */
import { ExitCode, isErrno, LayerfsckError } from '../errors.js'
import { readTextLimited } from '../fs/io.js'
import { escapeName } from '../fs/name-bytes.js'
import { dirname } from '../fs/safe-path.js'
import { byName, walkDirectories } from '../fs/walk.js'
import type { Credentials, DirEntry, FsPort, Inode, MountEntry } from '../fs/port.js'
import { containerKey, gcDir, layersDir, stagingDir, storedImagesPath } from '../mesos/paths.js'
import { judgeCheckpointTemp, tempCandidate, type CheckpointKind, type TempVerdict } from '../metadata/checkpoint-temp.js'
import { decodeContainerLayers, type ContainerLayers } from '../metadata/container-layers.js'
import { decodeStoredImages, type StoredImage } from '../metadata/stored-images.js'
import { readMetadata, type MetadataState } from '../metadata/read.js'
import { DEFAULT_PROC_ROOT, readProcessUses, type ProcessUse } from '../fs/processes.js'
import { usersOfMount } from './process-use.js'

export type { MetadataState }

export interface LayerEntry {
  name: string
  kind: DirEntry['kind']
  path: string
  /** A directory's entries; undefined for anything else. */
  children: DirEntry[] | undefined
}

export interface BackendInfo {
  name: string
  path: string
  kind: DirEntry['kind']
  rootfses: string[]
  scratch: { id: string; path: string; links: Inode | undefined }[]
}

export interface ContainerInfo {
  ids: string[]
  key: string
  path: string
  entries: DirEntry[]
  layers: MetadataState<ContainerLayers>
  backends: BackendInfo[]
}

export interface Liveness {
  source: 'known-containers' | 'runtime-dir' | 'unknown'
  live: Set<string>
  /** Why liveness is unknown, in words that name the options that would give it. */
  reason?: string
}

export interface DataOptions {
  knownContainers?: string
  runtimeDir?: string
  /** Whether runtimeDir was named by the operator (a missing default says nothing). */
  runtimeDirGiven?: boolean
  procFilesystems?: string
  /** Where processes are listed, for the mounts they stand in; '/proc' by default. */
  procRoot?: string
}

export const DEFAULT_RUNTIME_DIR = '/var/run/mesos'
const LIVENESS_OPTIONS = 'give --runtime-dir (the agent\'s --runtime_dir) or --known-containers FILE'

/** A liveness source the operator named and that cannot be read: the check cannot be trusted to unmount anything. */
export class LivenessSourceError extends LayerfsckError {
  constructor(what: string, path: string, why: string) {
    super('LIVENESS_SOURCE', `${what} ${escapeName(path)} ${why}; without it nothing can be judged live, so check stops before changing anything`, {
      exitCode: ExitCode.operational,
      hint: `name the agent's runtime dir or a readable container list; leave the option out only if no agent ran here`,
    })
  }
}

/** A directory that could not be listed, and the errno that said so. */
export interface Unreadable {
  path: string
  code: string
}

/** A file named like a checkpoint temp file, judged by its content. */
export interface TempFile {
  path: string
  name: string
  checkpoint: CheckpointKind
  /** The container whose dir holds it; undefined at the store's top. */
  container: string | undefined
  verdict: TempVerdict
}

function once<T>(load: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined
  return () => (p ??= load())
}

const UNREADABLE = ['EACCES', 'EPERM']

export class CheckData {
  private readonly unreadableDirs = new Map<string, string>()

  constructor(
    private readonly fs: FsPort,
    readonly store: string,
    readonly provisioner: string | undefined,
    private readonly options: DataOptions,
  ) {}

  /** A directory's sorted listing, or undefined when it is not a directory or cannot be read (recorded). */
  private async listIfDir(path: string): Promise<DirEntry[] | undefined> {
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

  /**
   * Each directory of a layer variant with its listing, the root first, as
   * `walkDirectories` gives them; a directory that cannot be listed is
   * recorded and skipped with what is below it, and the walk goes on.
   */
  walk(root: string): AsyncGenerator<{ path: string; rel: string; entries: DirEntry[] }> {
    return walkDirectories(this.fs, root, { onUnreadable: (path, err) => this.noteUnreadable(path, err) })
  }

  readonly top = once(async () => (await this.listIfDir(this.store)) ?? [])
  readonly staging = once(async () => (await this.listIfDir(stagingDir(this.store))) ?? [])
  readonly gc = once(async () => (await this.listIfDir(gcDir(this.store))) ?? [])

  readonly layers = once(async (): Promise<LayerEntry[]> => {
    const root = layersDir(this.store)
    const out: LayerEntry[] = []
    for (const e of (await this.listIfDir(root)) ?? []) {
      const path = `${root}/${e.name}`
      out.push({ name: e.name, kind: e.kind, path, children: e.kind === 'dir' ? await this.listIfDir(path) : undefined })
    }
    return out
  })

  readonly storedImages = once(() => readMetadata<StoredImage[]>(this.fs, storedImagesPath(this.store), decodeStoredImages))

  readonly containers = once(async (): Promise<ContainerInfo[]> => {
    if (this.provisioner === undefined) return []
    const out: ContainerInfo[] = []
    const pending: { path: string; ids: string[] }[] = [{ path: `${this.provisioner}/containers`, ids: [] }]
    while (pending.length > 0) {
      const { path: containersPath, ids: parentIds } = pending.pop()!
      for (const c of (await this.listIfDir(containersPath)) ?? []) {
        if (c.kind !== 'dir') continue
        const path = `${containersPath}/${c.name}`
        const ids = [...parentIds, c.name]
        const entries = (await this.listIfDir(path)) ?? []
        if (entries.some((e) => e.name === 'containers' && e.kind === 'dir')) pending.push({ path: `${path}/containers`, ids })
        const backends: BackendInfo[] = []
        for (const b of (await this.listIfDir(`${path}/backends`)) ?? []) {
          const bpath = `${path}/backends/${b.name}`
          const info: BackendInfo = { name: b.name, path: bpath, kind: b.kind, rootfses: [], scratch: [] }
          if (b.kind === 'dir') {
            info.rootfses = ((await this.listIfDir(`${bpath}/rootfses`)) ?? []).map((e) => e.name)
            for (const s of (await this.listIfDir(`${bpath}/scratch`)) ?? []) {
              const spath = `${bpath}/scratch/${s.name}`
              info.scratch.push({ id: s.name, path: spath, links: s.kind === 'dir' ? await this.fs.lstat(`${spath}/links`).catch(() => undefined) : undefined })
            }
          }
          backends.push(info)
        }
        out.push({
          ids,
          key: containerKey(ids),
          path,
          entries,
          layers: await readMetadata(this.fs, `${path}/layers`, decodeContainerLayers),
          backends,
        })
      }
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : 1))
  })

  /**
   * Files named like checkpoint temp files beside storedImages and in each
   * container dir, each judged by what it holds (metadata/checkpoint-temp.ts).
   */
  readonly tempFiles = once(async (): Promise<TempFile[]> => {
    const out: TempFile[] = []
    const judge = async (dir: string, entries: DirEntry[], checkpoint: CheckpointKind, container: string | undefined): Promise<void> => {
      for (const e of entries) {
        if (!tempCandidate(e.name, e.kind, checkpoint)) continue
        const path = `${dir}/${e.name}`
        out.push({ path, name: e.name, checkpoint, container, verdict: await judgeCheckpointTemp(this.fs, path, checkpoint) })
      }
    }
    await judge(this.store, await this.top(), 'storedImages', undefined)
    for (const c of await this.containers()) await judge(c.path, c.entries, 'layers', c.key)
    return out
  })

  readonly mounts = once((): Promise<MountEntry[]> => this.fs.mounts())

  readonly credentials = once((): Promise<Credentials> => this.fs.credentials())

  /**
   * Which containers are live. A source the operator named must be readable
   * (LivenessSourceError otherwise: a typo must never read as "nothing is
   * live"); the default runtime dir missing means no source, and then
   * nothing that depends on liveness is changed.
   */
  readonly liveness = once(async (): Promise<Liveness> => {
    if (this.options.knownContainers !== undefined) return this.knownContainers(this.options.knownContainers)
    const given = this.options.runtimeDirGiven === true || (this.options.runtimeDir !== undefined && this.options.runtimeDirGiven === undefined)
    const named = this.options.runtimeDir ?? DEFAULT_RUNTIME_DIR
    // The operator names it, so it may be a symlink (as /var/run is to /run).
    let runtime = named
    let inode: Inode | undefined
    try {
      runtime = await this.fs.realpath(named)
      inode = await this.fs.lstat(runtime)
    } catch (err) {
      if (!isErrno(err, 'ENOENT', 'ENOTDIR', 'ELOOP', ...UNREADABLE)) throw err
      if (!isErrno(err, 'ENOENT', 'ENOTDIR')) {
        if (given) throw new LivenessSourceError('runtime dir', named, `cannot be read (${(err as Error).message})`)
        return { source: 'unknown', live: new Set(), reason: `no liveness source: ${named} cannot be read (${(err as Error).message}); ${LIVENESS_OPTIONS}` }
      }
    }
    if (inode?.kind !== 'dir') {
      const why = inode === undefined ? 'does not exist' : `is a ${inode.kind}, not a directory`
      if (given) throw new LivenessSourceError('runtime dir', named, why)
      return { source: 'unknown', live: new Set(), reason: `no liveness source: the default runtime dir ${named} ${why}; ${LIVENESS_OPTIONS}` }
    }
    const live = new Set<string>()
    // `containers/` appears with the first container; an empty runtime dir (after a reboot) means nothing runs.
    const pending: { path: string; ids: string[] }[] = [{ path: `${runtime}/containers`, ids: [] }]
    while (pending.length > 0) {
      const { path, ids } = pending.pop()!
      let entries: DirEntry[]
      try {
        const dir = await this.fs.lstat(path)
        if (dir?.kind !== 'dir') continue
        entries = await this.fs.readdir(path)
      } catch (err) {
        if (!isErrno(err, ...UNREADABLE)) throw err
        if (given) throw new LivenessSourceError('runtime dir', runtime, `cannot be read: ${(err as Error).message}`)
        return { source: 'unknown', live: new Set(), reason: `no liveness source: ${path} cannot be read (${(err as Error).message}); ${LIVENESS_OPTIONS}` }
      }
      for (const e of entries) {
        if (e.kind !== 'dir') continue
        live.add(containerKey([...ids, e.name]))
        pending.push({ path: `${path}/${e.name}/containers`, ids: [...ids, e.name] })
      }
    }
    return { source: 'runtime-dir', live }
  })

  private async knownContainers(file: string): Promise<Liveness> {
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

  /**
   * Reads the liveness sources the operator named, so that a bad one stops
   * the check before any pass (and any fix) runs. The runner calls this
   * first; checks that need liveness read it lazily either way.
   */
  async validateInputs(): Promise<void> {
    await this.liveness()
  }

  /** Every process's root and cwd, read once for the report; fixes read them again right before acting. */
  readonly processUses = once((): Promise<ProcessUse[]> => readProcessUses(this.fs, this.procRoot))

  get procRoot(): string {
    return this.options.procRoot ?? DEFAULT_PROC_ROOT
  }

  /** The processes standing in the mount at `mountPoint` (or below it), from the snapshot this check took. */
  async mountUsers(mountPoint: string): Promise<ProcessUse[]> {
    return usersOfMount(this.fs, await this.processUses(), await this.mounts(), mountPoint)
  }

  /** Filesystems the kernel offers (/proc/filesystems), or undefined where that cannot be read. */
  readonly filesystems = once(async (): Promise<Set<string> | undefined> => {
    try {
      const text = await readTextLimited(this.fs, this.options.procFilesystems ?? '/proc/filesystems', 1024 * 1024)
      return new Set(text.split('\n').map((l) => l.trim().split(/\s+/).pop() ?? '').filter((n) => n !== ''))
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'EACCES')) return undefined
      throw err
    }
  })
}
