/**
 * What the Docker checks read: the data root's model (read once, whole,
 * read-only), its format, and which containers are live. A container is
 * live while the runtime's state under the daemon's exec root says it runs
 * (runc keeps `<exec-root>/runtime-runc/moby/<id>/` for as long as the
 * container exists, also after dockerd stopped with live-restore), or while
 * a process has its root inside its mount (checks ask mountUsers), or when
 * `--known-containers` names it.
 */
import { isErrno } from '../../errors.js'
import { CheckData, LivenessSourceError, once, UNREADABLE, type Liveness } from '../../check/data.js'
import type { ContentRoot } from '../../check/types.js'
import type { FsPort } from '../../fs/port.js'
import { contentDirFor, type LayerRole } from './formats/format.js'
import type { DockerFormat } from './formats/format.js'
import { dockerFormatOf } from './format-of.js'
import { readDockerRoot, type DockerModel, type Overlay2LayerDir, type OverlayLayerDir } from './model.js'
import type { DockerDriver } from './paths.js'

export const DEFAULT_EXEC_ROOT = '/var/run/docker'
/**
 * Where a runtime (as dockerd runs it) keeps a container's state, relative
 * to the exec root: `runtime-<name>/moby/<container id>/` (runc's is
 * runtime-runc), for as long as the container exists.
 */
export const RUNTIME_STATE_PREFIX = 'runtime-'
export const RUNTIME_NAMESPACE = 'moby'
const LIVENESS_OPTIONS = "give --runtime-dir (dockerd's --exec-root, /var/run/docker by default) or --known-containers FILE"

export interface DockerDataOptions {
  driver: DockerDriver
  knownContainers?: string
  /** dockerd's --exec-root. */
  runtimeDir?: string
  procFilesystems?: string
  procRoot?: string
}

/** Who names a dir under the driver dir, and as what. */
export interface DirOwner {
  role: LayerRole
  /** Layer records (chain ids) whose cache-id names it. */
  records: string[]
  /** Containers whose mount-id or init-id names it. */
  containers: string[]
}

export class DockerData extends CheckData {
  constructor(
    fs: FsPort,
    store: string,
    private readonly options: DockerDataOptions,
  ) {
    super(fs, store, options)
  }

  get driver(): DockerDriver {
    return this.options.driver
  }

  readonly model = once(async (): Promise<DockerModel> => {
    const model = await readDockerRoot(this.fs, this.store, { driver: this.options.driver })
    for (const u of model.unreadable) if (UNREADABLE.includes(u.code)) this.noteUnreadable(u.path, Object.assign(new Error(u.reason), { code: u.code }))
    return model
  })

  readonly format = once(async (): Promise<Readonly<DockerFormat>> => dockerFormatOf(this.fs, await this.model()))

  roots(): string[] {
    return [this.store]
  }

  /**
   * For each dir under the driver dir: what names it. Live layer records
   * name cache-ids; `-removing` records are deletions in progress and name
   * nothing that must stay.
   */
  readonly owners = once(async (): Promise<Map<string, DirOwner>> => {
    const model = await this.model()
    const out = new Map<string, DirOwner>()
    const own = (name: string, role: LayerRole): DirOwner => {
      let o = out.get(name)
      if (!o) out.set(name, (o = { role, records: [], containers: [] }))
      return o
    }
    for (const l of model.layers) {
      if (l.removing || l.cacheId.state !== 'ok') continue
      own(l.cacheId.value, l.parent.state === 'missing' ? 'image-base' : 'image').records.push(l.chainId ?? l.name)
    }
    for (const m of model.mounts) {
      if (m.mountId.state === 'ok') own(m.mountId.value, 'container').containers.push(m.containerId)
      if (m.initId.state === 'ok') own(m.initId.value, 'init').containers.push(m.containerId)
    }
    return out
  })

  /**
   * Each image layer's content tree, with the whiteout form the format gives
   * it. Only image layers: a container's read-write layer holds whatever its
   * processes wrote (a file named `.wh.notes` is a user's file there, and a
   * live container's upper dir is no place for a fix), and a dir no record
   * names is an orphan, reported as one.
   */
  async contentRoots(): Promise<ContentRoot[]> {
    const model = await this.model()
    const format = await this.format()
    const owners = await this.owners()
    const out: ContentRoot[] = []
    const dirs: (Overlay2LayerDir | OverlayLayerDir)[] = model.layout.layerDirs
    for (const d of dirs) {
      if (d.kind !== 'dir' || !d.readable) continue
      const role: LayerRole | undefined = owners.get(d.name)?.role
      if (role !== 'image' && role !== 'image-base') continue
      const spec = contentDirFor(format, role)
      if (spec === undefined || !d.entries.some((e) => e.name === spec.dir && e.kind === 'dir')) continue
      out.push({ layer: d.name, variant: spec.dir, root: `${d.path}/${spec.dir}`, whiteouts: spec.whiteouts })
    }
    return out
  }

  /** No fix changes which Docker format a data root is in: the one read before the fixes is the one to stamp. */
  override async stampFormat(): Promise<Readonly<DockerFormat>> {
    return this.format()
  }

  async readAll(): Promise<void> {
    await this.model()
  }

  async usesOverlay(): Promise<boolean> {
    return true
  }

  async settings(): Promise<Record<string, string>> {
    const format = await this.format()
    return { driver: `${this.driver}, format ${format.family} ${format.version}`, liveness: (await this.liveness()).source }
  }

  readonly liveness = once(async (): Promise<Liveness> => {
    if (this.options.knownContainers !== undefined) return this.readKnownContainers(this.options.knownContainers)
    const given = this.options.runtimeDir !== undefined
    const named = this.options.runtimeDir ?? DEFAULT_EXEC_ROOT
    const found = await this.livenessDir('exec root', named, given, LIVENESS_OPTIONS)
    if ('none' in found) return found.none
    const execRoot = found.dir
    const live = new Set<string>()
    let stateDir = execRoot
    try {
      // runc's state lives in runtime-runc/moby; other runtimes dockerd is configured with keep theirs beside it.
      for (const runtime of await this.fs.readdir(execRoot)) {
        if (runtime.kind !== 'dir' || !runtime.name.startsWith(RUNTIME_STATE_PREFIX)) continue
        stateDir = `${execRoot}/${runtime.name}/${RUNTIME_NAMESPACE}`
        if ((await this.fs.lstat(stateDir))?.kind !== 'dir') continue
        for (const e of await this.fs.readdir(stateDir)) if (e.kind === 'dir') live.add(e.name)
      }
    } catch (err) {
      if (!isErrno(err, ...UNREADABLE)) throw err
      if (given) throw new LivenessSourceError('exec root', named, `cannot be read: ${(err as Error).message}`)
      return { source: 'unknown', live: new Set(), reason: `no liveness source: ${stateDir} cannot be read; ${LIVENESS_OPTIONS}` }
    }
    return { source: 'runtime-dir', live }
  })
}
