import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { detectDrivers, readDockerRoot, type DockerModel, type Overlay2LayerDir, type OverlayLayerDir } from '../src/families/docker/model.js'
import {
  imageDbContentPath,
  layerRecordDir,
  linkPath,
  lowerEntryLink,
  repositoriesPath,
  driverLayerDir,
  REMOVING_RECORD,
  removingRecordChain,
  stripInit,
} from '../src/families/docker/paths.js'
import { DOCKER_FORMATS, DOCKER_OVERLAY2_FORMATS, DOCKER_OVERLAY_FORMATS, dockerFormat } from '../src/families/docker/formats/index.js'
import { entriesFor } from '../src/families/docker/formats/format.js'
import { makeDirs, writeFileAll } from '../src/fs/io.js'
import { createMemoryFs, type MemoryFs } from '../src/fs/memory.js'
import { removeTree } from '../src/fs/remove.js'
import { describeTree } from '../src/testing/tree-spec.js'
import { diskSubject, memorySubject, SUBJECTS, type Subject } from './support/adapters.js'
import { dockerFixtureSkipReason, loadDockerFixture } from './support/docker-fixture.js'
import { WH_DIFF_IDS } from './support/fixtures.js'

/** fixtures/docker/README.md, "Layers: chain id → cache-id", overlay2 column, with the full ids of overlay2.listing.md. */
const OVERLAY2_LAYERS: Record<string, { cacheId: string; parent?: string; size: number }> = {
  'sha256:0a3c4199b078910c5fd773fb6589c3326033974b62f73f1c320cdf4f16be2225': { cacheId: 'e1b89a3c92a882f30e96cc029bdfad8d0c2f2b64cd7972617a234b34fcb20220', size: 63 },
  'sha256:cb9e4815f3ba4f8814b7b92441a7ebd22555ff6318aadeaf66d4c4195f962c12': {
    cacheId: '073f1888b945de6ee4ebe050447b8540d5d906eade10655b3f15c0a839b2def4',
    parent: 'sha256:0a3c4199b078910c5fd773fb6589c3326033974b62f73f1c320cdf4f16be2225',
    size: 17,
  },
  'sha256:b4dfabf462d6ce08bdb6354ece6934e701f6b02e2583fa6cc7bea8a5a22a8900': {
    cacheId: '188d9247bf9d7ac87bdcc1c71d358b1fd100fffb6d5196eff460f18b3e081f3b',
    parent: 'sha256:cb9e4815f3ba4f8814b7b92441a7ebd22555ff6318aadeaf66d4c4195f962c12',
    size: 6,
  },
  'sha256:9ceab0dbfcd3f30fd6f72790121a5785b54c628dd72d71432d2f54611381b3b7': {
    cacheId: '0089693a196490a1670278fb1d0be3ef2cf82be1ebf9677088c8727c13f5bca1',
    parent: 'sha256:b4dfabf462d6ce08bdb6354ece6934e701f6b02e2583fa6cc7bea8a5a22a8900',
    size: 42,
  },
  'sha256:e7585902c8bdda7b1ea9fbcd567add3ba0abd79d2f26a3f298ed556285456471': { cacheId: '30aabedd8c654f87dd52d14e22cb38d71e978da66b3f6c306a19b7fc03a186f7', size: 63 },
  'sha256:ab0cbe283465d3497373db2432458ab514ec8e6a52c7a4bc1e4b2d8b68d4b2ea': {
    cacheId: '42798e437b87087c36c00f6b490eeb52f05c37352fea9c8d55450fbd6327f42f',
    parent: 'sha256:e7585902c8bdda7b1ea9fbcd567add3ba0abd79d2f26a3f298ed556285456471',
    size: 10,
  },
  'sha256:588d1fb8718967cb4b182964f069071edf7510b7ef4cdc080566265ac300baea': {
    cacheId: 'a624f24536a9c4e94370be883fb33e685434a917f95ae070de10e70e46f8eab1',
    parent: 'sha256:ab0cbe283465d3497373db2432458ab514ec8e6a52c7a4bc1e4b2d8b68d4b2ea',
    size: 6,
  },
}
const O1_CACHE = 'e1b89a3c92a882f30e96cc029bdfad8d0c2f2b64cd7972617a234b34fcb20220'
const O2_CACHE = '073f1888b945de6ee4ebe050447b8540d5d906eade10655b3f15c0a839b2def4'
const O3_CACHE = '188d9247bf9d7ac87bdcc1c71d358b1fd100fffb6d5196eff460f18b3e081f3b'
const V1_CACHE = '30aabedd8c654f87dd52d14e22cb38d71e978da66b3f6c306a19b7fc03a186f7'
const O3_CHAIN = 'sha256:b4dfabf462d6ce08bdb6354ece6934e701f6b02e2583fa6cc7bea8a5a22a8900'
const O1_CHAIN = 'sha256:0a3c4199b078910c5fd773fb6589c3326033974b62f73f1c320cdf4f16be2225'

/** README "Containers", overlay2: container id → mount-id and the parent chain. */
const OVERLAY2_MOUNTS: Record<string, { mountId: string; parent: string }> = {
  '872a243c9855e87e8a446cb0124824bbafe4c8f0a9a07fa7eb2ff4530c1c8a33': { mountId: '60746c96f65914e7d5a63ac218f74c7c497e2bdb42050f145406731a50c35626', parent: O3_CHAIN },
  '7fc3ecacd459f60b549e8f8d18b8b371832c5157d2ef7b911200f95ac55d8946': {
    mountId: 'ccabcc89da773ca1f0f8825b6c281aac79a6eed865406e5c5473522f2f2d0bea',
    parent: 'sha256:588d1fb8718967cb4b182964f069071edf7510b7ef4cdc080566265ac300baea',
  },
  '2cd973dd1a6e4eca2d930fe80ebf0a51767d286f88f458f0a9c7cf3ab87ddaa3': { mountId: '2caccca4ca6e08be0d01dbe0949616ad4ccaec2119b6e8e4357b3b8cd5c7fa19', parent: O3_CHAIN },
  '75e34ce4f129fc405472a515c8596987d7acc725d628109b83c2b8ae3e18568d': {
    mountId: '2dd3872bcaa09a7b822bd8aa8b70c848c2b8efce46a1c43d9e7ae1a74498f83a',
    parent: 'sha256:9ceab0dbfcd3f30fd6f72790121a5785b54c628dd72d71432d2f54611381b3b7',
  },
}

const WH_THIRD_OVERLAY = 'sha256:fefbce03962c5f162d292080ad4bddb2ad344f978ea6d2bd59637ab7b198386f'
const OVERLAY2_IMAGES = [
  'sha256:7c431c4e9e510446ae3c1545cc27991d04c3ffea49a2f00a4dbf83711d2a8ad7',
  'sha256:b0724e953ff52d13844be684f034f78d1665001a9c61d7d2b4713a43ca64f1e0',
  WH_THIRD_OVERLAY,
]

/** README "overlay (legacy) store": the image top layer each container's lower-id names, by mount-id. */
const OVERLAY_LOWER_IDS: Record<string, string> = {
  '9c94711defeeda914c138400ff2c6808e958d111d060c9611756b9228f39bbb0': '14e3c20fff106e0c995d393cc4008c636c58201aad1e355617b3827eabe73b35',
  '2562fcbc7573dd038170e68b8edac880b5b1af7fc1f9f91fd7efdf62fd91a6e2': '14e3c20fff106e0c995d393cc4008c636c58201aad1e355617b3827eabe73b35',
  '4d93afe7f4c39a30a46e4f5693b689dcdc8fe680d4b4606a30053561fe51f6b3': '29d40b2ac0b356e38ff3e01f414a10b5065f7d3eeed94585c122611add599b88',
  'a9a420b10cf64c3cca1e5b0932207dc7d882fe12e4a797504cd0521f95d3eede': 'db8aad17e90ed7fb98b5d9e591ac3bf16b1816ff7805ee49d9ccbf34d88822f3',
}
const OVERLAY_IMAGE_LAYER_DIRS = [
  '14e3c20fff106e0c995d393cc4008c636c58201aad1e355617b3827eabe73b35',
  '265106166f0804f81e6dff0379c5006a685e8d502a61d275a867db285552e9eb',
  '29d40b2ac0b356e38ff3e01f414a10b5065f7d3eeed94585c122611add599b88',
  '834c76a0d4cbc1e3aede18c08a8b6f447786cc07b853a2c82cc4bc565b992672',
  '9861de42e4dfe3f581dba0222d8789c1d3bb6f71d7f92cebdf0bea6de402305e',
  'cea36c34c3efa6e4a4d5b421331b12473f91947e381575c8541a48406b12143a',
  'db8aad17e90ed7fb98b5d9e591ac3bf16b1816ff7805ee49d9ccbf34d88822f3',
].sort()

const layout2 = (m: DockerModel): Overlay2LayerDir[] => (m.layout.driver === 'overlay2' ? m.layout.layerDirs : [])
const layoutLegacy = (m: DockerModel): OverlayLayerDir[] => (m.layout.driver === 'overlay' ? m.layout.layerDirs : [])
const dirNamed = (m: DockerModel, name: string): Overlay2LayerDir => {
  const d = layout2(m).find((x) => x.name === name)
  if (!d) throw new Error(`no overlay2 dir ${name}`)
  return d
}

for (const { name, make } of SUBJECTS) {
  describe(`the Docker model on the ${name} adapter`, () => {
    let s: Subject
    let root: string
    beforeEach(async () => {
      s = await make()
      root = `${s.root}/data`
    })
    afterEach(async () => {
      await s.cleanup()
    })

    const load = async (driver: 'overlay2' | 'overlay', skip: (reason: string) => never): Promise<DockerModel> => {
      const reason = dockerFixtureSkipReason(name)
      if (reason) skip(reason)
      await s.fs.mkdir(root, 0o700)
      await loadDockerFixture(s.fs, driver, root)
      return readDockerRoot(s.fs, root)
    }

    it('finds only the overlay2 layerdb in the overlay2 fixture and reads that driver by default', async ({ skip }) => {
      const m = await load('overlay2', skip)
      expect(await detectDrivers(s.fs, root)).toEqual([{ name: 'overlay2', supported: true, layerDb: true, driverDir: true }])
      expect(m.driver).toBe('overlay2')
      expect(m.unreadable).toEqual([])
    })

    it('reads the seven overlay2 layer records with the cache-ids, parents and sizes the README lists', async ({ skip }) => {
      const m = await load('overlay2', skip)
      expect(m.layers).toHaveLength(7)
      for (const layer of m.layers) {
        const want = OVERLAY2_LAYERS[layer.chainId!]
        expect(want, layer.name).toBeDefined()
        expect(layer.removing).toBe(false)
        expect(layer.cacheId).toEqual({ state: 'ok', value: want!.cacheId })
        expect(layer.parent).toEqual(want!.parent ? { state: 'ok', value: want!.parent } : { state: 'missing' })
        expect(layer.size).toEqual({ state: 'ok', value: want!.size })
        expect(layer.diffId.state).toBe('ok')
        expect(layer.tarSplit).toBe(true)
      }
      // A base layer's chain id is its diff id.
      const base = m.layers.find((l) => l.chainId === O1_CHAIN)!
      expect(base.diffId).toEqual({ state: 'ok', value: O1_CHAIN })
      expect(m.layers.map((l) => l.name)).toEqual([...m.layers.map((l) => l.name)].sort())
    })

    it('reads four container mounts whose init-id is the mount-id with -init', async ({ skip }) => {
      const m = await load('overlay2', skip)
      expect(m.mounts.map((x) => x.containerId)).toEqual(Object.keys(OVERLAY2_MOUNTS).sort())
      for (const mount of m.mounts) {
        const want = OVERLAY2_MOUNTS[mount.containerId]!
        expect(mount.mountId).toEqual({ state: 'ok', value: want.mountId })
        expect(mount.initId).toEqual({ state: 'ok', value: `${want.mountId}-init` })
        expect(mount.parent).toEqual({ state: 'ok', value: want.parent })
      }
    })

    it('finds 15 l/ links, each pointing at ../<dir>/diff of the dir whose link file names it', async ({ skip }) => {
      const m = await load('overlay2', skip)
      if (m.layout.driver !== 'overlay2') throw new Error('expected overlay2')
      expect(m.layout.linkDir.state).toBe('ok')
      expect(m.layout.links).toHaveLength(15)
      expect(m.layout.layerDirs).toHaveLength(15)
      for (const link of m.layout.links) {
        expect(link.kind).toBe('symlink')
        expect(link.nameValid).toBe(true)
        expect(link.target).toBe(`../${link.targetId}/diff`)
        expect(dirNamed(m, link.targetId!).link).toEqual({ state: 'ok', value: link.name })
      }
      const named = new Set(m.layout.links.map((l) => l.targetId))
      expect(m.layout.layerDirs.every((d) => named.has(d.name))).toBe(true)
    })

    it('shows base layers without lower or work, O3 with the chain O2, O1, and init layers beside their containers', async ({ skip }) => {
      const m = await load('overlay2', skip)
      for (const base of [O1_CACHE, V1_CACHE]) {
        const d = dirNamed(m, base)
        expect(d.lower).toEqual({ state: 'missing' })
        expect(d.work).toBeUndefined()
        expect(d.diff).toBe('dir')
        expect(d.committed).toBe(true)
        expect(d.entries.map((e) => e.name)).toEqual(['committed', 'diff', 'link'])
      }
      const o3 = dirNamed(m, O3_CACHE)
      expect(o3.lower).toEqual({ state: 'ok', entries: ['l/UTFGFTWYF3ITKNGUWTUY4LZV46', 'l/ZKKHYNXIEHRKQW7WFGKER25TUR'] })
      // The chain names O2's then O1's short link.
      if (o3.lower.state !== 'ok') throw new Error('unreachable')
      expect(o3.lower.entries.map(lowerEntryLink)).toEqual([dirNamed(m, O2_CACHE).link, dirNamed(m, O1_CACHE).link].map((v) => (v.state === 'ok' ? v.value : '')))
      const inits = layout2(m).filter((d) => d.isInit)
      expect(inits).toHaveLength(4)
      for (const init of inits) {
        expect(init.committed).toBe(true)
        const rw = dirNamed(m, init.id)
        expect(rw.committed).toBe(false)
        expect(rw.lower.state === 'ok' && rw.lower.entries[0]).toBe(init.link.state === 'ok' && `l/${init.link.value}`)
      }
      expect(layout2(m).every((d) => d.merged === undefined && d.nameValid && d.diff === 'dir')).toBe(true)
    })

    it('reads three image configs whose sha256 is their name, with their diff ids and metadata', async ({ skip }) => {
      const m = await load('overlay2', skip)
      expect(m.images.map((i) => i.id)).toEqual(OVERLAY2_IMAGES)
      for (const image of m.images) {
        expect(image.digestMatches).toBe(true)
        expect(image.config.state).toBe('ok')
        expect(image.metadata?.lastUpdated.state).toBe('ok')
      }
      const third = m.images.find((i) => i.id === WH_THIRD_OVERLAY)!
      expect(third.config).toEqual({ state: 'ok', value: { diffIds: [...WH_DIFF_IDS] } })
      expect(third.size).toBe(777)
      expect(third.metadata?.parent).toEqual({ state: 'missing' })
      const committed = m.images[0]!
      expect(committed.metadata?.parent).toEqual({ state: 'ok', value: WH_THIRD_OVERLAY })
      expect(m.orphanImageMetadata).toEqual([])
    })

    it('reads four repositories and four containers, none running', async ({ skip }) => {
      const m = await load('overlay2', skip)
      if (m.repositories.state !== 'ok') throw new Error(`repositories.json: ${m.repositories.state}`)
      expect(m.repositories.repositories.map((r) => r.name)).toEqual([
        'localhost/wh-committed',
        'localhost/wh-third',
        'localhost/wh-third-overlay',
        'localhost/wh-third-vfs',
      ])
      expect(m.repositories.repositories.find((r) => r.name === 'localhost/wh-third-overlay')!.refs).toEqual([
        { ref: 'localhost/wh-third-overlay:1', imageId: WH_THIRD_OVERLAY },
      ])
      expect(m.containers.map((c) => c.id)).toEqual(Object.keys(OVERLAY2_MOUNTS).sort())
      for (const c of m.containers) {
        if (c.config.state !== 'ok') throw new Error(`${c.id}: config.v2.json ${c.config.state}`)
        expect(c.config.value).toMatchObject({ id: c.id, driver: 'overlay2', running: false, pid: 0 })
        expect(c.config.value.image).toMatch(/^sha256:[0-9a-f]{64}$/)
      }
    })

    it('finds no -removing record, an empty layerdb/tmp and the top-level entries Docker 20.10 makes', async ({ skip }) => {
      const m = await load('overlay2', skip)
      expect(m.layers.filter((l) => l.removing)).toEqual([])
      expect(m.layerDbTmpDir.state).toBe('ok')
      expect(m.layerDbTmp).toEqual([])
      const known = new Set(dockerFormat('overlay2', '20.10.24').rootEntries.map((e) => e.name))
      expect(m.topLevel.map((e) => e.name).filter((n) => !known.has(n))).toEqual([])
    })

    it('reads the legacy overlay store: root/ in image layers, lower-id naming the image top in containers', async ({ skip }) => {
      const m = await load('overlay', skip)
      expect(m.driver).toBe('overlay')
      expect(m.unreadable).toEqual([])
      expect(m.layers).toHaveLength(7)
      const dirs = layoutLegacy(m)
      expect(dirs).toHaveLength(15)
      const images = dirs.filter((d) => d.root !== undefined)
      expect(images.map((d) => d.name)).toEqual(OVERLAY_IMAGE_LAYER_DIRS)
      for (const d of images) {
        expect(d.root).toBe('dir')
        expect(d.entries.map((e) => e.name)).toEqual(['root'])
        expect(d.lowerId).toEqual({ state: 'missing' })
      }
      // Every layer record's cache-id names one of those dirs.
      expect(m.layers.map((l) => (l.cacheId.state === 'ok' ? l.cacheId.value : '')).sort()).toEqual(OVERLAY_IMAGE_LAYER_DIRS)
      const containers = dirs.filter((d) => d.root === undefined)
      expect(containers).toHaveLength(8)
      for (const d of containers) {
        expect(d.lowerId).toEqual({ state: 'ok', value: OVERLAY_LOWER_IDS[stripInit(d.name)] })
        expect([d.upper, d.work, d.merged]).toEqual(['dir', 'dir', undefined])
        expect(d.tmpRoots).toEqual([])
      }
      expect(m.mounts.map((x) => (x.mountId.state === 'ok' ? x.mountId.value : '')).sort()).toEqual(Object.keys(OVERLAY_LOWER_IDS).sort())
      expect(m.images.every((i) => i.digestMatches)).toBe(true)
    })

    describe('on a damaged copy of the overlay2 fixture', () => {
      it('says empty for an emptied cache-id', async ({ skip }) => {
        await load('overlay2', skip)
        await writeFileAll(s.fs, `${layerRecordDir(root, 'overlay2', O3_CHAIN)}/cache-id`, '')
        const m = await readDockerRoot(s.fs, root)
        expect(m.layers.find((l) => l.chainId === O3_CHAIN)!.cacheId).toEqual({ state: 'empty' })
      })

      it('says invalid for a cache-id that is no id, keeping what it read', async ({ skip }) => {
        await load('overlay2', skip)
        await writeFileAll(s.fs, `${layerRecordDir(root, 'overlay2', O3_CHAIN)}/cache-id`, '../../etc')
        const m = await readDockerRoot(s.fs, root)
        expect(m.layers.find((l) => l.chainId === O3_CHAIN)!.cacheId).toMatchObject({ state: 'invalid', raw: '../../etc' })
      })

      it('reads a -removing record with the chain id it was renamed from and the cache-id it names', async ({ skip }) => {
        await load('overlay2', skip)
        const hex = O3_CHAIN.slice('sha256:'.length)
        const name = `${hex}-${'7'.repeat(64)}-removing`
        expect(REMOVING_RECORD.test(name)).toBe(true)
        await makeDirs(s.fs, layerRecordDir(root, 'overlay2', name))
        await writeFileAll(s.fs, `${layerRecordDir(root, 'overlay2', name)}/cache-id`, O3_CACHE)
        const m = await readDockerRoot(s.fs, root)
        const removing = m.layers.filter((l) => l.removing)
        expect(removing).toHaveLength(1)
        expect(removing[0]).toMatchObject({ name, chainId: O3_CHAIN, cacheId: { state: 'ok', value: O3_CACHE } })
        expect(removingRecordChain(name)).toBe(O3_CHAIN)
        expect(m.layers).toHaveLength(8)
      })

      it('misses the link of a dir whose l/ entry was removed', async ({ skip }) => {
        await load('overlay2', skip)
        await s.fs.unlink(linkPath(root, 'UTFGFTWYF3ITKNGUWTUY4LZV46'))
        const m = await readDockerRoot(s.fs, root)
        if (m.layout.driver !== 'overlay2') throw new Error('expected overlay2')
        expect(m.layout.links).toHaveLength(14)
        expect(m.layout.links.some((l) => l.targetId === O2_CACHE)).toBe(false)
        expect(dirNamed(m, O2_CACHE).link).toEqual({ state: 'ok', value: 'UTFGFTWYF3ITKNGUWTUY4LZV46' })
      })

      it('says empty for an emptied lower file', async ({ skip }) => {
        await load('overlay2', skip)
        await writeFileAll(s.fs, `${driverLayerDir(root, 'overlay2', O3_CACHE)}/lower`, '')
        const m = await readDockerRoot(s.fs, root)
        expect(dirNamed(m, O3_CACHE).lower).toEqual({ state: 'empty' })
      })

      it('says invalid for a garbled repositories.json', async ({ skip }) => {
        await load('overlay2', skip)
        await writeFileAll(s.fs, repositoriesPath(root, 'overlay2'), '{"Repositories":{"x":')
        const m = await readDockerRoot(s.fs, root)
        expect(m.repositories.state).toBe('invalid')
      })

      it('says an image config whose bytes changed no longer matches its name', async ({ skip }) => {
        await load('overlay2', skip)
        await writeFileAll(s.fs, imageDbContentPath(root, 'overlay2', WH_THIRD_OVERLAY), '{"rootfs":{"type":"layers","diff_ids":[]}}')
        const m = await readDockerRoot(s.fs, root)
        const image = m.images.find((i) => i.id === WH_THIRD_OVERLAY)!
        expect(image.digestMatches).toBe(false)
        expect(image.config).toEqual({ state: 'ok', value: { diffIds: [] } })
      })

      it('says empty for an emptied image config', async ({ skip }) => {
        await load('overlay2', skip)
        await writeFileAll(s.fs, imageDbContentPath(root, 'overlay2', WH_THIRD_OVERLAY), '')
        const m = await readDockerRoot(s.fs, root)
        expect(m.images.find((i) => i.id === WH_THIRD_OVERLAY)).toMatchObject({ size: 0, digestMatches: false, config: { state: 'empty' } })
      })

      it('lists a write-set left in layerdb/tmp', async ({ skip }) => {
        await load('overlay2', skip)
        await s.fs.mkdir(`${root}/image/overlay2/layerdb/tmp/write-set-123456789`, 0o700)
        const m = await readDockerRoot(s.fs, root)
        expect(m.layerDbTmp).toMatchObject([{ name: 'write-set-123456789', kind: 'dir', writeSet: true }])
      })

      it('records a dir in place of a cache-id as unreadable instead of throwing', async ({ skip }) => {
        await load('overlay2', skip)
        const file = `${layerRecordDir(root, 'overlay2', O3_CHAIN)}/cache-id`
        await s.fs.unlink(file)
        await s.fs.mkdir(file, 0o755)
        const m = await readDockerRoot(s.fs, root)
        expect(m.layers.find((l) => l.chainId === O3_CHAIN)!.cacheId).toMatchObject({ state: 'unreadable', code: 'NOT_A_FILE' })
        expect(m.unreadable.map((u) => u.path)).toEqual([file])
      })

      it('never reads through a symlinked layer record', async ({ skip }) => {
        await load('overlay2', skip)
        const record = layerRecordDir(root, 'overlay2', O3_CHAIN)
        await removeTree(s.fs, record)
        await s.fs.symlink(layerRecordDir(root, 'overlay2', O1_CHAIN), record)
        const m = await readDockerRoot(s.fs, root)
        expect(m.layers.find((l) => l.chainId === O3_CHAIN)).toMatchObject({ kind: 'symlink', entries: [], cacheId: { state: 'missing' } })
      })

      it('records a dir this process may not list as unreadable, and reads on', async ({ skip }) => {
        // Root lists any dir on disk; in memory a second adapter on the same volume reads as uid 1000.
        if (s.fs.kind !== 'memory') return skip('root bypasses permissions on disk; the memory adapter plays a non-root reader')
        await load('overlay2', skip)
        for (const dir of [root, `${root}/image`, `${root}/image/overlay2`, `${root}/image/overlay2/layerdb`]) await s.fs.chmod(dir, 0o755)
        const record = layerRecordDir(root, 'overlay2', O3_CHAIN)
        await s.fs.chmod(record, 0o000)
        const reader = createMemoryFs({ volume: (s.fs as MemoryFs).volume, uid: 1000, gid: 1000 })
        const m = await readDockerRoot(reader, root, { driver: 'overlay2' })
        expect(m.layers).toHaveLength(7)
        expect(m.layers.find((l) => l.chainId === O3_CHAIN)).toMatchObject({ readable: false, entries: [], cacheId: { state: 'missing' } })
        expect(m.unreadable).toContainEqual(expect.objectContaining({ path: record, code: 'EACCES' }))
      })
    })
  })
}

describe('the Docker model across adapters', () => {
  for (const driver of ['overlay2', 'overlay'] as const) {
    it(`is deep-equal on disk and in memory for the ${driver} fixture, as is the loaded tree`, async ({ skip }) => {
      const reason = dockerFixtureSkipReason('disk')
      if (reason) return skip(reason)
      const disk = await diskSubject()
      const memory = await memorySubject()
      try {
        // The same absolute path on both, so every path in the models is the same string.
        const root = `${disk.root}/data`
        await disk.fs.mkdir(root, 0o700)
        await makeDirs(memory.fs, disk.root, 0o700)
        await memory.fs.mkdir(root, 0o700)
        await loadDockerFixture(disk.fs, driver, root)
        await loadDockerFixture(memory.fs, driver, root)
        expect(await describeTree(memory.fs, root, { mtime: true })).toEqual(await describeTree(disk.fs, root, { mtime: true }))
        const onDisk = await readDockerRoot(disk.fs, root)
        expect(await readDockerRoot(memory.fs, root)).toEqual(onDisk)
        expect(onDisk.driver).toBe(driver)
      } finally {
        await disk.cleanup()
        await memory.cleanup()
      }
    })
  }
})

describe('Docker format descriptors', () => {
  it('list each driver oldest first, on its own version line', () => {
    expect(DOCKER_OVERLAY2_FORMATS.map((f) => f.version)).toEqual(['1.12.0', '17.12.0', '20.10.0'])
    expect(DOCKER_OVERLAY_FORMATS.map((f) => f.version)).toEqual(['1.4.0', '1.10.0', '17.12.0', '20.10.0'])
    expect(new Set(DOCKER_OVERLAY2_FORMATS.map((f) => f.family))).toEqual(new Set(['docker-overlay2']))
    expect(new Set(DOCKER_OVERLAY_FORMATS.map((f) => f.family))).toEqual(new Set(['docker-overlay']))
    for (const f of DOCKER_FORMATS) {
      expect(Object.isFrozen(f)).toBe(true)
      expect(f.title).not.toBe('')
      expect(f.introducedBy).toMatch(/^Docker /)
    }
  })

  it('say a base overlay2 layer holds diff and link but no lower or work, and committed arrived in 20.10', () => {
    const base = entriesFor(dockerFormat('overlay2', '20.10.24'), 'image-base').map((e) => e.name)
    expect(base.sort()).toEqual(['committed', 'diff', 'link', 'merged'])
    expect(entriesFor(dockerFormat('overlay2', '19.03.15'), 'image-base').map((e) => e.name).sort()).toEqual(['diff', 'link', 'merged'])
    expect(entriesFor(dockerFormat('overlay2', '1.13.1'), 'image-base').map((e) => e.name).sort()).toEqual(['diff', 'link'])
    expect(entriesFor(dockerFormat('overlay2', '20.10.0'), 'container').map((e) => e.name).sort()).toEqual(['diff', 'link', 'lower', 'merged', 'work'])
  })

  it('give the legacy driver flattened root/ trees without whiteouts and overlay-form upper dirs', () => {
    const f = dockerFormat('overlay', '20.10.24')
    expect(f.contentDirs.map((c) => [c.dir, c.whiteouts])).toEqual([
      ['root', 'none'],
      ['upper', 'overlay'],
    ])
    expect(dockerFormat('overlay2', '20.10.24').contentDirs.map((c) => [c.dir, c.whiteouts])).toEqual([['diff', 'overlay']])
    expect(dockerFormat('overlay', '1.9.1').metadata).toBe('graph')
    expect(f.tempNames.map((t) => t.id).sort()).toEqual(['atomic-write', 'overlay-tmproot', 'removing-record', 'write-set'])
  })
})
