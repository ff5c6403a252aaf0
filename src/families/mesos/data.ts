/**
 * What the Mesos checks read, each read once and only when a check asks:
 * listings of the store's fixed places, storedImages, the containers of the
 * provisioner dir, which containers are live, the backend references are
 * checked for and the format that says which variant it reads.
 */
import { isErrno } from '../../errors.js'
import { CheckData, LivenessSourceError, once, UNREADABLE, type Liveness } from '../../check/data.js'
import type { ContentRoot } from '../../check/types.js'
import { readStamp } from '../../format/stamp.js'
import type { DirEntry, FsPort, Inode } from '../../fs/port.js'
import { readMetadata, type MetadataState } from '../../metadata/read.js'
import { BACKENDS, rootfsDirFor, type Backend, type FormatDescriptor } from './descriptor.js'
import { chooseFormat, type EvidenceSet } from './detect.js'
import { knownVariant, MESOS_FORMATS, mesosFormat } from './formats/index.js'
import { judgeCheckpointTemp, tempCandidate, type CheckpointKind, type TempVerdict } from './metadata/checkpoint-temp.js'
import { decodeContainerLayers, type ContainerLayers } from './metadata/container-layers.js'
import { decodeStoredImages, type StoredImage } from './metadata/stored-images.js'
import { walkContainers } from './containers.js'
import { gcDir, layerIdShape, layersDir, stagingDir, storedImagesPath, SHA256_DIGEST } from './paths.js'

export type { MetadataState, Liveness }

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

export interface DataOptions {
  knownContainers?: string
  runtimeDir?: string
  /** Whether runtimeDir was named by the operator (a missing default says nothing). */
  runtimeDirGiven?: boolean
  procFilesystems?: string
  /** Where processes are listed, for the mounts they stand in; '/proc' by default. */
  procRoot?: string
  /** The backend whose layer variant references must exist for; detected when absent. */
  backend?: Backend
}

export const DEFAULT_RUNTIME_DIR = '/var/run/mesos'
const LIVENESS_OPTIONS = 'give --runtime-dir (the agent\'s --runtime_dir) or --known-containers FILE'

/** A file named like a checkpoint temp file, judged by its content. */
export interface TempFile {
  path: string
  name: string
  checkpoint: CheckpointKind
  /** The container whose dir holds it; undefined at the store's top. */
  container: string | undefined
  verdict: TempVerdict
}


export class MesosData extends CheckData {
  constructor(
    fs: FsPort,
    store: string,
    readonly provisioner: string | undefined,
    private readonly options: DataOptions,
  ) {
    super(fs, store, options)
  }

  roots(): string[] {
    return this.provisioner === undefined ? [this.store] : [this.store, this.provisioner]
  }

  /**
   * The format the store is in: its stamp, or else the newest format the
   * listings already read prove (a lower bound, as detect's; the whiteout
   * census is detect's business, not check's).
   */
  readonly format = once(async (): Promise<Readonly<FormatDescriptor>> => {
    const stamp = await readStamp(this.fs, this.store)
    if (stamp.state === 'ok') return mesosFormat(stamp.stamp.version)
    const seen: EvidenceSet = new Set()
    for (const l of await this.layers()) {
      if (l.kind === 'file' && SHA256_DIGEST.test(l.name)) seen.add('layers-config-blob')
      if (l.kind !== 'dir' || layerIdShape(l.name) === undefined) continue
      if (layerIdShape(l.name) === 'sha256-digest') seen.add('layer-digest-id')
      for (const variant of MESOS_FORMATS.flatMap((f) => f.rootfsVariants)) {
        if (variant.whiteouts === 'overlay' && l.children?.some((c) => c.name === variant.dir && c.kind === 'dir')) seen.add('layer-rootfs-overlay')
      }
    }
    if ((await this.top()).some((e) => e.name === gcDir('').slice(1) && e.kind === 'dir')) seen.add('store-gc-dir')
    for (const c of await this.containers()) {
      if (c.layers.state === 'ok' || c.layers.state === 'damaged') {
        seen.add('container-layers-checkpoint')
        if (c.layers.value.config) seen.add('container-layers-config')
      }
    }
    return chooseFormat(seen)
  })

  /** The backend references are checked for: the operator's, or the one the containers (else the layers) show. */
  readonly backend = once(async (): Promise<{ name: Backend; source: 'option' | 'detected' }> => {
    if (this.options.backend !== undefined) return { name: this.options.backend, source: 'option' }
    const votes = new Map<string, number>()
    for (const c of await this.containers()) for (const b of c.backends) votes.set(b.name, (votes.get(b.name) ?? 0) + 1)
    const fromContainers = [...votes].filter(([n]) => (BACKENDS as readonly string[]).includes(n)).sort((a, b) => b[1] - a[1])[0]
    if (fromContainers) return { name: fromContainers[0] as Backend, source: 'detected' }
    // No container: the layers tell, by the variant each backend reads in the newest format.
    const newest = MESOS_FORMATS[MESOS_FORMATS.length - 1]!
    const overlayDir = rootfsDirFor(newest, 'overlay').dir
    const otherDir = rootfsDirFor(newest, 'copy').dir
    let overlay = 0
    let other = 0
    for (const l of await this.layers()) {
      for (const c of l.children ?? []) {
        if (c.kind !== 'dir') continue
        if (c.name === overlayDir) overlay += 1
        if (c.name === otherDir) other += 1
      }
    }
    return { name: overlay > other ? 'overlay' : 'copy', source: 'detected' }
  })

  /** The variant directory the checked backend reads in this store's format. */
  async variantFor(backend?: Backend): Promise<{ dir: string; whiteouts: 'aufs' | 'overlay' }> {
    return rootfsDirFor(await this.format(), backend ?? (await this.backend()).name)
  }

  /** Every rootfs variant of every layer dir, with the whiteout form the format gives it. */
  async contentRoots(): Promise<ContentRoot[]> {
    const out: ContentRoot[] = []
    for (const l of await this.layers()) {
      if (l.kind !== 'dir' || layerIdShape(l.name) === undefined) continue
      for (const c of l.children ?? []) {
        const variant = knownVariant(c.name)
        if (variant !== undefined && c.kind === 'dir') out.push({ layer: l.name, variant: c.name, root: `${l.path}/${c.name}`, whiteouts: variant.whiteouts })
      }
    }
    return out
  }

  async readAll(): Promise<void> {
    await this.top()
    await this.layers()
    await this.staging()
    await this.gc()
    await this.containers()
  }

  async usesOverlay(): Promise<boolean> {
    return (await this.backend()).name === 'overlay'
  }

  async settings(): Promise<Record<string, string>> {
    const backend = await this.backend()
    const format = await this.format()
    const variant = rootfsDirFor(format, backend.name)
    return {
      backend: `${backend.name} (${backend.source}), reads ${variant.dir} in format ${format.version}`,
      liveness: (await this.liveness()).source,
    }
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
    for await (const c of walkContainers(this.provisioner, (dir) => this.listIfDir(dir))) {
      if (c.kind !== 'dir') continue
      const { path, ids } = c
      const entries = (await this.listIfDir(path)) ?? []
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
        key: c.key,
        path,
        entries,
        layers: await readMetadata(this.fs, `${path}/layers`, decodeContainerLayers),
        backends,
      })
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

  /**
   * Which containers are live. A source the operator named must be readable
   * (LivenessSourceError otherwise: a typo must never read as "nothing is
   * live"); the default runtime dir missing means no source, and then
   * nothing that depends on liveness is changed.
   */
  readonly liveness = once(async (): Promise<Liveness> => {
    if (this.options.knownContainers !== undefined) return this.readKnownContainers(this.options.knownContainers)
    const given = this.options.runtimeDirGiven === true || (this.options.runtimeDir !== undefined && this.options.runtimeDirGiven === undefined)
    const found = await this.livenessDir('runtime dir', this.options.runtimeDir ?? DEFAULT_RUNTIME_DIR, given, LIVENESS_OPTIONS)
    if ('none' in found) return found.none
    const runtime = found.dir
    const live = new Set<string>()
    // `containers/` appears with the first container; an empty runtime dir (after a reboot) means nothing runs.
    let blind: { path: string; err: Error } | undefined
    const list = async (path: string): Promise<DirEntry[] | undefined> => {
      try {
        if ((await this.fs.lstat(path))?.kind !== 'dir') return undefined
        return await this.fs.readdir(path)
      } catch (err) {
        if (!isErrno(err, ...UNREADABLE)) throw err
        if (given) throw new LivenessSourceError('runtime dir', runtime, `cannot be read: ${(err as Error).message}`)
        blind ??= { path, err: err as Error }
        return undefined
      }
    }
    for await (const c of walkContainers(runtime, list)) if (c.kind === 'dir') live.add(c.key)
    if (blind !== undefined) {
      return { source: 'unknown', live: new Set(), reason: `no liveness source: ${blind.path} cannot be read (${blind.err.message}); ${LIVENESS_OPTIONS}` }
    }
    return { source: 'runtime-dir', live }
  })
}
