/**
 * The step engine as operators meet it through the commands: the stamp
 * that import and check -p leave, the agent guard and --force, and a bug in
 * a fix, which must surface as an internal error and never as a finding.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { checkByCode } from '../src/check/registry.js'
import { detect } from '../src/detect/detect.js'
import { makeDirs, readFileLimited, writeFileAll } from '../src/fs/io.js'
import type { LayerfsckError } from '../src/errors.js'
import { importImage } from '../src/families/mesos/import.js'
import { runCheck } from '../src/check/run.js'
import { readStamp } from '../src/format/stamp.js'
import { execFileSync } from 'node:child_process'
import { rootSkipReason, SUBJECTS, type Subject } from './support/adapters.js'
import { Capture, runCli } from './support/cli.js'
import { main } from '../src/cli/main.js'
import { imagesOn } from './support/fixtures.js'


for (const subject of SUBJECTS) {
  describe(`changing commands through the engine (${subject.name})`, () => {
    let s: Subject
    let store: string
    beforeEach(async () => {
      s = await subject.make()
      store = `${s.root}/store`
      await importImage(s.fs, { store, backend: 'copy', image: `oci:${await imagesOn(s.fs)}/oci-overlay:wh-third`, createStore: true, preserveOwners: s.privileged })
    })
    afterEach(async () => {
      vi.restoreAllMocks()
      await s.cleanup()
    })

    const cli = (args: string[]) => runCli(s.fs, args)

    it('leaves a stamp after import that detect shows, and renews it after check -p fixes something', async () => {
      const first = await detect(s.fs, { store })
      expect(first.stamp).toMatchObject({ state: 'ok', family: 'mesos-docker', version: '1.8.0' })
      await writeFileAll(s.fs, `${store}/k3Jd9Q`, '')
      const later = new Date('2030-01-01T00:00:00Z')
      const report = await runCheck(s.fs, { store, graceMs: 0, mode: 'preen', now: () => later })
      expect(report.totals.fixed).toBe(1)
      const after = await readStamp(s.fs, store)
      expect(after.state === 'ok' && after.stamp.writtenAt).toBe(later.toISOString())
      const r = await cli(['detect', '--store', store])
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/stamp\s+mesos-docker 1\.8\.0/)
      expect((await s.fs.lstat(`${store}/.layerfsck/journal`))).toBeUndefined()
    })

    it('refuses check -p while a Mesos agent runs, and goes ahead with --force', async () => {
      await writeFileAll(s.fs, `${store}/k3Jd9Q`, '')
      const proc = `${s.root}/proc`
      await makeDirs(s.fs, `${proc}/321`)
      await writeFileAll(s.fs, `${proc}/321/comm`, 'mesos-slave\n')
      const refused = await runCheck(s.fs, { store, graceMs: 0, mode: 'preen', procRoot: proc }).catch((e: unknown) => e)
      expect((refused as Error).message).toContain('mesos-slave (pid 321) is running')
      expect(await s.fs.lstat(`${store}/k3Jd9Q`)).toBeDefined()
      // Reading is allowed while the agent runs.
      expect((await runCheck(s.fs, { store, graceMs: 0, mode: 'no', procRoot: proc })).exitCode).toBe(4)
      const forced = await runCheck(s.fs, { store, graceMs: 0, mode: 'preen', procRoot: proc, force: true })
      expect(forced.totals.fixed).toBe(1)
    })

    it('reports a fix that throws a TypeError as an internal error (exit 8), not as a finding', async () => {
      await writeFileAll(s.fs, `${store}/k3Jd9Q`, '')
      const spec = checkByCode('checkpoint-temp')!
      if (spec.fix?.by !== 'check') throw new Error('checkpoint-temp has lost its fix')
      vi.spyOn(spec.fix, 'apply').mockImplementation(async () => {
        throw new TypeError("Cannot read properties of undefined (reading 'path')")
      })
      const r = await cli(['check', '--grace', '0', '--store', store, '-p', '--json'])
      expect(r.code).toBe(8)
      expect(r.stderr).toContain('internal error')
      const doc = JSON.parse(r.stdout)
      expect(doc.error.code).toBe('LAYERFSCK_INTERNAL')
      expect(doc.passes).toBeUndefined()
      expect(await s.fs.lstat(`${store}/k3Jd9Q`)).toBeDefined()
    })

    it('leaves no journal after an import that failed on bad input, so nothing looks interrupted', async () => {
      const bad = await runCli(s.fs, ['import', '--store', store, '--backend', 'copy', `oci:${await imagesOn(s.fs)}/oci-overlay:no-such-tag`])
      expect(bad.code).toBe(8)
      expect(await s.fs.lstat(`${store}/.layerfsck/journal`)).toBeUndefined()
      expect(await s.fs.readdir(`${store}/staging`)).toEqual([])
      const check = await runCheck(s.fs, { store, graceMs: 0, mode: 'no' })
      expect(check.exitCode).toBe(0)
    })

    it('takes back a new store when the first import into it fails, leaving the directory as it was but for the lock', async () => {
      const fresh = `${s.root}/fresh`
      await makeDirs(s.fs, fresh)
      await writeFileAll(s.fs, `${s.root}/not-a-tar`, 'hello, I am not a tar\n')
      const bad = await runCli(s.fs, ['import', '--store', fresh, '--backend', 'copy', `docker-archive:${s.root}/not-a-tar`])
      expect(bad.code).toBe(8)
      expect(bad.stderr).toContain('not a readable tar')
      expect(bad.stderr).not.toContain('internal error')
      expect((await s.fs.readdir(fresh)).map((e) => e.name)).toEqual(['.layerfsck'])
      expect((await s.fs.readdir(`${fresh}/.layerfsck`)).map((e) => e.name)).toEqual(['lock'])
      // And it is still a place a later import may make a store in.
      const good = await runCli(s.fs, ['import', '--store', fresh, '--backend', 'copy', `oci:${await imagesOn(s.fs)}/oci-overlay:wh-base`])
      expect(good.code, good.stderr).toBe(0)
    })

    it('stops an import that is cancelled half-way and cleans up after it (exit 32, no journal, nothing recorded)', async () => {
      const cancel = new AbortController()
      const before = await readFileLimited(s.fs, `${store}/storedImages`)
      const err = await importImage(s.fs, {
        store,
        backend: 'copy',
        image: `docker-archive:${await imagesOn(s.fs)}/docker-archive/wh-third-vfs.docker-archive.tar`,
        reference: 'cancelled:1',
        signal: cancel.signal,
        onProgress: () => cancel.abort(),
      }).catch((e: unknown) => e)
      expect((err as LayerfsckError).exitCode).toBe(32)
      expect(await s.fs.lstat(`${store}/.layerfsck/journal`)).toBeUndefined()
      expect(await s.fs.readdir(`${store}/staging`)).toEqual([])
      expect(Buffer.from(await readFileLimited(s.fs, `${store}/storedImages`)).equals(Buffer.from(before))).toBe(true)
      expect((await runCheck(s.fs, { store, graceMs: 0 })).exitCode).toBe(0)
    })

    it('refuses a --work-dir that has no provisioner/, instead of reading it as an agent without containers', async () => {
      const notAgent = `${s.root}/home`
      await makeDirs(s.fs, `${notAgent}/docs`)
      for (const cmd of [['check', '-y'], ['detect']]) {
        const r = await runCli(s.fs, [...cmd, '--store', store, '--work-dir', notAgent])
        expect(r.code).toBe(8)
        expect(r.stderr).toContain('has no provisioner/ directory')
      }
    })

    it('says which layer id an export asked for is not there, and names the form the store uses', async () => {
      const hex = '6ac16d2e8047dc36b3cdcca09926ea9058c0ff0021f559948c408773cb047a69'
      const bare = await runCli(s.fs, ['export', '--store', store, '--layer', hex, '-o', `${s.root}/out.tar`])
      expect(bare.code).toBe(8)
      expect(bare.stderr).toContain(`has no layer named ${hex}`)
      expect(bare.stderr).toContain(`this store names it sha256:${hex}`)
      const config = await runCli(s.fs, ['export', '--store', store, '--layer', 'sha256:fefbce03962c5f162d292080ad4bddb2ad344f978ea6d2bd59637ab7b198386f', '-o', `${s.root}/out.tar`])
      expect(config.code).toBe(8)
      expect(config.stderr).toContain('not a layer (a config blob?)')
      expect(await s.fs.lstat(`${s.root}/out.tar`)).toBeUndefined()
    })

    it('leaves a staging leftover with a mount inside alone under -y, reports why, and keeps the mount\'s content', async ({ skip }) => {
      if (s.name === 'disk' && !s.privileged) return skip(rootSkipReason())
      const leftover = `${store}/staging/QwErTy`
      await makeDirs(s.fs, `${leftover}/mnt`)
      await writeFileAll(s.fs, `${leftover}/half-a-layer`, 'x')
      await s.mountTmpfs(`${leftover}/mnt`)
      await writeFileAll(s.fs, `${leftover}/mnt/live`, 'someone else\'s data')
      const report = await runCheck(s.fs, { store, graceMs: 0, mode: 'yes', skip: ['orphan-mount'] })
      const f = report.passes.flatMap((p) => p.findings).find((x) => x.code === 'staging-leftover')
      expect(f?.status).toBe('fix-failed')
      expect(f?.fixError).toContain('mounted inside')
      expect(report.exitCode & 4).toBe(4)
      expect(await readFileLimited(s.fs, `${leftover}/mnt/live`)).toEqual(new Uint8Array(Buffer.from('someone else\'s data')))
      expect((await s.fs.lstat(`${leftover}/half-a-layer`))?.kind).toBe('file')
      if (s.name === 'disk') execFileSync('umount', [`${leftover}/mnt`])
    })

    it('stops an export cancelled by Ctrl-C (exit 32) and leaves no tar, whole or partial', async () => {
      const cancel = new AbortController()
      cancel.abort()
      const stdout = new Capture()
      const stderr = new Capture()
      const out = `${s.root}/out`
      await makeDirs(s.fs, out)
      const layer = 'sha256:6ac16d2e8047dc36b3cdcca09926ea9058c0ff0021f559948c408773cb047a69'
      const code = await main(['export', '--store', store, '--layer', layer, '-o', `${out}/x.tar`], { stdout, stderr, env: {}, fs: s.fs, signal: cancel.signal })
      expect(code).toBe(32)
      expect(await s.fs.readdir(out)).toEqual([])
    })

    it('refuses export -o into the store reached through a bind mount', async ({ skip }) => {
      if (s.name !== 'disk') return skip('a bind mount needs the kernel; the memory adapter mounts fresh filesystems only')
      if (!s.privileged) return skip(rootSkipReason())
      const bm = `${s.root}/bm`
      await makeDirs(s.fs, bm)
      execFileSync('mount', ['--bind', store, bm])
      try {
        const config = 'sha256:fefbce03962c5f162d292080ad4bddb2ad344f978ea6d2bd59637ab7b198386f'
        const before = await readFileLimited(s.fs, `${store}/layers/${config}`)
        const layer = 'sha256:6ac16d2e8047dc36b3cdcca09926ea9058c0ff0021f559948c408773cb047a69'
        const r = await runCli(s.fs, ['export', '--store', store, '--layer', layer, '-o', `${bm}/layers/${config}`])
        expect(r.code).toBe(8)
        expect(r.stderr).toContain('inside the store')
        expect(Buffer.from(await readFileLimited(s.fs, `${store}/layers/${config}`)).equals(Buffer.from(before))).toBe(true)
      } finally {
        execFileSync('umount', [bm])
      }
    })

    it('says which claims of a killed run it left alone rather than calling them removed', async () => {
      await makeDirs(s.fs, `${s.root}/victim`)
      const records = [
        { v: 1, type: 'run', run: 'r1', command: 'import', pid: 99, at: '2026-01-01T00:00:00.000Z' },
        { v: 1, type: 'claim', run: 'r1', rel: '../victim' },
      ]
      await writeFileAll(s.fs, `${store}/.layerfsck/journal`, `${records.map((r) => JSON.stringify(r)).join('\n')}\n`)
      const report = await runCheck(s.fs, { store, graceMs: 0, mode: 'preen' })
      const f = report.passes.flatMap((p) => p.findings).find((x) => x.code === 'interrupted-run')
      expect(f?.status).toBe('fix-failed')
      expect(f?.fixError).toContain('left alone: ../victim')
      expect((await s.fs.lstat(`${s.root}/victim`))?.kind).toBe('dir')
      // The run is closed all the same: the next check has nothing to say.
      expect((await runCheck(s.fs, { store, graceMs: 0 })).exitCode).toBe(0)
    })

    it('takes --wait as seconds and refuses anything else as a usage error', async () => {
      expect((await cli(['check', '--grace', '0', '--store', store, '--wait', 'soon'])).code).toBe(16)
      expect((await cli(['check', '--grace', '0', '--store', store, '--wait', '0'])).code).toBe(0)
    })
  })
}
