import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCheck } from '../src/check/run.js'
import { LayerfsckError } from '../src/errors.js'
import { makeDirs, readTextLimited, writeFileAll } from '../src/fs/io.js'
import { exportLayer } from '../src/layer/export.js'
import { removeTree } from '../src/fs/remove.js'
import { SUBJECTS, type Subject } from './support/adapters.js'
import { dockerFixtureSkipReason, loadDockerFixture } from './support/docker-fixture.js'

const CREATED_RW = '60746c96f65914e7d5a63ac218f74c7c497e2bdb42050f145406731a50c35626'
const O1_CHAIN = 'sha256:0a3c4199b078910c5fd773fb6589c3326033974b62f73f1c320cdf4f16be2225'
const O1 = 'e1b89a3c92a882f30e96cc029bdfad8d0c2f2b64cd7972617a234b34fcb20220'

for (const { name, make } of SUBJECTS) {
  describe(`what check and export never do to a Docker data root, on the ${name} adapter`, () => {
    let s: Subject
    let store: string
    let proc: string
    let known: string
    beforeEach(async ({ skip }) => {
      s = await make()
      const why = dockerFixtureSkipReason(s.name)
      if (why) return skip(why)
      store = `${s.root}/docker`
      await loadDockerFixture(s.fs, 'overlay2', store)
      proc = `${s.root}/proc`
      await makeDirs(s.fs, proc)
      known = `${s.root}/known`
      await writeFileAll(s.fs, known, '')
    })
    afterEach(async () => {
      await s.cleanup()
    })

    it("leaves a file a container wrote into its own layer alone, even when it is named like an aufs whiteout", async () => {
      const file = `${store}/overlay2/${CREATED_RW}/diff/home/.wh.notes`
      await makeDirs(s.fs, `${store}/overlay2/${CREATED_RW}/diff/home`)
      await writeFileAll(s.fs, file, 'my notes\n')
      const report = await runCheck(s.fs, { store, mode: 'yes', knownContainers: known, procRoot: proc })
      expect(report.passes.flatMap((p) => p.findings.map((f) => f.code))).toEqual([])
      expect(await readTextLimited(s.fs, file)).toBe('my notes\n')
    })

    it('takes a dockerd whose daemon.json names this data root for one on it, and refuses to fix under it', async () => {
      await makeDirs(s.fs, `${store}/image/overlay2/layerdb/tmp/write-set-123`)
      await makeDirs(s.fs, `${proc}/77/root/etc`)
      await writeFileAll(s.fs, `${proc}/77/comm`, 'dockerd\n')
      await writeFileAll(s.fs, `${proc}/77/cmdline`, ['/usr/sbin/dockerd', '-H', 'fd://', '--config-file', '/etc/d.json', ''].join('\0'))
      // The daemon's own view of its config, as /proc/<pid>/root shows it.
      await writeFileAll(s.fs, `${proc}/77/root/etc/d.json`, JSON.stringify({ 'data-root': store }))
      const err = await runCheck(s.fs, { store, mode: 'preen', knownContainers: known, procRoot: proc }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(LayerfsckError)
      expect((err as LayerfsckError).message).toContain('dockerd (pid 77)')
      // A daemon.json naming another data root is no reason to refuse.
      await writeFileAll(s.fs, `${proc}/77/root/etc/d.json`, JSON.stringify({ 'data-root': '/srv/elsewhere' }))
      expect((await runCheck(s.fs, { store, mode: 'preen', knownContainers: known, procRoot: proc })).totals.fixed).toBe(1)
    })

    it('refuses to export a layer whose dir is a symlink out of the store', async () => {
      const outside = `${s.root}/outside`
      await makeDirs(s.fs, `${outside}/diff`)
      await writeFileAll(s.fs, `${outside}/diff/shadow`, 'not the layer\n')
      await removeTree(s.fs, `${store}/overlay2/${O1}`)
      await s.fs.symlink(outside, `${store}/overlay2/${O1}`)
      const chunks: Uint8Array[] = []
      const err = await exportLayer(s.fs, { store, layer: O1_CHAIN }, async (c) => {
        chunks.push(c)
      }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(LayerfsckError)
      expect((err as LayerfsckError).code).toBe('LAYERFSCK_LAYER_MISSING')
      expect(chunks).toEqual([])
    })
  })
}
