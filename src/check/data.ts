/**
 * The facts checks share, each read once and only when a check asks:
 * listings of the store's fixed places, storedImages, the containers of the
 * provisioner dir, the mount table, which containers are live, what the host
 * kernel supports. Reading never follows a symlink found inside the store.
 */
import { isErrno } from '../errors.js'
import { readTextLimited } from '../fs/io.js'
import { byName } from '../fs/walk.js'
import type { DirEntry, FsPort, Inode, MountEntry } from '../fs/port.js'
import { containerKey, gcDir, layersDir, stagingDir, storedImagesPath } from '../mesos/paths.js'
import { decodeContainerLayers, type ContainerLayers } from '../metadata/container-layers.js'
import { decodeStoredImages, type StoredImage } from '../metadata/stored-images.js'
import { readMetadata, type MetadataState } from '../metadata/read.js'

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
}

export interface DataOptions {
  knownContainers?: string
  runtimeDir?: string
  /** Whether runtimeDir was named by the operator (a missing default says nothing). */
  runtimeDirGiven?: boolean
  procFilesystems?: string
}

function once<T>(load: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined
  return () => (p ??= load())
}

async function listIfDir(fs: FsPort, path: string): Promise<DirEntry[] | undefined> {
  const inode = await fs.lstat(path)
  if (inode?.kind !== 'dir') return undefined
  return (await fs.readdir(path)).sort(byName)
}

export class CheckData {
  constructor(
    private readonly fs: FsPort,
    readonly store: string,
    readonly provisioner: string | undefined,
    private readonly options: DataOptions,
  ) {}

  readonly top = once(async () => (await listIfDir(this.fs, this.store)) ?? [])
  readonly staging = once(async () => (await listIfDir(this.fs, stagingDir(this.store))) ?? [])
  readonly gc = once(async () => (await listIfDir(this.fs, gcDir(this.store))) ?? [])

  readonly layers = once(async (): Promise<LayerEntry[]> => {
    const root = layersDir(this.store)
    const out: LayerEntry[] = []
    for (const e of (await listIfDir(this.fs, root)) ?? []) {
      const path = `${root}/${e.name}`
      out.push({ name: e.name, kind: e.kind, path, children: e.kind === 'dir' ? await listIfDir(this.fs, path) : undefined })
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
      for (const c of (await listIfDir(this.fs, containersPath)) ?? []) {
        if (c.kind !== 'dir') continue
        const path = `${containersPath}/${c.name}`
        const ids = [...parentIds, c.name]
        const entries = (await listIfDir(this.fs, path)) ?? []
        if (entries.some((e) => e.name === 'containers' && e.kind === 'dir')) pending.push({ path: `${path}/containers`, ids })
        const backends: BackendInfo[] = []
        for (const b of (await listIfDir(this.fs, `${path}/backends`)) ?? []) {
          const bpath = `${path}/backends/${b.name}`
          const info: BackendInfo = { name: b.name, path: bpath, kind: b.kind, rootfses: [], scratch: [] }
          if (b.kind === 'dir') {
            info.rootfses = ((await listIfDir(this.fs, `${bpath}/rootfses`)) ?? []).map((e) => e.name)
            for (const s of (await listIfDir(this.fs, `${bpath}/scratch`)) ?? []) {
              const spath = `${bpath}/scratch/${s.name}`
              info.scratch.push({ id: s.name, path: spath, links: s.kind === 'dir' ? await this.fs.lstat(`${spath}/links`) : undefined })
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

  readonly mounts = once((): Promise<MountEntry[]> => this.fs.mounts())

  readonly liveness = once(async (): Promise<Liveness> => {
    if (this.options.knownContainers !== undefined) {
      const text = await readTextLimited(this.fs, this.options.knownContainers, 16 * 1024 * 1024)
      const live = new Set(
        text
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l !== '' && !l.startsWith('#')),
      )
      return { source: 'known-containers', live }
    }
    const runtime = this.options.runtimeDir ?? '/var/run/mesos'
    const root = `${runtime}/containers`
    const inode = await this.fs.lstat(runtime).catch(() => undefined)
    if (inode?.kind !== 'dir') {
      // A runtime dir the operator named and that is gone means nothing runs
      // (it lives on tmpfs and a reboot empties it); a missing default says nothing.
      return this.options.runtimeDirGiven ? { source: 'runtime-dir', live: new Set() } : { source: 'unknown', live: new Set() }
    }
    const live = new Set<string>()
    const pending: { path: string; ids: string[] }[] = [{ path: root, ids: [] }]
    while (pending.length > 0) {
      const { path, ids } = pending.pop()!
      for (const e of (await listIfDir(this.fs, path)) ?? []) {
        if (e.kind !== 'dir') continue
        live.add(containerKey([...ids, e.name]))
        pending.push({ path: `${path}/${e.name}/containers`, ids: [...ids, e.name] })
      }
    }
    return { source: 'runtime-dir', live }
  })

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
