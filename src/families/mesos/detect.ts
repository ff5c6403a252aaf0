/**
 * `detect`: which Mesos docker store format a store is in, and what it holds.
 *
 * Mesos writes no version marker (mesos_docker.md §1.1), so the format is
 * inferred from evidence: every descriptor names the observations that prove
 * a store is at least that version, and the detected version is the newest
 * one with evidence (1.0.0, the base, needs none). Evidence is data from a
 * single read-only scan; nothing here writes.
 */
import { isErrno } from '../../errors.js'
import type { DirEntry, FsPort, TreeListing } from '../../fs/port.js'
import { walkContainers } from './containers.js'
import { READ_AHEAD, startTreeListing, walkParts, withListingsAhead } from '../../fs/walk.js'
import { isListedWhiteout, isOpaqueDir } from '../../layer/whiteout-codec.js'
import { classifyAufsName } from '../../layer/whiteout-names.js'
import { readMetadata, type MetadataState } from '../../metadata/read.js'
import { BACKENDS, type Backend, type EvidenceId, type FormatDescriptor, type LayerIdShape } from './descriptor.js'
import { MESOS_FORMATS } from './formats/index.js'
import { requireWorkDir, storeEntries } from './identify.js'
import { judgeCheckpointTemp, tempCandidate, type CheckpointKind } from './metadata/checkpoint-temp.js'
import { decodeContainerLayers } from './metadata/container-layers.js'
import { decodeStoredImages } from './metadata/stored-images.js'
import { gcDir, layerIdShape, layersDir, provisionerDir, SHA256_DIGEST, stagingDir, storedImagesPath } from './paths.js'

const EXAMPLES = 3

export interface WhiteoutCounts {
  aufsWhiteouts: number
  aufsOpaque: number
  /** `.wh..wh.*` aufs bookkeeping and names like `.wh.` that are no whiteout at all. */
  aufsOther: number
  overlayWhiteouts: number
  overlayOpaque: number
  /** Entries below the variant's root, and of them the regular files and the directories: a migration's census. */
  entries: number
  files: number
  dirs: number
}

export interface LayerSummary {
  id: string
  shape: LayerIdShape
  /** Backends that can use this layer as it is on disk. */
  backends: Backend[]
  variants: { dir: 'rootfs' | 'rootfs.overlay'; whiteouts: WhiteoutCounts }[]
  hasJson: boolean
}

export interface Unclassified {
  path: string
  kind: string
  reason: string
}

export interface EvidenceSeen {
  id: EvidenceId
  describe: string
  /** The format version this evidence proves. */
  version: string
  count: number
  examples: string[]
}

/** What detect says of a Mesos store, beside what it says of every store (src/detect/detect.ts). */
export interface MesosDetect {
  family: 'mesos'
  workDir: string | undefined
  format: { family: string; version: string; title: string; introducedBy: string }
  evidence: EvidenceSeen[]
  /** Things only a defective writer leaves; each names what fixes it. */
  defects: { id: string; describe: string; fix: string; count: number; examples: string[] }[]
  layers: LayerSummary[]
  configBlobs: string[]
  counts: {
    layers: number
    configBlobs: number
    images: number
    containers: number
    rootfses: number
    staging: number
    gc: number
  }
  /** Problems reading metadata (storedImages, layers checkpoints): detection went on with what was readable. */
  metadataProblems: { path: string; code: string; message: string }[]
  unclassified: Unclassified[]
}

export interface MesosDetectOptions {
  /** The store, resolved. */
  store: string
  /** The agent work dir, resolved. */
  workDir?: string
  /** Called as each layer is scanned; the CLI draws progress from it. */
  onProgress?: (event: { phase: string; done: number; total: number; id: string }) => void
}

class Observations {
  readonly seen = new Map<EvidenceId, { count: number; examples: string[] }>()
  note(id: EvidenceId, path: string): void {
    let o = this.seen.get(id)
    if (!o) this.seen.set(id, (o = { count: 0, examples: [] }))
    o.count += 1
    if (o.examples.length < EXAMPLES) o.examples.push(path)
  }
}

const emptyCounts = (): WhiteoutCounts => ({
  aufsWhiteouts: 0,
  aufsOpaque: 0,
  aufsOther: 0,
  overlayWhiteouts: 0,
  overlayOpaque: 0,
  entries: 0,
  files: 0,
  dirs: 0,
})

/**
 * Counts whiteouts of both forms in one rootfs tree. Only directories cost
 * more than their listing (a listxattr for the opaque mark): names starting
 * with `.wh.` are free to test, and a char device's number comes with the
 * listing. The tree is read ahead: detect changes nothing.
 */
export async function countWhiteouts(fs: FsPort, rootfs: string, options: { first?: Promise<TreeListing> } = {}): Promise<WhiteoutCounts> {
  const counts = emptyCounts()
  // Plain files are only counted: a whiteout is a device, a `.wh.` name or an opaque directory.
  for await (const part of walkParts(fs, rootfs, READ_AHEAD, { skipPlainFiles: true, ...options })) {
    for (const dir of part) {
      if (await isOpaqueDir(fs, dir.path)) counts.overlayOpaque += 1
      counts.entries += dir.count
      // The listing holds every entry but the plain files, which are counted.
      counts.files += dir.count
      for (const e of dir.entries) {
        if (e.kind !== 'file') counts.files -= 1
        if (e.kind === 'dir') counts.dirs += 1
        if (await isListedWhiteout(fs, dir.path, e)) counts.overlayWhiteouts += 1
        const aufs = classifyAufsName(e.name)
        if (aufs === undefined) continue
        if (e.kind !== 'file') counts.aufsOther += 1
        else if (aufs.type === 'whiteout') counts.aufsWhiteouts += 1
        else if (aufs.type === 'opaque') counts.aufsOpaque += 1
        else counts.aufsOther += 1
      }
    }
  }
  return counts
}

const hasOverlayForm = (c: WhiteoutCounts): boolean => c.overlayWhiteouts + c.overlayOpaque > 0
const hasAufsForm = (c: WhiteoutCounts): boolean => c.aufsWhiteouts + c.aufsOpaque > 0

export type EvidenceSet = Set<EvidenceId>

/** The newest format with evidence seen; the base format needs none. */
export function chooseFormat(seen: ReadonlySet<EvidenceId>): Readonly<FormatDescriptor> {
  let chosen = MESOS_FORMATS[0]!
  for (const f of MESOS_FORMATS) if (f.evidence.some((e) => seen.has(e.id))) chosen = f
  return chosen
}


/**
 * Scans a Mesos store (and its provisioner dir) for the evidence of its
 * format and what it holds. The caller has proved the store's identity and
 * holds the store lock (detect's shared one, or a changing command's
 * exclusive one: taking another would wait on itself, since flock locks
 * conflict per open file). `store` and `workDir` are resolved paths.
 */
export async function detectMesos(fs: FsPort, options: MesosDetectOptions): Promise<MesosDetect> {
  const { store } = options
  const workDir = options.workDir
  if (workDir !== undefined) await requireWorkDir(fs, workDir)

  const obs = new Observations()
  const unclassified: Unclassified[] = []
  const metadataProblems: MesosDetect['metadataProblems'] = []
  const defects = new Map<string, { describe: string; fix: string; count: number; examples: string[] }>()
  const defect = (id: string, describe: string, fix: string, path: string): void => {
    let d = defects.get(id)
    if (!d) defects.set(id, (d = { describe, fix, count: 0, examples: [] }))
    d.count += 1
    if (d.examples.length < EXAMPLES) d.examples.push(path)
  }
  const counts = { layers: 0, configBlobs: 0, images: 0, containers: 0, rootfses: 0, staging: 0, gc: 0 }

  // --- the store's top level ----------------------------------------------
  const { dirs, files, own } = storeEntries()
  for (const e of await fs.readdir(store)) {
    if ((e.kind === 'dir' && (dirs.has(e.name) || e.name === own)) || (e.kind === 'file' && files.has(e.name))) continue
    const path = `${store}/${e.name}`
    const reason = tempCandidate(e.name, e.kind, 'storedImages') ? await tempReason(fs, path, 'storedImages') : 'not part of any Mesos store format'
    unclassified.push({ path, kind: e.kind, reason })
  }

  // --- layers/ -------------------------------------------------------------
  const layers: LayerSummary[] = []
  const configBlobs: string[] = []
  const layersRoot = layersDir(store)
  const layersInode = await fs.lstat(layersRoot)
  if (layersInode?.kind === 'dir') {
    const entries = (await fs.readdir(layersRoot)).sort((a, b) => (a.name < b.name ? -1 : 1))
    // Every layer's variants are found first, then counted in order with the next one's listing read ahead: one
    // tree's listing after another cost a threadpool round trip per layer, half of detection's time at 200 layers.
    const variants: { summary: LayerSummary; dir: 'rootfs' | 'rootfs.overlay'; path: string }[] = []
    for (const e of entries) {
      const path = `${layersRoot}/${e.name}`
      const shape = layerIdShape(e.name)
      if (e.kind === 'file' && SHA256_DIGEST.test(e.name)) {
        configBlobs.push(e.name)
        obs.note('layers-config-blob', path)
        continue
      }
      if (e.kind !== 'dir' || shape === undefined) {
        unclassified.push({
          path,
          kind: e.kind,
          reason: e.kind === 'dir' ? 'layer id is neither 64 hex digits nor sha256:<64 hex>' : 'neither a layer dir nor a config blob',
        })
        continue
      }
      if (shape === 'sha256-digest') obs.note('layer-digest-id', path)
      const summary: LayerSummary = { id: e.name, shape, backends: [], variants: [], hasJson: false }
      for (const child of await fs.readdir(path)) {
        const childPath = `${path}/${child.name}`
        if ((child.name === 'rootfs' || child.name === 'rootfs.overlay') && child.kind === 'dir') {
          variants.push({ summary, dir: child.name, path: childPath })
        } else if ((child.name === 'json' || child.name === 'VERSION' || child.name === 'layer.tar') && child.kind === 'file') {
          if (child.name === 'json') summary.hasJson = true
        } else {
          unclassified.push({ path: childPath, kind: child.kind, reason: 'not part of a layer dir' })
        }
      }
      layers.push(summary)
    }
    const counting = withListingsAhead(variants, (v) => startTreeListing(fs, v.path, READ_AHEAD, { skipPlainFiles: true }))
    let next = 0
    let done = 0
    for (const summary of layers) {
      for (; variants[next]?.summary === summary; next++) {
        const [{ dir, path }, first] = counting.next().value!
        const whiteouts = await countWhiteouts(fs, path, { first })
        summary.variants.push({ dir, whiteouts })
        if (dir === 'rootfs.overlay') {
          summary.backends.push('overlay')
          obs.note('layer-rootfs-overlay', path)
          if (hasOverlayForm(whiteouts)) obs.note('rootfs-overlay-native-whiteouts', path)
          if (hasAufsForm(whiteouts)) {
            defect(
              'rootfs-overlay-aufs-whiteouts',
              'rootfs.overlay holds aufs-form .wh.* whiteouts (written by Mesos 1.1.0); overlayfs shows them as files',
              'layerfsck check -p converts them in place',
              path,
            )
          }
        } else {
          summary.backends.push('aufs', 'copy', 'bind')
          if (hasOverlayForm(whiteouts)) {
            defect(
              'rootfs-overlay-form-whiteouts',
              'rootfs holds overlay-form whiteouts, which aufs, copy and bind cannot read',
              'layerfsck check reports each one; migrate rewrites the variant',
              path,
            )
          }
        }
      }
      summary.variants.sort((a, b) => (a.dir < b.dir ? -1 : 1))
      done += 1
      options.onProgress?.({ phase: 'layers', done, total: layers.length, id: summary.id })
    }
  } else if (layersInode !== undefined) {
    unclassified.push({ path: layersRoot, kind: layersInode.kind, reason: 'layers should be a directory' })
  }
  counts.layers = layers.length
  counts.configBlobs = configBlobs.length

  // --- staging/, gc/ ---------------------------------------------------------
  const countDir = async (path: string): Promise<number | undefined> => {
    const inode = await fs.lstat(path)
    if (inode === undefined) return undefined
    if (inode.kind !== 'dir') {
      unclassified.push({ path, kind: inode.kind, reason: 'should be a directory' })
      return undefined
    }
    return (await fs.readdir(path)).length
  }
  counts.staging = (await countDir(stagingDir(store))) ?? 0
  const gcCount = await countDir(gcDir(store))
  if (gcCount !== undefined) obs.note('store-gc-dir', gcDir(store))
  counts.gc = gcCount ?? 0

  // --- storedImages ----------------------------------------------------------
  const imagesPath = storedImagesPath(store)
  const images = await readMetadata(fs, imagesPath, decodeStoredImages)
  if (images.state === 'ok' || images.state === 'damaged') {
    counts.images = images.value.length
    for (const image of images.value) if (image.configDigest) obs.note('stored-image-config-digest', imagesPath)
  }
  noteProblems(metadataProblems, imagesPath, images)

  // --- provisioner dir -------------------------------------------------------
  if (workDir !== undefined) {
    await scanProvisioner(fs, provisionerDir(workDir), obs, counts, unclassified, metadataProblems)
  }

  const format = chooseFormat(new Set(obs.seen.keys()))
  const evidence: EvidenceSeen[] = []
  for (const f of MESOS_FORMATS) {
    for (const rule of f.evidence) {
      const o = obs.seen.get(rule.id)
      if (o) evidence.push({ id: rule.id, describe: rule.describe, version: f.version, count: o.count, examples: o.examples })
    }
  }

  return {
    family: 'mesos',
    workDir,
    format: { family: format.family, version: format.version, title: format.title, introducedBy: format.introducedBy },
    evidence,
    defects: [...defects].map(([id, d]) => ({ id, ...d })),
    layers,
    configBlobs,
    counts,
    metadataProblems,
    unclassified,
  }
}

/** A temp-shaped name is a crash's leftover only if it holds what it would have replaced. */
async function tempReason(fs: FsPort, path: string, checkpoint: CheckpointKind): Promise<string> {
  const verdict = await judgeCheckpointTemp(fs, path, checkpoint)
  return verdict.temp ? `checkpoint temp file left by a crash (${verdict.describe})` : `named like a ${checkpoint} temp file, but ${verdict.reason}`
}

function noteProblems(out: MesosDetect['metadataProblems'], path: string, state: MetadataState<unknown>): void {
  if (state.state === 'damaged') for (const p of state.problems) out.push({ path, code: p.code, message: p.message })
  if (state.state === 'unreadable') out.push({ path, code: 'unreadable', message: state.reason })
}

const KNOWN_BACKENDS = new Set<string>(BACKENDS)

async function scanProvisioner(
  fs: FsPort,
  provisioner: string,
  obs: Observations,
  counts: MesosDetect['counts'],
  unclassified: Unclassified[],
  metadataProblems: MesosDetect['metadataProblems'],
): Promise<void> {
  const inode = await fs.lstat(provisioner)
  if (inode === undefined) return
  if (inode.kind !== 'dir') {
    unclassified.push({ path: provisioner, kind: inode.kind, reason: 'the provisioner dir should be a directory' })
    return
  }
  for (const e of await fs.readdir(provisioner)) {
    if (e.name === 'containers' && e.kind === 'dir') continue
    const reason = e.name === '.probe' ? 'stray d_type probe dir left by agent start-up' : 'not part of the provisioner layout'
    unclassified.push({ path: `${provisioner}/${e.name}`, kind: e.kind, reason })
  }

  const list = async (path: string): Promise<DirEntry[] | undefined> => {
    try {
      return await fs.readdir(path)
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined
      throw err
    }
  }
  for await (const c of walkContainers(provisioner, list)) {
    const container = c.path
    if (c.kind !== 'dir') {
      unclassified.push({ path: container, kind: c.kind, reason: 'a container entry that is not a directory' })
      continue
    }
    counts.containers += 1
    for (const child of await fs.readdir(container)) {
      const path = `${container}/${child.name}`
      // Nested containers are the walk's to visit.
      if (child.name === 'containers' && child.kind === 'dir') continue
      else if (child.name === 'layers' && child.kind === 'file') {
        obs.note('container-layers-checkpoint', path)
        const layers = await readMetadata(fs, path, decodeContainerLayers)
        if ((layers.state === 'ok' || layers.state === 'damaged') && layers.value.config) obs.note('container-layers-config', path)
        noteProblems(metadataProblems, path, layers)
      } else if (child.name === 'backends' && child.kind === 'dir') {
        await scanBackends(fs, path, obs, counts, unclassified)
      } else if (tempCandidate(child.name, child.kind, 'layers')) {
        unclassified.push({ path, kind: child.kind, reason: await tempReason(fs, path, 'layers') })
      } else {
        unclassified.push({ path, kind: child.kind, reason: 'not part of a container dir' })
      }
    }
  }
}

async function scanBackends(
  fs: FsPort,
  backends: string,
  obs: Observations,
  counts: MesosDetect['counts'],
  unclassified: Unclassified[],
): Promise<void> {
  for (const b of await fs.readdir(backends)) {
    const backend = `${backends}/${b.name}`
    if (b.kind !== 'dir') {
      unclassified.push({ path: backend, kind: b.kind, reason: 'a backend entry that is not a directory' })
      continue
    }
    if (!KNOWN_BACKENDS.has(b.name)) unclassified.push({ path: backend, kind: b.kind, reason: 'rootfses of an unknown backend' })
    for (const child of await fs.readdir(backend)) {
      const path = `${backend}/${child.name}`
      if (child.name === 'rootfses' && child.kind === 'dir') counts.rootfses += (await fs.readdir(path)).length
      else if (child.name === 'scratch' && child.kind === 'dir') {
        for (const s of await fs.readdir(path)) {
          const links = await fs.lstat(`${path}/${s.name}/links`)
          if (links !== undefined) obs.note('provisioner-scratch-links', `${path}/${s.name}/links`)
        }
      } else if (child.name === 'links') {
        // Pre-1.2.0 overlay kept one links symlink per backend dir: legal,
        // old, and no evidence of a newer format.
      } else unclassified.push({ path, kind: child.kind, reason: 'not part of a backend dir' })
    }
  }
}
