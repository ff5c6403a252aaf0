/**
 * What detect says of a Docker data root: its driver and format (with the
 * evidence), its images, its layers (chain id → cache-id, the dir that
 * holds the layer), its containers (mount-id, init-id), and what could not
 * be read. Read-only; the model does the reading.
 */
import type { FamilyDetect, FamilyDetectOptions } from '../../family/types.js'
import type { FsPort } from '../../fs/port.js'
import { LayerfsckError, ExitCode } from '../../errors.js'
import { dockerFormatOf, dockerObservations } from './format-of.js'
import { DOCKER_FORMATS_BY_DRIVER } from './formats/index.js'
import { detectDrivers, pickDriver, readDockerRoot, type ValueState } from './model.js'

export interface DockerDetect extends FamilyDetect {
  family: 'docker'
  driver: string
  /** Other drivers' data in the same data root (Docker reads one at a time). */
  otherDrivers: string[]
  images: { id: string; tags: string[]; layers: number; digestMatches: boolean }[]
  layers: { chainId: string; cacheId: string | null; parent: string | null; diffId: string | null; size: number | null; removing: boolean; dir: string | null }[]
  containers: { id: string; name: string | null; mountId: string | null; initId: string | null; image: string | null; running: boolean | null }[]
  counts: { images: number; layers: number; removing: number; containers: number; layerDirs: number; links: number; tmp: number }
  unreadable: { path: string; code: string; reason: string }[]
}

const value = <T>(v: ValueState<T>): T | null => (v.state === 'ok' ? v.value : null)

export async function dockerDriverFor(fs: FsPort, store: string): Promise<{ driver: 'overlay2' | 'overlay'; others: string[] }> {
  const drivers = await detectDrivers(fs, store)
  try {
    const driver = pickDriver(drivers)
    return { driver, others: drivers.filter((d) => d.name !== driver && d.layerDb).map((d) => d.name) }
  } catch (err) {
    if (err instanceof LayerfsckError) throw new LayerfsckError(err.code, `${err.message} (${store})`, { exitCode: ExitCode.operational, ...(err.hint ? { hint: err.hint } : {}) })
    throw err
  }
}

export async function detectDocker(fs: FsPort, options: FamilyDetectOptions): Promise<DockerDetect> {
  const { store } = options
  if (options.workDir !== undefined) {
    throw new LayerfsckError('WORK_DIR_UNUSED', 'a Docker data root has no separate work dir; leave --work-dir out', { exitCode: ExitCode.usage })
  }
  const { driver, others } = await dockerDriverFor(fs, store)
  const model = await readDockerRoot(fs, store, { driver })
  const format = await dockerFormatOf(fs, model)
  const seen = dockerObservations(model)
  const evidence: DockerDetect['evidence'] = []
  for (const f of DOCKER_FORMATS_BY_DRIVER[driver]) {
    for (const rule of f.evidence) {
      const paths = seen.get(rule.id)
      if (paths) evidence.push({ id: rule.id, describe: rule.describe, version: f.version, count: paths.length, examples: paths.slice(0, 3) })
    }
  }
  const tags = new Map<string, string[]>()
  if (model.repositories.state === 'ok') {
    for (const repo of model.repositories.repositories) for (const r of repo.refs) tags.set(r.imageId, [...(tags.get(r.imageId) ?? []), r.ref])
  }
  const dirs = new Set(model.layout.layerDirs.filter((d) => d.kind === 'dir').map((d) => d.name))
  const layers = model.layers.map((l) => {
    const cacheId = value(l.cacheId)
    return {
      chainId: l.chainId ?? l.name,
      cacheId,
      parent: value(l.parent),
      diffId: value(l.diffId),
      size: value(l.size),
      removing: l.removing,
      dir: cacheId !== null && dirs.has(cacheId) ? `${store}/${driver}/${cacheId}` : null,
    }
  })
  const containers = model.mounts.map((m) => {
    const c = model.containers.find((x) => x.id === m.containerId)
    const config = c ? value(c.config) : null
    return {
      id: m.containerId,
      name: config?.name ?? null,
      mountId: value(m.mountId),
      initId: value(m.initId),
      image: config?.image ?? null,
      running: config?.running ?? null,
    }
  })
  const images = model.images.map((i) => {
    const config = value(i.config)
    return { id: i.id, tags: (tags.get(i.id) ?? []).sort(), layers: config?.diffIds.length ?? 0, digestMatches: i.digestMatches }
  })
  return {
    family: 'docker',
    format: { family: format.family, version: format.version, title: format.title, introducedBy: format.introducedBy },
    evidence,
    driver,
    otherDrivers: others,
    images,
    layers,
    containers,
    counts: {
      images: images.length,
      layers: layers.filter((l) => !l.removing).length,
      removing: layers.filter((l) => l.removing).length,
      containers: containers.length,
      layerDirs: dirs.size,
      links: model.layout.driver === 'overlay2' ? model.layout.links.length : 0,
      tmp: model.layerDbTmp.length,
    },
    unreadable: model.unreadable,
  }
}
