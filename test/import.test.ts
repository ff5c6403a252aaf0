import { execFileSync } from 'node:child_process'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CrashError, withCrashAfter } from '../src/fs/crash.js'
import { readFileLimited, readTextLimited } from '../src/fs/io.js'
import { walkTree } from '../src/fs/walk.js'
import type { FsPort } from '../src/fs/port.js'
import { importImage } from '../src/families/mesos/import.js'
import { decodeStoredImages } from '../src/families/mesos/metadata/stored-images.js'
import { listTree } from '../src/testing/tree-spec.js'
import { rootSkipReason, SUBJECTS, isRoot, diskSubject, type Subject } from './support/adapters.js'
import { imagesOn, mergedByCopy, shape, WH_CONFIG, WH_DIFF_IDS, WH_LAYERS, WH_THIRD_MERGED } from './support/fixtures.js'

const V1_IDS = [
  'fa6e82c89031c56a281bad83c2c14d6c660320b090be975adcd699e3de070709',
  'e3a675d8ce52ca3ec61ee683775e9a787d03418048de45f32f81887544dadb3f',
  '62e2a1621dce352a95994dbac8c984dab3433706c75959cc6bb824067c0346ea',
]

/** The four ways the same wh-third image reaches an operator; `image` takes the images dir on the port. */
const SOURCES = [
  { name: 'the docker-archive', image: (i: string) => `${i}/docker-archive/wh-third-overlay.docker-archive.tar`, ids: V1_IDS },
  { name: 'the oci-archive', image: (i: string) => `oci-archive:${i}/docker-archive/wh-third-overlay.oci-archive.tar`, ids: [...WH_LAYERS] },
  { name: 'the gzip OCI layout', image: (i: string) => `oci:${i}/oci-overlay:wh-third`, ids: [...WH_LAYERS] },
  { name: 'the uncompressed OCI layout', image: (i: string) => `oci:${i}/oci-overlay-uncompressed:wh-third`, ids: [...WH_DIFF_IDS] },
]

for (const { name, make } of SUBJECTS) {
  describe(`layerfsck import on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    for (const src of SOURCES) {
      it(`lays out wh-third from ${src.name} as Mesos does for the overlay backend`, async ({ skip }) => {
        if (!s.privileged) return skip(rootSkipReason())
        const store = `${s.root}/store`
        const report = await importImage(s.fs, { store, backend: 'overlay', image: src.image(await imagesOn(s.fs)), createStore: true })
        const ids = src.ids
        expect(report.layers.map((l) => [l.id, l.status])).toEqual(ids.map((id) => [id, 'imported']))
        const rootfses = ids.map((id) => `${store}/layers/${id}/rootfs.overlay`)
        for (const r of rootfses) expect((await s.fs.lstat(r))?.kind).toBe('dir')
        if (src.ids === V1_IDS) {
          expect((await s.fs.readdir(`${store}/layers/${V1_IDS[2]}`)).map((e) => e.name).sort()).toEqual(['VERSION', 'json', 'rootfs.overlay'])
          expect(report.config).toBeUndefined()
        } else {
          expect(report.config).toEqual({ digest: WH_CONFIG, status: 'imported' })
          expect((await s.fs.lstat(`${store}/layers/${WH_CONFIG}`))?.kind).toBe('file')
        }
        const images = decodeStoredImages(await readFileLimited(s.fs, `${store}/storedImages`))
        expect(images.problems).toEqual([])
        expect(images.value).toEqual([expect.objectContaining({ layerIds: ids })])
        expect((await s.fs.readdir(`${store}/staging`)).length).toBe(0)
        expect(await mergedByCopy(s.fs, rootfses, 'overlay', `${s.root}/merged`)).toEqual(WH_THIRD_MERGED)
        expect(await readTextLimited(s.fs, `${s.root}/merged/etc/app.conf`)).toBe('key=v2\n')
      })
    }

    it('gives rootfs dirs with .wh. files for the aufs backend, which merge by copy into the same tree', async () => {
      const store = `${s.root}/store`
      const report = await importImage(s.fs, { store, backend: 'aufs', image: `oci:${await imagesOn(s.fs)}/oci-overlay:wh-third`, createStore: true, preserveOwners: s.privileged })
      // The same counts as the overlay import reports: whiteouts are whiteouts in either form.
      expect(report.layers.map((l) => [l.whiteouts, l.opaqueDirs])).toEqual([[0, 0], [2, 1], [2, 0]])
      const rootfses = WH_LAYERS.map((id) => `${store}/layers/${id}/rootfs`)
      expect(await listTree(s.fs, rootfses[1]!)).toContain('data/.wh.gone.txt file mode=0000')
      expect(await mergedByCopy(s.fs, rootfses, 'aufs', `${s.root}/merged`)).toEqual(WH_THIRD_MERGED)
    })

    it('reuses layers already in the store and adds only the missing backend variant', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const store = `${s.root}/store`
      const images = await imagesOn(s.fs)
      const image = `oci:${images}/oci-overlay:wh-delete`
      await importImage(s.fs, { store, backend: 'overlay', image, createStore: true })
      const again = await importImage(s.fs, { store, backend: 'overlay', image: `oci:${images}/oci-overlay:wh-third` })
      expect(again.layers.map((l) => l.status)).toEqual(['reused', 'reused', 'imported'])
      expect(again.record).toBe('added')
      const aufs = await importImage(s.fs, { store, backend: 'aufs', image })
      expect(aufs.layers.map((l) => l.status)).toEqual(['imported', 'imported'])
      // The same image with the same layers: storedImages already says all there is to say.
      expect(aufs.record).toBe('unchanged')
      expect((await s.fs.readdir(`${store}/layers/${WH_LAYERS[0]}`)).map((e) => e.name).sort()).toEqual(['rootfs', 'rootfs.overlay'])
      const stored = decodeStoredImages(await readFileLimited(s.fs, `${store}/storedImages`)).value
      expect(stored.map((i) => i.reference?.repository)).toEqual(['wh-delete', 'wh-third'])
    })

    it('refuses a layer whose bytes do not match its digest and leaves no layer behind', async () => {
      const layout = `${s.root}/layout`
      const { materialize, parseTreeSpec } = await import('../src/testing/tree-spec.js')
      // Copy the OCI layout, then damage one layer blob.
      const disk = s.fs
      const IMAGES = await imagesOn(s.fs)
      await s.fs.mkdir(layout, 0o755)
      const files = ['index.json', 'oci-layout']
      for await (const e of walkTree(disk, `${IMAGES}/oci-overlay/blobs`)) if (e.kind === 'file') files.push(`blobs/${e.rel}`)
      for (const f of files) {
        const bytes = await readFileLimited(disk, `${IMAGES}/oci-overlay/${f}`)
        await materialize(s.fs, layout, parseTreeSpec(`${f} file`))
        const { writeFileAll } = await import('../src/fs/io.js')
        await writeFileAll(s.fs, `${layout}/${f}`, f.endsWith(WH_LAYERS[2].slice(7)) ? bytes.slice(0, -1) : bytes)
      }
      const store = `${s.root}/store`
      const run = importImage(s.fs, { store, backend: 'aufs', image: `oci:${layout}:wh-third`, createStore: true, preserveOwners: s.privileged })
      await expect(run).rejects.toThrow(/digest|unexpected end|incorrect header|Unexpected end/)
      expect((await s.fs.readdir(`${store}/layers`)).map((e) => e.name).sort()).toEqual([WH_LAYERS[0], WH_LAYERS[1]].sort())
      expect(await s.fs.lstat(`${store}/storedImages`)).toBeUndefined()
      expect(await s.fs.readdir(`${store}/staging`)).toEqual([])
    })

    for (const model of ['sigkill', 'power-loss'] as const) {
      it(`ends exactly where an uninterrupted import ends after a ${model} at any step and a re-run`, async ({ skip }) => {
        if (!s.privileged) return skip(rootSkipReason())
        // Power loss is modelled through the port; on disk that is every call walked twice, so memory carries it.
        if (model === 'power-loss' && s.fs.kind === 'disk') return skip('the power-loss model runs on the memory adapter')
        const image = `oci:${await imagesOn(s.fs)}/oci-overlay-uncompressed:wh-third`
        const run = (port: FsPort, store: string) => importImage(port, { store, backend: 'overlay', image, createStore: true, now: FIXED_NOW })
        const reference = await (async () => {
          const store = `${s.root}/reference`
          await run(s.fs, store)
          return listTree(s.fs, store)
        })()
        const { removeTree } = await import('../src/fs/remove.js')
        let crashes = 0
        // Changes the power cut took back: a model that never loses anything would prove nothing.
        let lost = 0
        // Every step in memory; every fifth on disk, where each step is an fsync.
        const stride = s.fs.kind === 'memory' ? 1 : 5
        for (let n = 0; ; n += stride) {
          const store = `${s.root}/crash`
          await removeTree(s.fs, store)
          const crashing = withCrashAfter(s.fs, n, { model })
          let crashed = false
          try {
            await run(crashing, store)
          } catch (err) {
            if (!(err instanceof CrashError) && !crashing.crashed) throw err
            crashed = true
            crashes += 1
          }
          lost += (await crashing.recover()).length
          await run(s.fs, store)
          // Nothing may differ: the next run removes what the interrupted one claimed.
          expect(await listTree(s.fs, store), `after a ${model} at step ${n}`).toBe(reference)
          if (!crashed) break
        }
        expect(crashes).toBeGreaterThan(10)
        if (model === 'power-loss') expect(lost).toBeGreaterThan(0)
      }, 240_000)
    }
  })
}

const FIXED_NOW = (): Date => new Date('2026-06-01T00:00:00Z')


describe('the kernel overlayfs over an imported store', () => {
  for (const src of SOURCES) {
    it(`shows the merged wh-third tree when mounting the rootfs.overlay dirs imported from ${src.name}`, async ({ skip }) => {
      if (!isRoot) return skip('needs root to mount overlayfs')
      const s = await diskSubject()
      try {
        const store = `${s.root}/store`
        const report = await importImage(s.fs, { store, backend: 'overlay', image: src.image(await imagesOn(s.fs)), createStore: true })
        // Layer ids hold colons, which lowerdir= uses as its separator:
        // short symlinks, as Mesos' overlay backend makes in scratch/<id>/links.
        const links = `${s.root}/links`
        await s.fs.mkdir(links, 0o755)
        for (const [i, l] of report.layers.entries()) await s.fs.symlink(l.rootfs, `${links}/${i}`)
        const lower = report.layers.map((_, i) => `${links}/${i}`).reverse().join(':')
        const mnt = `${s.root}/mnt`
        await s.fs.mkdir(mnt, 0o755)
        try {
          execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower}`, mnt], { stdio: 'pipe' })
        } catch (err) {
          return skip(`this kernel refused an overlay mount here: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`)
        }
        try {
          expect(await shape(s.fs, mnt)).toEqual(WH_THIRD_MERGED)
          expect(await readTextLimited(s.fs, `${mnt}/etc/app.conf`)).toBe('key=v2\n')
        } finally {
          execFileSync('umount', [mnt])
        }
      } finally {
        await s.cleanup()
      }
    })
  }
})
