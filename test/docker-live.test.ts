/**
 * Docker's live parts: `merged` mounts under the driver dir judged by runc's
 * state under dockerd's exec root, by --known-containers and by the processes
 * standing in them; a running dockerd on the same data root refusing changes;
 * and `detect` telling a Docker data root from everything else it may meet.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCheck, type CheckOptions, type CheckReport } from '../src/check/run.js'
import { errnoError, type LayerfsckError } from '../src/errors.js'
import { makeDirs, writeFileAll } from '../src/fs/io.js'
import { generateMesosStore } from '../src/families/mesos/testing.js'
import { rootSkipReason, SUBJECTS, type Subject } from './support/adapters.js'
import { runCli } from './support/cli.js'
import { dockerFixtureSkipReason, loadDockerFixture } from './support/docker-fixture.js'

/** fixtures/docker/README.md, overlay2 "Containers": `ran` and `created-overlay`. */
const RAN = { id: '75e34ce4f129fc405472a515c8596987d7acc725d628109b83c2b8ae3e18568d', mountId: '2dd3872bcaa09a7b822bd8aa8b70c848c2b8efce46a1c43d9e7ae1a74498f83a' }
const CREATED = { id: '872a243c9855e87e8a446cb0124824bbafe4c8f0a9a07fa7eb2ff4530c1c8a33', mountId: '60746c96f65914e7d5a63ac218f74c7c497e2bdb42050f145406731a50c35626' }

const MINE = ['docker-merged-stale-mount', 'docker-mount-liveness-unknown']
const findings = (r: CheckReport, code: string) => r.passes.flatMap((p) => p.findings.filter((f) => f.code === code))
const everyFinding = (r: CheckReport) => r.passes.flatMap((p) => p.findings).map((f) => `${f.code} ${f.path}: ${f.message}`)

for (const { name, make } of SUBJECTS) {
  describe(`Docker merged mounts and dockerd on the ${name} adapter`, () => {
    let s: Subject
    let store: string
    /** dockerd's exec root, with runc's state dir in it and no container live. */
    let execRoot: string
    /** An empty fake /proc: no process runs unless a case adds one. */
    let proc: string
    beforeEach(async () => {
      s = await make()
      const root = await s.fs.realpath(s.root)
      store = `${root}/data`
      execRoot = `${root}/exec`
      proc = `${root}/proc`
      await makeDirs(s.fs, `${execRoot}/runtime-runc/moby`)
      await makeDirs(s.fs, proc)
    })
    afterEach(async () => {
      await s.cleanup()
    })

    /** The real overlay2 data root, with a tmpfs left mounted on the `merged` of `mountId`, as a crash leaves it. */
    async function withMergedMount(mountId: string): Promise<{ merged: string; mounted(): Promise<boolean> }> {
      await makeDirs(s.fs, store)
      await loadDockerFixture(s.fs, 'overlay2', store)
      const merged = `${store}/overlay2/${mountId}/merged`
      await s.fs.mkdir(merged, 0o755)
      await s.mountTmpfs(merged)
      return { merged, mounted: async () => (await s.fs.mounts()).some((m) => m.mountPoint === merged) }
    }

    const base = (): CheckOptions => ({ store, runtimeDir: execRoot, procRoot: proc })

    it('reports a merged mount of a container runc does not know, unmounts it with -y, and checks clean after', async ({ skip }) => {
      if (!s.privileged) return skip(dockerFixtureSkipReason(s.name) || rootSkipReason())
      const m = await withMergedMount(RAN.mountId)
      const looked = await runCheck(s.fs, { ...base(), mode: 'no' })
      expect(looked.liveness).toBe('runtime-dir')
      const [stale] = findings(looked, 'docker-merged-stale-mount')
      expect(stale).toMatchObject({ path: m.merged, severity: 'warning', status: 'open', fix: { by: 'check', safe: false } })
      expect(stale!.message).toBe(`tmpfs mount of container ${RAN.id} (ran), which has no runc state under the exec root`)
      expect(stale!.detail).toMatchObject({ dir: RAN.mountId, container: RAN.id, name: 'ran' })
      expect(looked.next.some((n) => n.startsWith('layerfsck check -y'))).toBe(true)
      // -p applies safe fixes only; an unmount is not one.
      expect(findings(await runCheck(s.fs, { ...base(), mode: 'preen' }), 'docker-merged-stale-mount')[0]?.status).toBe('open')
      expect(await m.mounted()).toBe(true)

      const fixed = await runCheck(s.fs, { ...base(), mode: 'yes' })
      expect(findings(fixed, 'docker-merged-stale-mount').map((f) => [f.path, f.status])).toEqual([[m.merged, 'fixed']])
      expect(fixed.exitCode & 1).toBe(1)
      expect(await m.mounted()).toBe(false)
      // Docker 17.12 and later remove merged/ at unmount; the fix leaves the layer dir as Docker would.
      expect(await s.fs.lstat(m.merged)).toBeUndefined()
      expect(await s.fs.lstat(`${store}/overlay2/${RAN.mountId}/diff/bin/busybox`)).toBeDefined()

      const again = await runCheck(s.fs, { ...base(), mode: 'no' })
      expect(everyFinding(again)).toEqual([])
      expect(again.exitCode).toBe(0)
    })

    it('reports a mount on an image layer\'s dir as one of no container, and below a merged mount only the top one', async ({ skip }) => {
      if (!s.privileged) return skip(dockerFixtureSkipReason(s.name) || rootSkipReason())
      const m = await withMergedMount(CREATED.mountId)
      await s.fs.mkdir(`${m.merged}/inner`, 0o755)
      await s.mountTmpfs(`${m.merged}/inner`)
      const image = `${store}/overlay2/e1b89a3c92a882f30e96cc029bdfad8d0c2f2b64cd7972617a234b34fcb20220/merged`
      await s.fs.mkdir(image, 0o755)
      await s.mountTmpfs(image)
      const report = await runCheck(s.fs, { ...base(), mode: 'no' })
      expect(findings(report, 'docker-merged-stale-mount').map((f) => [f.path, f.message])).toEqual([
        [m.merged, `tmpfs mount of container ${CREATED.id} (created-overlay), which has no runc state under the exec root`],
        [image, 'tmpfs mount of no container (e1b89a3c92a882f30e96cc029bdfad8d0c2f2b64cd7972617a234b34fcb20220 is an image layer\'s dir)'],
      ])
      const fixed = await runCheck(s.fs, { ...base(), mode: 'yes' })
      expect(findings(fixed, 'docker-merged-stale-mount').every((f) => f.status === 'fixed')).toBe(true)
      expect((await s.fs.mounts()).filter((x) => x.mountPoint.startsWith(`${store}/`))).toEqual([])
    })

    it('judges a merged mount of the legacy overlay driver the same way, by its mount record under image/overlay', async ({ skip }) => {
      if (!s.privileged) return skip(dockerFixtureSkipReason(s.name) || rootSkipReason())
      // fixtures/docker/README.md, overlay "Containers": `ran`.
      const ran = { id: '79846f8166b553c501215af775fbf7b9b16c3c9435fb5bbe12035b9b7ddbe754', mountId: 'a9a420b10cf64c3cca1e5b0932207dc7d882fe12e4a797504cd0521f95d3eede' }
      await makeDirs(s.fs, store)
      await loadDockerFixture(s.fs, 'overlay', store)
      const merged = `${store}/overlay/${ran.mountId}/merged`
      await s.fs.mkdir(merged, 0o755)
      await s.mountTmpfs(merged)
      const report = await runCheck(s.fs, { ...base(), mode: 'yes' })
      expect(findings(report, 'docker-merged-stale-mount').map((f) => [f.path, f.message, f.status])).toEqual([
        [merged, `tmpfs mount of container ${ran.id} (ran), which has no runc state under the exec root`, 'fixed'],
      ])
      expect((await s.fs.mounts()).some((m) => m.mountPoint === merged)).toBe(false)
      expect(await s.fs.lstat(merged)).toBeUndefined()
    })

    it('leaves alone a merged mount whose container the exec root\'s runtime-runc/moby/<id> says is live', async ({ skip }) => {
      if (!s.privileged) return skip(dockerFixtureSkipReason(s.name) || rootSkipReason())
      const m = await withMergedMount(RAN.mountId)
      await makeDirs(s.fs, `${execRoot}/runtime-runc/moby/${RAN.id}`)
      await writeFileAll(s.fs, `${execRoot}/runtime-runc/moby/${RAN.id}/state.json`, '{}')
      const report = await runCheck(s.fs, { ...base(), mode: 'yes' })
      for (const code of MINE) expect(findings(report, code), code).toEqual([])
      expect(await m.mounted()).toBe(true)
    })

    it('takes --known-containers by full id, short id or name for live, and judges the others', async ({ skip }) => {
      if (!s.privileged) return skip(dockerFixtureSkipReason(s.name) || rootSkipReason())
      const m = await withMergedMount(RAN.mountId)
      const list = `${s.root}/known`
      for (const [text, live] of [
        [`${RAN.id}\n`, true],
        [`# docker ps -q\n${RAN.id.slice(0, 12)}\n`, true],
        ['ran\n', true],
        ['/ran\n', true],
        [`${CREATED.id}\ncreated-vfs\n`, false],
      ] as const) {
        await writeFileAll(s.fs, list, text)
        const report = await runCheck(s.fs, { store, knownContainers: list, procRoot: proc, mode: 'no' })
        expect(report.liveness).toBe('known-containers')
        const stale = findings(report, 'docker-merged-stale-mount')
        expect(stale.map((f) => f.message), JSON.stringify(text)).toEqual(live ? [] : [`tmpfs mount of container ${RAN.id} (ran), which is not in --known-containers`])
      }
      expect(await m.mounted()).toBe(true)
    })

    it('never unmounts a merged mount a process has its root in: the finding says so and the fix is refused', async ({ skip }) => {
      if (!s.privileged) return skip(dockerFixtureSkipReason(s.name) || rootSkipReason())
      const m = await withMergedMount(RAN.mountId)
      await makeDirs(s.fs, `${proc}/4242`)
      await writeFileAll(s.fs, `${proc}/4242/comm`, 'busybox\n')
      await s.fs.symlink(m.merged, `${proc}/4242/root`)
      await s.fs.symlink('/', `${proc}/4242/cwd`)
      const report = await runCheck(s.fs, { ...base(), mode: 'yes' })
      const [stale] = findings(report, 'docker-merged-stale-mount')
      expect(stale?.message).toBe(
        `tmpfs mount of container ${RAN.id} (ran), which has no runc state under the exec root; but pid 4242 (its root) is in it, so it is live and stays mounted`,
      )
      expect(stale?.detail?.['inUseBy']).toBe('4242')
      expect(stale?.status).toBe('fix-failed')
      expect(stale?.fixError).toMatch(/not unmounted: pid 4242 \(its root\) is in it, so it is live/)
      expect(report.exitCode & 4).toBe(4)
      expect(await m.mounted()).toBe(true)
    })

    it('never unmounts a mount whose mount record cannot be read, and says which one could not be', async ({ skip }) => {
      if (!s.privileged) return skip(dockerFixtureSkipReason(s.name) || rootSkipReason())
      const m = await withMergedMount(RAN.mountId)
      const record = `${store}/image/overlay2/layerdb/mounts/${RAN.id}`
      const fs = new Proxy(s.fs, {
        get(target, key) {
          if (key === 'readdir') {
            return async (path: string) => {
              if (path === record) throw errnoError('EACCES', 'scandir', path)
              return target.readdir(path)
            }
          }
          const value = Reflect.get(target, key) as unknown
          return typeof value === 'function' ? value.bind(target) : value
        },
      })
      const report = await runCheck(fs, { ...base(), mode: 'yes' })
      expect(findings(report, 'docker-merged-stale-mount')).toEqual([])
      expect(findings(report, 'docker-mount-liveness-unknown').map((f) => [f.path, f.message])).toEqual([
        [m.merged, `tmpfs mount whose container cannot be told: ${record} cannot be read (EACCES); left mounted`],
      ])
      expect(await m.mounted()).toBe(true)
    })

    it('without a liveness source reports the mount as of unknown liveness, names the options, and unmounts nothing', async ({ skip }) => {
      if (!s.privileged) return skip(dockerFixtureSkipReason(s.name) || rootSkipReason())
      if (s.name === 'disk' && (await s.fs.lstat('/var/run/docker')) !== undefined) {
        return skip('this host has /var/run/docker: the default exec root is a liveness source here')
      }
      const m = await withMergedMount(RAN.mountId)
      const report = await runCheck(s.fs, { store, procRoot: proc, mode: 'yes' })
      expect(report.liveness).toBe('unknown')
      expect(findings(report, 'docker-merged-stale-mount')).toEqual([])
      const found = findings(report, 'docker-mount-liveness-unknown')
      expect(found.map((f) => [f.path, f.severity, f.status, f.fix?.by])).toEqual([[m.merged, 'warning', 'open', 'operator']])
      expect(found[0]!.message).toMatch(
        /^tmpfs mount of container 75e34ce4f129\w+ \(ran\), whose liveness is unknown; left mounted \(no liveness source: the default exec root \/var\/run\/docker does not exist; give --runtime-dir \(dockerd's --exec-root, \/var\/run\/docker by default\) or --known-containers FILE\)$/,
      )
      expect(report.exitCode & 4).toBe(4)
      expect(await m.mounted()).toBe(true)
    })

    it('refuses check -p and -y while a dockerd runs on this data root (exit 8, naming its pid), reads with -n, and goes ahead with --force', async ({ skip }) => {
      if (!s.privileged) return skip(dockerFixtureSkipReason(s.name) || rootSkipReason())
      const m = await withMergedMount(RAN.mountId)
      await makeDirs(s.fs, `${proc}/1234`)
      await writeFileAll(s.fs, `${proc}/1234/comm`, 'dockerd\n')
      await writeFileAll(s.fs, `${proc}/1234/cmdline`, ['/usr/sbin/dockerd', '--data-root', store, '--exec-root', execRoot, '--storage-driver', 'overlay2', ''].join('\0'))
      for (const mode of ['preen', 'yes'] as const) {
        const refused = (await runCheck(s.fs, { ...base(), mode }).catch((e: unknown) => e)) as LayerfsckError
        expect(refused.exitCode, mode).toBe(8)
        expect(refused.message).toContain('dockerd (pid 1234) is running')
      }
      expect(await m.mounted()).toBe(true)
      const read = await runCheck(s.fs, { ...base(), mode: 'no' })
      expect(findings(read, 'docker-merged-stale-mount').map((f) => f.path)).toEqual([m.merged])
      expect((await runCheck(s.fs, { ...base(), mode: 'preen', force: true })).mode).toBe('preen')
      const forced = await runCheck(s.fs, { ...base(), mode: 'yes', force: true })
      expect(findings(forced, 'docker-merged-stale-mount').map((f) => f.status)).toEqual(['fixed'])
      expect(await m.mounted()).toBe(false)
    })

    it('does not let a dockerd on another data root block changes, in either form of --data-root', async ({ skip }) => {
      if (!s.privileged) return skip(dockerFixtureSkipReason(s.name) || rootSkipReason())
      const m = await withMergedMount(RAN.mountId)
      await makeDirs(s.fs, `${s.root}/other-root`)
      for (const [pid, argv] of [
        ['1234', ['dockerd', '--data-root', `${s.root}/other-root`]],
        ['1235', ['dockerd', `--data-root=${s.root}/other-root`, '--exec-root=/run/other']],
      ] as const) {
        await makeDirs(s.fs, `${proc}/${pid}`)
        await writeFileAll(s.fs, `${proc}/${pid}/comm`, 'dockerd\n')
        await writeFileAll(s.fs, `${proc}/${pid}/cmdline`, `${argv.join('\0')}\0`)
      }
      const report = await runCheck(s.fs, { ...base(), mode: 'yes' })
      expect(findings(report, 'docker-merged-stale-mount').map((f) => f.status)).toEqual(['fixed'])
      expect(await m.mounted()).toBe(false)
    })
  })

  describe(`detect on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    it('tells Docker overlay2, Docker overlay, Mesos, a containers/storage graphroot, another Docker driver and an empty dir apart', async ({ skip }) => {
      if (!s.privileged) return skip(dockerFixtureSkipReason(s.name) || rootSkipReason())
      type Row = { what: string; make(dir: string): Promise<void>; code: number; expect: Record<string, unknown> }
      const rows: Row[] = [
        {
          what: 'a Docker overlay2 data root',
          make: (dir) => loadDockerFixture(s.fs, 'overlay2', dir),
          code: 0,
          expect: { family: 'docker', driver: 'overlay2', format: expect.objectContaining({ family: 'docker-overlay2' }) },
        },
        {
          what: 'a Docker overlay data root',
          make: (dir) => loadDockerFixture(s.fs, 'overlay', dir),
          code: 0,
          expect: { family: 'docker', driver: 'overlay', format: expect.objectContaining({ family: 'docker-overlay' }) },
        },
        {
          what: 'a Mesos docker store',
          make: async (dir) => {
            await generateMesosStore(s.fs, dir, { format: '1.5.0', layers: 1, backends: ['copy'], whiteoutsPerLayer: 0, opaquePerLayer: 0 })
          },
          code: 0,
          expect: { family: 'mesos' },
        },
        {
          what: 'a containers/storage graphroot',
          make: async (dir) => {
            await makeDirs(s.fs, `${dir}/overlay-layers`)
            await writeFileAll(s.fs, `${dir}/storage.lock`, '')
            await writeFileAll(s.fs, `${dir}/overlay-layers/layers.json`, '[]')
          },
          code: 8,
          expect: { error: expect.objectContaining({ looksLike: expect.objectContaining({ kind: 'containers-storage' }) }) },
        },
        {
          what: 'a Docker data root of the vfs driver',
          make: async (dir) => {
            await makeDirs(s.fs, `${dir}/image/vfs/layerdb/sha256`)
            await makeDirs(s.fs, `${dir}/vfs/dir`)
          },
          code: 8,
          expect: { error: expect.objectContaining({ looksLike: expect.objectContaining({ kind: 'docker-unsupported-driver', drivers: ['vfs'] }) }) },
        },
        { what: 'an empty dir', make: async () => {}, code: 8, expect: { error: expect.objectContaining({ looksLike: expect.objectContaining({ kind: 'empty' }) }) } },
      ]
      for (const [i, row] of rows.entries()) {
        const dir = `${s.root}/case-${i}`
        await makeDirs(s.fs, dir)
        await row.make(dir)
        const r = await runCli(s.fs, ['detect', '--store', dir, '--json'])
        expect(r.code, `${row.what}: ${r.stderr}`).toBe(row.code)
        expect(JSON.parse(r.stdout), row.what).toMatchObject(row.expect)
      }
    })
  })
}
