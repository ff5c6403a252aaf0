/**
 * `layerfsck import`: puts an image into a Mesos docker store the way
 * Mesos' pullers lay it out (mesos_docker.md §1.1). Every layer is built in
 * `staging/XXXXXX/<id>/rootfs[.overlay]` and renamed into `layers/` only when
 * whole and verified; a layer already present for the backend is reused, as
 * Mesos never refreshes a layer. `storedImages` is rewritten last, durably.
 *
 * Crash story: before a layer's rename, only staging holds it (gc removes
 * staging leftovers); after it, the layer is complete and a re-run reuses
 * it. Until storedImages is replaced the store references nothing new, so a
 * crash never leaves an image pointing at a missing layer.
 */
import { randomBytes } from 'node:crypto'
import { isErrno, LayerfsckError } from '../errors.js'
import { readStamp } from '../format/stamp.js'
import type { Backend } from '../format/descriptor.js'
import { ensureDir, makeDirs, writeFileAll, writeFileDurable } from '../fs/io.js'
import type { FsPort } from '../fs/port.js'
import { removeTree } from '../fs/remove.js'
import { resolveRoot } from '../fs/roots.js'
import { basename, dirname } from '../fs/safe-path.js'
import type { CodecNote } from '../layer/whiteout-codec.js'
import { gcDir, layerDir, layersDir, rootfsName, stagingDir, storedImagesPath } from '../mesos/paths.js'
import { readMetadata } from '../metadata/read.js'
import { decodeStoredImages, encodeStoredImages, referenceKey, type ImageReference, type StoredImage } from '../metadata/stored-images.js'
import { importLayerTar } from '../tar/import-layer.js'
import { parseImageArgument, parseReference, planDockerArchive, planOciLayout, type ImagePlan, type SourceKind } from './source.js'

export const IMPORT_SCHEMA_VERSION = 1

export interface ImportOptions {
  store: string
  backend: Backend
  /** `[oci:|oci-archive:|docker-archive:]PATH[:TAG]`. */
  image: string
  /** Record the image under this reference instead of the one the source names. */
  reference?: string
  allowDevices?: boolean
  preserveOwners?: boolean
  /** Create the store (and its staging/ and gc/) when it does not exist yet. */
  createStore?: boolean
  onProgress?: (event: ImportProgress) => void
}

export type ImportProgress =
  | { phase: 'archive'; entries: number; bytes: number }
  | { phase: 'layer'; index: number; total: number; id: string; entries: number; bytes: number }

export interface ImportedLayer {
  id: string
  status: 'imported' | 'reused'
  rootfs: string
  entries: number
  bytes: number
  whiteouts: number
  opaqueDirs: number
  notes: CodecNote[]
  warnings: { path: string; message: string }[]
}

export interface ImportReport {
  schemaVersion: typeof IMPORT_SCHEMA_VERSION
  store: string
  adapter: 'disk' | 'memory'
  backend: Backend
  source: { kind: SourceKind; path: string; tag: string | undefined }
  reference: string
  layers: ImportedLayer[]
  config: { digest: string; status: 'imported' | 'reused' } | undefined
  storedImages: 'added' | 'replaced'
}

async function exists(fs: FsPort, path: string): Promise<boolean> {
  return (await fs.lstat(path)) !== undefined
}

/** `staging/XXXXXX`, as os::mkdtemp names Mesos' own staging dirs, so check and gc treat both alike. */
async function makeStagingDir(fs: FsPort, store: string): Promise<string> {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  for (;;) {
    const name = [...randomBytes(6)].map((b) => alphabet[b % alphabet.length]).join('')
    const path = `${stagingDir(store)}/${name}`
    try {
      await fs.mkdir(path, 0o700)
      return path
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err
    }
  }
}

/** A bare path: a directory is an OCI layout; a file is one of the two archive kinds, told apart once unpacked. */
async function detectShape(fs: FsPort, path: string): Promise<'oci' | 'archive'> {
  const inode = await fs.lstat(path)
  if (inode?.kind === 'dir') return 'oci'
  if (inode?.kind !== 'file') {
    throw new LayerfsckError('IMAGE_SOURCE', `image ${path} is ${inode ? `a ${inode.kind}` : 'missing'}; give an OCI layout dir or an image archive`, {
      hint: path.includes(':') ? 'a tag is read only after a transport: oci:DIR:TAG or oci-archive:FILE:TAG' : undefined,
    })
  }
  return 'archive'
}

export async function importImage(fs: FsPort, options: ImportOptions): Promise<ImportReport> {
  const arg = parseImageArgument(options.image)
  const sourcePath = arg.path
  if (options.createStore && !(await exists(fs, options.store))) await makeDirs(fs, options.store)
  const store = await resolveRoot(fs, options.store, 'store')
  // A store in a newer format than this build knows is refused before any write.
  await readStamp(fs, store)
  for (const dir of [layersDir(store), stagingDir(store), gcDir(store)]) await ensureDir(fs, dir)

  const imagesPath = storedImagesPath(store)
  const stored = await readMetadata(fs, imagesPath, decodeStoredImages)
  if (stored.state === 'damaged' || stored.state === 'unreadable') {
    const why = stored.state === 'damaged' ? stored.problems[0]!.message : stored.reason
    throw new LayerfsckError('STORED_IMAGES_DAMAGED', `${imagesPath} is damaged (${why}); refusing to rewrite it`, {
      hint: 'run `layerfsck check` on the store first',
    })
  }
  const images: StoredImage[] = stored.state === 'ok' ? stored.value : []

  const stage = await makeStagingDir(fs, store)
  try {
    const shape = arg.kind ?? (await detectShape(fs, sourcePath))
    let kind: SourceKind
    let plan: ImagePlan
    if (shape === 'oci') {
      kind = 'oci'
      plan = await planOciLayout(fs, sourcePath, 'oci', arg.tag)
    } else {
      const archive = `${stage}/archive`
      await fs.mkdir(archive, 0o700)
      await importLayerTar(fs, await fs.openRead(sourcePath), archive, {
        form: 'aufs',
        preserveOwners: false,
        onProgress: (p) => options.onProgress?.({ phase: 'archive', ...p }),
      })
      kind = shape !== 'archive' ? shape : (await exists(fs, `${archive}/oci-layout`)) ? 'oci-archive' : 'docker-archive'
      plan = kind === 'docker-archive' ? await planDockerArchive(fs, archive) : await planOciLayout(fs, archive, 'oci-archive', arg.tag)
    }
    const reference: ImageReference = options.reference ? parseReference(options.reference) : plan.reference

    const variant = rootfsName(options.backend)
    const form = options.backend === 'overlay' ? 'overlay' : 'aufs'
    const layers: ImportedLayer[] = []
    for (const [index, layer] of plan.layers.entries()) {
      const target = layerDir(store, layer.id)
      const rootfs = `${target}/${variant}`
      const done: ImportedLayer = { id: layer.id, status: 'reused', rootfs, entries: 0, bytes: 0, whiteouts: 0, opaqueDirs: 0, notes: [], warnings: [] }
      layers.push(done)
      if ((await fs.lstat(rootfs))?.kind === 'dir') continue

      const staged = `${stage}/${basename(target)}`
      await fs.mkdir(staged, 0o755)
      await fs.mkdir(`${staged}/${variant}`, 0o755)
      const result = await importLayerTar(fs, await layer.open(), `${staged}/${variant}`, {
        form,
        sync: true,
        ...(options.allowDevices !== undefined ? { allowDevices: options.allowDevices } : {}),
        ...(options.preserveOwners !== undefined ? { preserveOwners: options.preserveOwners } : {}),
        onProgress: (p) => options.onProgress?.({ phase: 'layer', index, total: plan.layers.length, id: layer.id, ...p }),
      })
      layer.verify()
      for (const extra of layer.extras) await writeFileAll(fs, `${staged}/${extra.name}`, extra.bytes, 0o644)
      Object.assign(done, {
        status: 'imported',
        entries: result.entries,
        bytes: result.bytes,
        whiteouts: result.conversion?.whiteouts ?? 0,
        opaqueDirs: result.conversion?.opaqueDirs ?? 0,
        notes: result.conversion?.notes ?? [],
        warnings: result.warnings,
      })
      await fs.fsync(staged)
      if (!(await exists(fs, target))) {
        await fs.rename(staged, target)
        await fs.fsync(layersDir(store))
      } else {
        // Pulled before for the other backend: only the new variant moves in (StoreProcess::moveLayer).
        await fs.rename(`${staged}/${variant}`, rootfs)
        await fs.fsync(target)
      }
    }

    let config: ImportReport['config']
    if (plan.config) {
      const path = layerDir(store, plan.config.digest)
      config = { digest: plan.config.digest, status: 'reused' }
      if (!(await exists(fs, path))) {
        await writeFileDurable(fs, path, plan.config.bytes)
        config.status = 'imported'
      }
    }

    const entry: StoredImage = { reference, layerIds: plan.layers.map((l) => l.id) }
    if (plan.config) entry.configDigest = plan.config.digest
    const key = referenceKey(reference)
    const at = images.findIndex((i) => i.reference !== undefined && referenceKey(i.reference) === key)
    if (at >= 0) images[at] = entry
    else images.push(entry)
    await writeFileDurable(fs, imagesPath, encodeStoredImages(images))

    return {
      schemaVersion: IMPORT_SCHEMA_VERSION,
      store,
      adapter: fs.kind,
      backend: options.backend,
      source: { kind, path: sourcePath, tag: arg.tag },
      reference: key,
      layers,
      config,
      storedImages: at >= 0 ? 'replaced' : 'added',
    }
  } finally {
    await removeTree(fs, stage)
    await fs.fsync(dirname(stage))
  }
}
