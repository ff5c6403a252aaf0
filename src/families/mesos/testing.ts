/**
 * Synthetic Mesos stores of any size and generation, written straight through
 * the port (nothing is held in memory but the current layer's names), for
 * tests and benchmarks. The same options give the same store, byte for byte,
 * in memory and on disk.
 */
import { createHash } from 'node:crypto'
import { LayerfsckError } from '../../errors.js'
import type { Backend, FormatDescriptor } from './descriptor.js'
import { rootfsDirFor } from './descriptor.js'
import { latestMesosFormat, MESOS_FORMATS } from './formats/index.js'
import { makeDirs, writeFileAll } from '../../fs/io.js'
import type { FsPort } from '../../fs/port.js'
import {
  backendDir,
  containerDir,
  containerLayersPath,
  gcDir,
  layerDir,
  layersDir,
  provisionerDir,
  stagingDir,
  storedImagesPath,
} from './paths.js'
import { encodeContainerLayers } from './metadata/container-layers.js'
import { encodeStoredImages, type StoredImage } from './metadata/stored-images.js'
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from '../../layer/whiteout-names.js'

export interface GenerateOptions {
  /** Format version to lay the store out in; the newest by default. */
  format?: string
  layers?: number
  filesPerLayer?: number
  /** Files per directory inside a layer (the generator spreads files over `usr/dNNN`). */
  filesPerDir?: number
  whiteoutsPerLayer?: number
  opaquePerLayer?: number
  fileSize?: number
  /**
   * Rootfs variants to write, by backend. Defaults to every variant the
   * format has (overlay only from 1.1.0 on). Overlay whiteouts need root.
   */
  backends?: Backend[]
  /** Top-level containers in the provisioner dir (needs workDir). */
  containers?: number
  /** Nested children per top-level container. */
  nested?: number
  /** Rootfses per container (one per provisioned image; Mesos makes one per provision call). */
  rootfsesPerContainer?: number
  workDir?: string
  seed?: string
}

export interface GeneratedStore {
  store: string
  workDir: string | undefined
  format: string
  layerIds: string[]
  configDigest: string | undefined
  containerIds: string[][]
  /** Every entry written under layers/ rootfs trees. */
  rootfsEntries: number
}

const sha = (text: string): string => createHash('sha256').update(text).digest('hex')

function uuidFrom(text: string): string {
  const h = sha(text)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/**
 * Writes layer `index` of the chain into one rootfs variant. Layer 0 holds
 * plain files; every later layer also deletes `whiteouts` files of layer 0
 * and replaces `opaque` directories, in the whiteout form the variant uses.
 */
async function writeRootfs(
  fs: FsPort,
  rootfs: string,
  index: number,
  form: 'aufs' | 'overlay',
  o: Required<Pick<GenerateOptions, 'filesPerLayer' | 'filesPerDir' | 'whiteoutsPerLayer' | 'opaquePerLayer' | 'fileSize'>>,
): Promise<number> {
  let entries = 0
  await fs.mkdir(rootfs, 0o755)
  const payload = Buffer.alloc(o.fileSize, 0x61 + (index % 26))
  const dirs = Math.max(1, Math.ceil(o.filesPerLayer / o.filesPerDir))
  await fs.mkdir(`${rootfs}/usr`, 0o755)
  entries += 1
  for (let d = 0; d < dirs; d++) {
    const dir = `${rootfs}/usr/d${String(d).padStart(3, '0')}`
    await fs.mkdir(dir, 0o755)
    entries += 1
    for (let f = d * o.filesPerDir; f < Math.min(o.filesPerLayer, (d + 1) * o.filesPerDir); f++) {
      // Layer >0 files get a layer-specific name so that they never collide
      // with the whiteouts it carries for layer 0's names.
      await writeFileAll(fs, `${dir}/${index === 0 ? '' : `l${index}-`}f${String(f).padStart(4, '0')}`, payload)
      entries += 1
    }
  }
  if (index === 0) {
    await fs.mkdir(`${rootfs}/opt`, 0o755)
    for (let q = 0; q < o.opaquePerLayer; q++) {
      await fs.mkdir(`${rootfs}/opt/o${q}`, 0o755)
      await writeFileAll(fs, `${rootfs}/opt/o${q}/old.txt`, 'old\n')
      entries += 2
    }
    return entries + 1
  }
  const d0 = `${rootfs}/usr/d000`
  for (let w = 0; w < Math.min(o.whiteoutsPerLayer, o.filesPerLayer); w++) {
    const name = `f${String(w).padStart(4, '0')}`
    if (form === 'aufs') await writeFileAll(fs, `${d0}/${WHITEOUT_PREFIX}${name}`, '', 0o000)
    else await fs.mknod(`${d0}/${name}`, 'char', 0o000, { major: 0, minor: 0 })
    entries += 1
  }
  if (o.opaquePerLayer > 0) {
    await fs.mkdir(`${rootfs}/opt`, 0o755)
    entries += 1
  }
  for (let q = 0; q < o.opaquePerLayer; q++) {
    const dir = `${rootfs}/opt/o${q}`
    await fs.mkdir(dir, 0o755)
    await writeFileAll(fs, `${dir}/new-${index}.txt`, `layer ${index}\n`)
    if (form === 'aufs') await writeFileAll(fs, `${dir}/${OPAQUE_MARKER}`, '', 0o755)
    else await fs.xattr.set(dir, 'trusted.overlay.opaque', Buffer.from('y'))
    entries += form === 'aufs' ? 3 : 2
  }
  return entries
}

export async function generateMesosStore(fs: FsPort, store: string, options: GenerateOptions = {}): Promise<GeneratedStore> {
  const format: Readonly<FormatDescriptor> | undefined =
    options.format === undefined ? latestMesosFormat() : MESOS_FORMATS.find((f) => f.version === options.format)
  if (!format) throw new LayerfsckError('GENERATE', `unknown format version ${options.format}`)
  const shape = {
    filesPerLayer: options.filesPerLayer ?? 10,
    filesPerDir: options.filesPerDir ?? 100,
    whiteoutsPerLayer: options.whiteoutsPerLayer ?? 2,
    opaquePerLayer: options.opaquePerLayer ?? 1,
    fileSize: options.fileSize ?? 16,
  }
  const seed = options.seed ?? 'layerfsck'
  const layerCount = options.layers ?? 3
  const digests = format.layerIdShapes.includes('sha256-digest')
  const hasOverlayVariant = format.rootfsVariants.some((v) => v.dir === 'rootfs.overlay')
  const backends = options.backends ?? (hasOverlayVariant ? ['overlay'] : ['aufs'])
  // One variant per distinct rootfs dir the requested backends read.
  const variants = [...new Map(backends.map((b) => [rootfsDirFor(format, b).dir, rootfsDirFor(format, b)])).values()]

  await makeDirs(fs, store)
  await fs.mkdir(layersDir(store), 0o755)
  await fs.mkdir(stagingDir(store), 0o755)
  if (format.storeEntries.some((e) => e.name === 'gc')) await fs.mkdir(gcDir(store), 0o755)

  const layerIds: string[] = []
  let rootfsEntries = 0
  for (let i = 0; i < layerCount; i++) {
    const hex = sha(`${seed}:layer:${i}`)
    const id = digests ? `sha256:${hex}` : hex
    layerIds.push(id)
    const dir = layerDir(store, id)
    await fs.mkdir(dir, 0o755)
    if (!digests) {
      const parent = i > 0 ? { parent: layerIds[i - 1] } : {}
      await writeFileAll(fs, `${dir}/json`, JSON.stringify({ id, ...parent, created: '2016-10-14T00:00:00Z' }))
      await writeFileAll(fs, `${dir}/VERSION`, '1.0')
    }
    for (const v of variants) rootfsEntries += await writeRootfs(fs, `${dir}/${v.dir}`, i, v.whiteouts, shape)
  }

  let configDigest: string | undefined
  if (format.configBlobsInLayers) {
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layerIds } })
    configDigest = `sha256:${sha(config)}`
    await writeFileAll(fs, `${layersDir(store)}/${configDigest}`, config)
  }
  const image: StoredImage = {
    reference: { repository: 'library/generated', tag: seed },
    layerIds,
    ...(configDigest ? { configDigest } : {}),
  }
  await writeFileAll(fs, storedImagesPath(store), encodeStoredImages([image]))

  const containerIds: string[][] = []
  if (options.workDir !== undefined && (options.containers ?? 0) > 0) {
    const provisioner = provisionerDir(options.workDir)
    await makeDirs(fs, `${provisioner}/containers`)
    const backend = backends[0]!
    const rootfsDir = rootfsDirFor(format, backend).dir
    for (let c = 0; c < (options.containers ?? 0); c++) {
      const top = [uuidFrom(`${seed}:container:${c}`)]
      const family = [top, ...Array.from({ length: options.nested ?? 0 }, (_, n) => [...top, uuidFrom(`${seed}:nested:${c}:${n}`)])]
      for (const ids of family) {
        const dir = containerDir(provisioner, ids)
        await makeDirs(fs, dir)
        containerIds.push(ids)
        const bdir = backendDir(dir, backend)
        for (let r = 0; r < (options.rootfsesPerContainer ?? 1); r++) {
          const rootfsId = uuidFrom(`${seed}:rootfs:${ids.join('/')}:${r}`)
          await makeDirs(fs, `${bdir}/rootfses/${rootfsId}`)
          if (backend === 'overlay' || backend === 'aufs') {
            if (format.overlayLinks === 'scratch') {
              const scratch = `${bdir}/scratch/${rootfsId}`
              await makeDirs(fs, `${scratch}/workdir`)
              if (backend === 'overlay') await fs.mkdir(`${scratch}/upperdir`, 0o755)
              // The real target is a mkdtemp dir in /tmp, gone after a reboot:
              // a dangling links symlink is the normal state of a stopped agent.
              await fs.symlink(`/tmp/${rootfsId.slice(0, 6)}`, `${scratch}/links`)
            } else {
              // Before 1.2.0 one links symlink served the whole backend dir.
              if (r === 0) await fs.symlink(`/tmp/${rootfsId.slice(0, 6)}`, `${bdir}/links`)
            }
          }
        }
        if (format.containerLayersCheckpoint) {
          const paths = layerIds.map((id) => `${layerDir(store, id)}/${rootfsDir}`)
          const checkpoint = encodeContainerLayers({ paths, ...(configDigest ? { config: `${layersDir(store)}/${configDigest}` } : {}) })
          await writeFileAll(fs, containerLayersPath(dir), checkpoint)
        }
      }
    }
  }

  return { store, workDir: options.workDir, format: format.version, layerIds, configDigest, containerIds, rootfsEntries }
}
