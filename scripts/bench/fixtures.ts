/**
 * The trees the benchmark times against, each made once (untimed) and only
 * when an operation that needs it runs: generated Mesos stores on disk, a
 * 100k-file layer as a tar wrapped in an OCI image layout, an aufs-form
 * store kept as a tar to restore between migrate rounds, and a dead
 * provisioner container to rebuild between gc rounds.
 */
import { createHash } from 'node:crypto'
import { makeDirs, writeFileAll } from '../../src/fs/io.js'
import type { FsPort } from '../../src/fs/port.js'
import { generateMesosStore } from '../../src/families/mesos/testing.js'
import type { Backend } from '../../src/families/mesos/descriptor.js'
import { rootfsDirFor } from '../../src/families/mesos/descriptor.js'
import { latestMesosFormat } from '../../src/families/mesos/formats/index.js'
import { backendDir, containerDir, layerDir, provisionerDir, stagingDir } from '../../src/families/mesos/paths.js'
import { countEntries, log, q, sh, shell } from './run.js'

export const FILES_PER_LAYER = 1000
/** 2% of each layer's files are whiteouts of layer 0's names. */
export const WHITEOUTS_PER_LAYER = 20
export const OPAQUE_PER_LAYER = 2
/** A name of os::mkdtemp's shape in staging/: the defect check must find (staging-leftover, with --grace 0). */
export const PLANTED_STAGING = 'Xb3kQ9'
/** An aufs whiteout inside an overlay-form variant: the defect the contents pass must find (aufs-whiteout-in-overlay). */
export const PLANTED_AUFS_WHITEOUT = '.wh.bench-planted'

export interface Store {
  store: string
  layerIds: string[]
  /** Every entry under the store, as find counts them. */
  entries: number
  /** The check codes the planted defects must produce. */
  planted: string[]
}

export interface BigLayer {
  store: string
  layerId: string
  /** The layer's rootfs tree in the store: what export reads and tar -cf archives. */
  tree: string
  entries: number
  tar: string
  /** `oci:<dir>:bench`, the argument import takes. */
  image: string
  /** The id import gives the layer: its blob's digest. */
  digest: string
}

export interface AufsStore {
  /** The store as generated (restored from `tar` whenever a run changed it). */
  store: string
  tar: string
  layers: number
  entries: number
}

export interface GcWork {
  store: string
  workDir: string
  runtimeDir: string
  knownContainers: string
  container: string
  /** The copy backend's rootfs dir inside the container: where the tree to collect goes. */
  rootfs: string
  skeletonTar: string
}

export class Fixtures {
  readonly backend: Backend
  private cache = new Map<string, unknown>()

  constructor(
    readonly fs: FsPort,
    readonly root: string,
    readonly totalEntries: number,
    readonly layerFiles: number,
    readonly isRoot: boolean,
  ) {
    // Overlay-form whiteouts are 0/0 char devices, which only root may mknod.
    this.backend = isRoot ? 'overlay' : 'copy'
  }

  private async once<T>(key: string, make: () => Promise<T>): Promise<T> {
    if (!this.cache.has(key)) this.cache.set(key, await make())
    return this.cache.get(key) as T
  }

  /** The store check and detect read: N/1000 layers of 1,000 files with two planted defects. */
  mainStore(): Promise<Store> {
    return this.once('main', () => this.plantedStore('store', Math.max(1, Math.round(this.totalEntries / FILES_PER_LAYER))))
  }

  /** The one-layer store startup's check reads. */
  smallStore(): Promise<Store> {
    return this.once('small', () => this.plantedStore('store-1', 1))
  }

  private async plantedStore(name: string, layers: number): Promise<Store> {
    const store = `${this.root}/${name}`
    const t = Date.now()
    log(`generating ${name}: ${layers} layer(s) x ${FILES_PER_LAYER} files, ${this.backend} form`)
    const g = await generateMesosStore(this.fs, store, {
      layers,
      filesPerLayer: FILES_PER_LAYER,
      whiteoutsPerLayer: WHITEOUTS_PER_LAYER,
      opaquePerLayer: OPAQUE_PER_LAYER,
      backends: [this.backend],
      seed: `bench-${name}`,
    })
    await this.fs.mkdir(`${stagingDir(store)}/${PLANTED_STAGING}`, 0o700)
    const planted = ['staging-leftover']
    if (this.backend === 'overlay') {
      // Deep in the last layer, so only a walk of every layer finds it.
      const variant = rootfsDirFor(latestMesosFormat(), 'overlay').dir
      await writeFileAll(this.fs, `${layerDir(store, g.layerIds.at(-1)!)}/${variant}/usr/d009/${PLANTED_AUFS_WHITEOUT}`, '')
      planted.push('aufs-whiteout-in-overlay')
    }
    const entries = countEntries(store)
    log(`  ${entries} entries in ${((Date.now() - t) / 1000).toFixed(1)} s`)
    return { store, layerIds: g.layerIds, entries, planted }
  }

  /** One layer of `layerFiles` files in a store, its tree as a tar, and that tar as an OCI image layout. */
  bigLayer(): Promise<BigLayer> {
    return this.once('big', async () => {
      const store = `${this.root}/layer-store`
      const t = Date.now()
      log(`generating one layer of ${this.layerFiles} files`)
      const g = await generateMesosStore(this.fs, store, {
        layers: 1,
        filesPerLayer: this.layerFiles,
        whiteoutsPerLayer: 0,
        opaquePerLayer: OPAQUE_PER_LAYER,
        backends: [this.backend],
        seed: 'bench-layer',
      })
      const layerId = g.layerIds[0]!
      const tree = `${layerDir(store, layerId)}/${rootfsDirFor(latestMesosFormat(), this.backend).dir}`
      const tar = `${this.root}/layer.tar`
      sh(['tar', '-cf', tar, '-C', tree, '.'])
      const { image, digest } = await this.ociLayout(tar)
      const entries = countEntries(tree)
      log(`  ${entries} entries in ${((Date.now() - t) / 1000).toFixed(1)} s`)
      return { store, layerId, tree, entries, tar, image, digest }
    })
  }

  /** An OCI image layout holding one uncompressed layer (the tar, hard-linked in as its blob). */
  private async ociLayout(tar: string): Promise<{ image: string; digest: string }> {
    const dir = `${this.root}/oci`
    const blobs = `${dir}/blobs/sha256`
    await makeDirs(this.fs, blobs)
    const hash = createHash('sha256')
    let size = 0
    for await (const chunk of await this.fs.openRead(tar)) {
      hash.update(chunk as Buffer)
      size += (chunk as Buffer).length
    }
    const layerHex = hash.digest('hex')
    await this.fs.link(tar, `${blobs}/${layerHex}`)
    const blob = async (text: string): Promise<{ digest: string; size: number }> => {
      const bytes = Buffer.from(text)
      const hex = createHash('sha256').update(bytes).digest('hex')
      await writeFileAll(this.fs, `${blobs}/${hex}`, bytes)
      return { digest: `sha256:${hex}`, size: bytes.length }
    }
    const config = await blob(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${layerHex}`] } }),
    )
    const manifest = await blob(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerHex}`, size }],
      }),
    )
    await writeFileAll(
      this.fs,
      `${dir}/index.json`,
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            ...manifest,
            annotations: { 'org.opencontainers.image.ref.name': 'bench' },
          },
        ],
      }),
    )
    await writeFileAll(this.fs, `${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}')
    return { image: `oci:${dir}:bench`, digest: `sha256:${layerHex}` }
  }

  /**
   * A store of N/1000 layers in the aufs form (the `rootfs` variant the copy
   * and aufs backends read), and a tar of it to restore it from: migrate's
   * source, and the tree a dead copy-backend container holds for gc.
   */
  aufsStore(): Promise<AufsStore> {
    return this.once('aufs', async () => {
      const store = `${this.root}/aufs-store`
      const layers = Math.max(1, Math.round(this.totalEntries / FILES_PER_LAYER))
      const t = Date.now()
      log(`generating aufs-store: ${layers} layers x ${FILES_PER_LAYER} files, aufs form`)
      await generateMesosStore(this.fs, store, {
        layers,
        filesPerLayer: FILES_PER_LAYER,
        whiteoutsPerLayer: WHITEOUTS_PER_LAYER,
        opaquePerLayer: OPAQUE_PER_LAYER,
        backends: ['copy'],
        seed: 'bench-aufs',
      })
      const tar = `${this.root}/aufs-store.tar`
      sh(['tar', '-cf', tar, '-C', store, '.'])
      const entries = countEntries(store)
      log(`  ${entries} entries in ${((Date.now() - t) / 1000).toFixed(1)} s`)
      return { store, tar, layers, entries }
    })
  }

  /** Puts the aufs store back as generated (untimed, between migrate rounds). */
  async restoreAufsStore(a: AufsStore): Promise<void> {
    shell(`rm -rf ${q(a.store)} && mkdir ${q(a.store)} && tar -xf ${q(a.tar)} -C ${q(a.store)}`)
  }

  /**
   * A one-layer copy-backend store and an agent work dir with one provisioner
   * container that is not live (an empty --known-containers file), whose
   * rootfs gets a full copy of the aufs store before each gc run.
   */
  gcWork(): Promise<GcWork> {
    return this.once('gc', async () => {
      const base = `${this.root}/gc`
      const store = `${base}/store`
      const workDir = `${base}/work`
      const g = await generateMesosStore(this.fs, store, {
        layers: 1,
        filesPerLayer: FILES_PER_LAYER,
        backends: ['copy'],
        workDir,
        containers: 1,
        seed: 'bench-gc',
      })
      const container = containerDir(provisionerDir(workDir), g.containerIds[0]!)
      const rootfsIds = await this.fs.readdir(`${backendDir(container, 'copy')}/rootfses`)
      const rootfs = `${backendDir(container, 'copy')}/rootfses/${rootfsIds[0]!.name}`
      const runtimeDir = `${base}/runtime`
      await this.fs.mkdir(runtimeDir, 0o755)
      const knownContainers = `${base}/known-containers`
      await writeFileAll(this.fs, knownContainers, '')
      const skeletonTar = `${base}/container-skeleton.tar`
      sh(['tar', '-cf', skeletonTar, '-C', `${provisionerDir(workDir)}/containers`, g.containerIds[0]!.join('/')])
      return { store, workDir, runtimeDir, knownContainers, container, rootfs, skeletonTar }
    })
  }

  /** Puts the dead container back with a full tree in its rootfs (untimed, before each gc run). */
  async rebuildContainer(w: GcWork, a: AufsStore): Promise<void> {
    const containers = `${provisionerDir(w.workDir)}/containers`
    shell(
      `rm -rf ${q(w.container)} && tar -xf ${q(w.skeletonTar)} -C ${q(containers)} && tar -xf ${q(a.tar)} -C ${q(w.rootfs)}`,
    )
  }
}
