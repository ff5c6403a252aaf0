import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCheck } from '../src/check/run.js'
import { detect } from '../src/detect/detect.js'
import { LayerfsckError } from '../src/errors.js'
import { importImage } from '../src/families/mesos/import.js'
import { generateMesosStore } from '../src/families/mesos/testing.js'
import { readStamp } from '../src/format/stamp.js'
import { listTree } from '../src/testing/tree-spec.js'
import { SUBJECTS, type Subject } from './support/adapters.js'
import { imagesOn } from './support/fixtures.js'

/** wh-third's layers as `docker save` names them: the hex ids a Mesos 1.0 agent knows. */
const V1_IDS = [
  'fa6e82c89031c56a281bad83c2c14d6c660320b090be975adcd699e3de070709',
  'e3a675d8ce52ca3ec61ee683775e9a787d03418048de45f32f81887544dadb3f',
  '62e2a1621dce352a95994dbac8c984dab3433706c75959cc6bb824067c0346ea',
]

for (const { name, make } of SUBJECTS) {
  describe(`the store's format as import's policy, on the ${name} adapter`, () => {
    let s: Subject
    let store: string
    beforeEach(async () => {
      s = await make()
      store = `${s.root}/store`
      // A store as Mesos 1.0 leaves it: one rootfs per layer, for every backend.
      await generateMesosStore(s.fs, store, { format: '1.0.0', layers: 2, filesPerLayer: 3 })
    })
    afterEach(async () => {
      await s.cleanup()
    })

    it('writes the overlay backend\'s layers where format 1.0.0 puts them (rootfs, aufs whiteouts), and check stays clean', async () => {
      expect((await detect(s.fs, { store })).format.version).toBe('1.0.0')
      const image = `${await imagesOn(s.fs)}/docker-archive/wh-third-overlay.docker-archive.tar`
      const report = await importImage(s.fs, { store, backend: 'overlay', image, preserveOwners: s.privileged })
      expect(report.format).toMatchObject({ version: '1.0.0', variant: 'rootfs', whiteouts: 'aufs' })
      expect(report.format.note).toContain('layerfsck migrate')
      for (const id of V1_IDS) {
        expect((await s.fs.readdir(`${store}/layers/${id}`)).map((e) => e.name).sort()).toEqual(['VERSION', 'json', 'rootfs'])
      }
      // wh-third's second layer deletes data/gone.txt: in 1.0.0 every backend reads the aufs form.
      expect(await listTree(s.fs, `${store}/layers/${V1_IDS[1]}/rootfs`)).toContain('data/.wh.gone.txt file mode=0000')
      const stamp = await readStamp(s.fs, store)
      expect(stamp.state === 'ok' && stamp.stamp.version).toBe('1.0.0')

      const checked = await runCheck(s.fs, { store, backend: 'overlay' })
      expect(checked.passes.flatMap((p) => p.findings.map((f) => `${f.code} ${f.path}`))).toEqual([])
      expect(checked.exitCode).toBe(0)
      expect(checked.settings['backend']).toBe('overlay (option), reads rootfs in format 1.0.0')
    })

    it('refuses an image whose layer ids format 1.0.0 cannot hold, names migrate, and changes nothing', async () => {
      const before = await listTree(s.fs, store)
      const image = `oci:${await imagesOn(s.fs)}/oci-overlay:wh-third`
      const err = await importImage(s.fs, { store, backend: 'overlay', image }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(LayerfsckError)
      expect((err as LayerfsckError).code).toBe('LAYERFSCK_FORMAT_MISMATCH')
      expect((err as LayerfsckError).message).toContain('format 1.0.0')
      expect((err as LayerfsckError).hint).toContain('layerfsck migrate')
      // Only layerfsck's own lock is new; nothing of the store changed.
      const withoutOwn = (tree: string): string[] => tree.split('\n').filter((l) => !l.startsWith('.layerfsck') && !l.startsWith('staging '))
      expect(withoutOwn(await listTree(s.fs, store))).toEqual(withoutOwn(before))
    })
  })
}
