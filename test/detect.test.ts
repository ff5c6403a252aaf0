import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { detect } from '../src/detect/detect.js'
import { writeStamp } from '../src/format/stamp.js'
import { findFormat } from '../src/format/registry.js'
import { generateMesosStore } from '../src/families/mesos/testing.js'
import { planTree } from '../src/layer/clone.js'
import { listTree, materialize, parseTreeSpec } from '../src/testing/tree-spec.js'
import { rootSkipReason, SUBJECTS, type Subject } from './support/adapters.js'
import type { DetectReport } from '../src/detect/detect.js'

/** The Mesos half of a detect report: these stores are Mesos stores. */
function mesosReport(r: DetectReport): Extract<DetectReport, { family: 'mesos' }> {
  if (r.family !== 'mesos') throw new Error(`expected a Mesos store, detected ${r.family}`)
  return r
}

/** One store per Mesos generation, as the issue lists them, with what detect must say. */
const GENERATIONS = [
  { version: '1.0.0', options: {}, workDir: false },
  { version: '1.1.0', options: {}, workDir: false },
  { version: '1.1.1', options: {}, workDir: false },
  { version: '1.2.0', options: { containers: 1 }, workDir: true },
  { version: '1.5.0', options: { containers: 2, nested: 1, rootfsesPerContainer: 2 }, workDir: true },
  { version: '1.8.0', options: { containers: 1 }, workDir: true },
] as const

for (const { name, make } of SUBJECTS) {
  describe(`detect on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    for (const g of GENERATIONS) {
      it(`names format ${g.version} for a store laid out by that Mesos generation`, async ({ skip }) => {
        if (!s.privileged) return skip(rootSkipReason())
        const store = `${s.root}/store`
        const workDir = g.workDir ? `${s.root}/agent` : undefined
        await generateMesosStore(s.fs, store, { format: g.version, layers: 3, ...g.options, ...(workDir ? { workDir } : {}) })
        const report = mesosReport(await detect(s.fs, { store, ...(workDir ? { workDir } : {}) }))
        expect(report.format.version).toBe(g.version)
        expect(report.counts.layers).toBe(3)
        expect(report.counts.images).toBe(1)
        const containers = 'containers' in g.options ? g.options.containers * (1 + ('nested' in g.options ? g.options.nested : 0)) : 0
        expect(report.counts.containers).toBe(containers)
        expect(report.counts.rootfses).toBe(containers * ('rootfsesPerContainer' in g.options ? g.options.rootfsesPerContainer : 1))
        expect(report.unclassified).toEqual([])
        expect(report.metadataProblems).toEqual([])
      })
    }

    it('reports the Mesos 1.1.0 defect: aufs whiteouts inside rootfs.overlay', async () => {
      const store = `${s.root}/store`
      await generateMesosStore(s.fs, store, { format: '1.1.0', layers: 2, whiteoutsPerLayer: 3 })
      const report = mesosReport(await detect(s.fs, { store }))
      expect(report.format.version).toBe('1.1.0')
      const defect = report.defects.find((d) => d.id === 'rootfs-overlay-aufs-whiteouts')
      expect(defect?.count).toBe(1)
      expect(defect?.examples[0]).toMatch(/rootfs\.overlay$/)
      expect(report.layers[0]!.backends).toEqual(['overlay'])
    })

    it('says which backends each layer is present for when both variants sit in one layer dir', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const store = `${s.root}/store`
      const gen = await generateMesosStore(s.fs, store, { format: '1.5.0', layers: 2, backends: ['overlay', 'aufs'] })
      const report = mesosReport(await detect(s.fs, { store }))
      const upper = report.layers.find((l) => l.id === gen.layerIds[1])!
      for (const layer of report.layers) {
        expect(layer.backends.sort()).toEqual(['aufs', 'bind', 'copy', 'overlay'])
        const overlay = layer.variants.find((v) => v.dir === 'rootfs.overlay')!
        const aufs = layer.variants.find((v) => v.dir === 'rootfs')!
        expect(overlay.whiteouts.aufsWhiteouts).toBe(0)
        expect(aufs.whiteouts.overlayWhiteouts).toBe(0)
      }
      expect(upper.variants.find((v) => v.dir === 'rootfs')!.whiteouts).toMatchObject({ aufsWhiteouts: 2, aufsOpaque: 1 })
      expect(upper.variants.find((v) => v.dir === 'rootfs.overlay')!.whiteouts).toMatchObject({
        overlayWhiteouts: 2,
        overlayOpaque: 1,
      })
    })

    it('counts each variant as a census does and tells the layers in order, with and without variants', async () => {
      const store = `${s.root}/store`
      const gen = await generateMesosStore(s.fs, store, { format: '1.0.0', layers: 3, filesPerLayer: 40, whiteoutsPerLayer: 3, opaquePerLayer: 1 })
      // A layer dir with no variant yet (a pull that stopped early) is still a layer, and is told in its place.
      const bare = '0'.repeat(64)
      await s.fs.mkdir(`${store}/layers/${bare}`, 0o755)
      const told: string[] = []
      const report = mesosReport(await detect(s.fs, { store, onProgress: (e) => told.push(`${e.done}/${e.total} ${e.id}`) }))
      const ids = [...gen.layerIds, bare].sort()
      expect(told).toEqual(ids.map((id, i) => `${i + 1}/${ids.length} ${id}`))
      for (const id of gen.layerIds) {
        const counted = report.layers.find((l) => l.id === id)!.variants.find((v) => v.dir === 'rootfs')!.whiteouts
        const census = await planTree(s.fs, `${store}/layers/${id}/rootfs`, { sizes: false })
        // A census counts the variant's root; detection counts below it.
        expect({ entries: counted.entries + 1, files: counted.files, dirs: counted.dirs + 1 }).toEqual({ entries: census.entries, files: census.files, dirs: census.dirs })
        expect(counted.files).toBeGreaterThan(0)
      }
    })

    it('follows a symlinked store root once, as operators move stores to bigger disks', async () => {
      await generateMesosStore(s.fs, `${s.root}/big-disk/docker`, { format: '1.0.0', layers: 2 })
      await s.fs.symlink(`${s.root}/big-disk/docker`, `${s.root}/store`)
      const report = mesosReport(await detect(s.fs, { store: `${s.root}/store` }))
      expect(report.store).toBe(`${await s.fs.realpath(s.root)}/big-disk/docker`)
      expect(report.counts.layers).toBe(2)
    })

    it('lists every entry it cannot classify, with a reason', async () => {
      const store = `${s.root}/store`
      await generateMesosStore(s.fs, store, { format: '1.0.0', layers: 1 })
      await materialize(
        s.fs,
        store,
        parseTreeSpec(`
          weird dir
          Ab3xYz file content=partial
          Qw3rTy file
          layers/not-a-layer dir
          layers/notes.txt file
          layers/${'a'.repeat(64)}/rootfs.tmp dir
        `),
      )
      const report = mesosReport(await detect(s.fs, { store }))
      const byPath = Object.fromEntries(report.unclassified.map((u) => [u.path.slice(store.length + 1), u.reason]))
      expect(byPath).toEqual({
        weird: 'not part of any Mesos store format',
        // "part" read as a little-endian length: text is no checkpoint.
        Ab3xYz: 'named like a storedImages temp file, but it is not a storedImages checkpoint: the length prefix says 1953653104 bytes but only 3 follow',
        Qw3rTy: 'checkpoint temp file left by a crash (empty: the crash came before the write)',
        'layers/not-a-layer': 'layer id is neither 64 hex digits nor sha256:<64 hex>',
        'layers/notes.txt': 'neither a layer dir nor a config blob',
        [`layers/${'a'.repeat(64)}/rootfs.tmp`]: 'not part of a layer dir',
      })
    })

    it('reads a garbled storedImages as far as it can and says what is wrong', async () => {
      const store = `${s.root}/store`
      await generateMesosStore(s.fs, store, { format: '1.0.0', layers: 1 })
      const h = await s.fs.openWrite(`${store}/storedImages`)
      await h.write(new Uint8Array([0xff, 0, 0, 0, 0x0a, 0x02]))
      await h.close()
      const report = mesosReport(await detect(s.fs, { store }))
      expect(report.metadataProblems.map((p) => p.code)).toContain('truncated-message')
      expect(report.counts.layers).toBe(1)
    })

    it('refuses a store stamped by a newer major format with a message naming both versions, changing nothing', async () => {
      const store = `${s.root}/store`
      await generateMesosStore(s.fs, store, { format: '1.0.0', layers: 1 })
      const h = await s.fs.openWrite(`${store}/.layerfsck/format.json`).catch(async () => {
        await s.fs.mkdir(`${store}/.layerfsck`)
        return s.fs.openWrite(`${store}/.layerfsck/format.json`)
      })
      await h.write(Buffer.from(JSON.stringify({ schemaVersion: 1, family: 'mesos-docker', version: '2.0.0', writtenBy: 'layerfsck 9.0.0' })))
      await h.close()
      const before = await listTree(s.fs, store, { mtime: true })
      await expect(detect(s.fs, { store })).rejects.toMatchObject({
        code: 'LAYERFSCK_FORMAT_TOO_NEW',
        exitCode: 8,
        message: expect.stringMatching(/2\.0\.0.*layerfsck 9\.0\.0.*up to 1\.x \(newest 1\.8\.0\)/),
      })
      expect(await listTree(s.fs, store, { mtime: true })).toBe(before)
    })

    it('reads a stamp from a newer minor of a known major and reports it', async () => {
      const store = `${s.root}/store`
      await generateMesosStore(s.fs, store, { format: '1.0.0', layers: 1 })
      await writeStamp(s.fs, store, { ...findFormat('mesos-docker', '1.8.0')!, version: '1.9.3' })
      const report = mesosReport(await detect(s.fs, { store }))
      expect(report.stamp).toMatchObject({ state: 'ok', version: '1.9.3' })
    })
  })
}
