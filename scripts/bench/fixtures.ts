/**
 * The trees the benchmark times against, each made once (untimed) and only
 * when an operation that needs it runs: generated Mesos stores on disk, a
 * 100k-file layer as a tar wrapped in an OCI image layout, an aufs-form
 * store kept as a tar to restore between migrate rounds, a dead
 * provisioner container to rebuild between gc rounds, and a real Docker
 * overlay2 data root with orphan layer dirs to restore between gc rounds.
 */
import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { makeDirs, readTextLimited, writeFileAll } from '../../src/fs/io.js'
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

export interface DockerOrphans {
  /** The data root: fixtures/docker/overlay2.tar.gz as dockerd left it, plus the orphans. */
  store: string
  /** The orphan layer dirs (`overlay2/<64 hex>`) and their short links (`overlay2/l/<26 chars>`). */
  dirs: string[]
  links: string[]
  /** The orphans as a tar of `<id>/…` and `l/<short>` members, to extract into a driver dir. */
  tar: string
  /** Layer dirs and short links of the real data root: gc must leave exactly these. */
  realDirs: number
  realLinks: number
  /** The orphans' entries, dirs and links included, as find counts them. */
  entries: number
  knownContainers: string
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

/** How many orphan layer dirs the Docker gc op plants (an interrupted pull of a 20-layer image). */
export const DOCKER_ORPHANS = 20
/**
 * O3 of fixtures/docker/README.md: wh-third-overlay:1's top layer, whose
 * child the orphans are, as the layers of an image built on it that a pull
 * wrote before it was cut short.
 */
const DOCKER_ORPHAN_PARENT = '188d9247bf9d7ac87bdcc1c71d358b1fd100fffb6d5196eff460f18b3e081f3b'
const DOCKER_FIXTURES = fileURLToPath(new URL('../../../fixtures/docker', import.meta.url))
const TAR_XATTRS = "--xattrs --xattrs-include='*' --numeric-owner"

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** A short link name as overlay2's generateID makes it: 26 characters of base32 of random bytes (here a hash, so runs repeat). */
function shortLinkName(seed: string): string {
  const bytes = createHash('sha256').update(seed).digest()
  let out = ''
  for (let bit = 0; out.length < 26; bit += 5) {
    const byte = bit >> 3
    const word = (bytes[byte]! << 8) | (bytes[byte + 1] ?? 0)
    out += BASE32[(word >> (11 - (bit & 7))) & 31]
  }
  return out
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

  /** Layers of the generated stores (check, detect, migrate and gc read them): N/1000 of 1,000 files. */
  get storeLayers(): number {
    return Math.max(1, Math.round(this.totalEntries / FILES_PER_LAYER))
  }

  /** The store check and detect read: N/1000 layers of 1,000 files with two planted defects. */
  mainStore(): Promise<Store> {
    return this.once('main', () => this.plantedStore('store', this.storeLayers))
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
      const layers = this.storeLayers
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

  /**
   * A copy of the real Docker 20.10 overlay2 data root (fixtures/docker,
   * extracted by its own extract.sh, which also restores the device hard
   * links tar cannot carry) with DOCKER_ORPHANS layer dirs no record and no
   * container names, laid out as dockerd's overlay2 Create and ApplyDiff
   * leave a child layer whose pull was cut short before its layer record
   * was written: `<id>/` (0710) with `diff/`, `link`, `lower` (O3's chain)
   * and an empty `work/`, and `l/<short> -> ../<id>/diff`. Their diff trees
   * hold as many files between them, in the same shape (100 a dir, 2%
   * whiteouts as 0/0 devices, 2 opaque dirs), as the aufs store the Mesos
   * gc op removes, so the two gc rows time the same amount of removal.
   */
  dockerOrphans(): Promise<DockerOrphans> {
    return this.once('docker-orphans', async () => {
      const base = `${this.root}/gc-docker`
      const store = `${base}/data`
      const drv = `${store}/overlay2`
      const t = Date.now()
      await makeDirs(this.fs, base)
      sh([`${DOCKER_FIXTURES}/extract.sh`, 'overlay2', store])
      const realDirs = (await this.fs.readdir(drv)).filter((e) => e.name !== 'l').length
      const realLinks = (await this.fs.readdir(`${drv}/l`)).length
      const pristine = countEntries(drv)
      const parent = `${drv}/${DOCKER_ORPHAN_PARENT}`
      // A child's lower chain: its parent's short link, then the parent's own chain.
      const parentLink = (await readTextLimited(this.fs, `${parent}/link`, 64)).trim()
      const lower = `l/${parentLink}:${(await readTextLimited(this.fs, `${parent}/lower`, 4096)).trim()}`

      const files = Math.max(1, Math.round((this.storeLayers * FILES_PER_LAYER) / DOCKER_ORPHANS))
      log(`generating gc-docker: ${DOCKER_ORPHANS} orphan layer dirs x ${files} files in the overlay2 fixture`)
      const gen = `${base}/gen`
      const g = await generateMesosStore(this.fs, gen, {
        layers: DOCKER_ORPHANS,
        filesPerLayer: files,
        whiteoutsPerLayer: Math.round((files * WHITEOUTS_PER_LAYER) / FILES_PER_LAYER),
        opaquePerLayer: OPAQUE_PER_LAYER,
        backends: ['overlay'],
        seed: 'bench-docker',
      })
      const variant = rootfsDirFor(latestMesosFormat(), 'overlay').dir
      const dirs: string[] = []
      const links: string[] = []
      for (let i = 0; i < DOCKER_ORPHANS; i++) {
        const id = createHash('sha256').update(`bench-docker:orphan:${i}`).digest('hex')
        const short = shortLinkName(`bench-docker:link:${i}`)
        const dir = `${drv}/${id}`
        // overlay2's Create: the dir, diff/, link, l/<short>, lower, work/; then ApplyDiff fills diff/.
        await this.fs.mkdir(dir, 0o710)
        await this.fs.rename(`${layerDir(gen, g.layerIds[i]!)}/${variant}`, `${dir}/diff`)
        await writeFileAll(this.fs, `${dir}/link`, short)
        await this.fs.symlink(`../${id}/diff`, `${drv}/l/${short}`)
        await writeFileAll(this.fs, `${dir}/lower`, lower)
        await this.fs.mkdir(`${dir}/work`, 0o700)
        dirs.push(dir)
        links.push(`${drv}/l/${short}`)
      }
      shell(`rm -rf ${q(gen)}`)
      const tar = `${base}/orphans.tar`
      const members = [...dirs, ...links].map((p) => q(p.slice(drv.length + 1))).join(' ')
      shell(`tar ${TAR_XATTRS} -cpf ${q(tar)} -C ${q(drv)} ${members}`)
      const knownContainers = `${base}/known-containers`
      await writeFileAll(this.fs, knownContainers, '')
      const entries = countEntries(drv) - pristine
      log(`  ${entries} entries in ${((Date.now() - t) / 1000).toFixed(1)} s`)
      return { store, dirs, links, tar, realDirs, realLinks, entries, knownContainers }
    })
  }

  /** Puts the data root back as generated (untimed, after a gc round took the orphans). */
  async restoreDockerOrphans(d: DockerOrphans): Promise<void> {
    shell(
      `rm -rf ${q(d.store)} && ${q(`${DOCKER_FIXTURES}/extract.sh`)} overlay2 ${q(d.store)} && ` +
        `tar ${TAR_XATTRS} -xpf ${q(d.tar)} -C ${q(`${d.store}/overlay2`)}`,
    )
  }

  /** The orphans' trees and links, extracted into `dir` (a plain dir, not a data root) for rm -rf. */
  extractDockerOrphans(d: DockerOrphans, dir: string): void {
    shell(`rm -rf ${q(dir)} && mkdir -p ${q(dir)} && tar ${TAR_XATTRS} -xpf ${q(d.tar)} -C ${q(dir)}`)
  }
}
