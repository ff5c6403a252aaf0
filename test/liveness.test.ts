import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { usersOfMount } from '../src/check/process-use.js'
import { runCheck, type CheckOptions, type CheckReport } from '../src/check/run.js'
import { errnoError } from '../src/errors.js'
import { makeDirs, writeFileAll } from '../src/fs/io.js'
import type { FsPort } from '../src/fs/port.js'
import { readProcessUses } from '../src/fs/processes.js'
import { containerDir, provisionerDir } from '../src/families/mesos/paths.js'
import { encodeContainerLayers } from '../src/families/mesos/metadata/container-layers.js'
import { generateMesosStore } from '../src/families/mesos/testing.js'
import { listTree } from '../src/testing/tree-spec.js'
import { runCli } from './support/cli.js'
import { memorySubject, rootSkipReason, SUBJECTS, type Subject } from './support/adapters.js'

const cli = runCli

const findings = (r: CheckReport, code: string) => r.passes.flatMap((p) => p.findings.filter((f) => f.code === code))

/** A store, an agent work dir with one bind-backend container c1, and its rootfs mounted. */
interface Env {
  store: string
  workDir: string
  rootfs: string
  options: CheckOptions
  mounted(): Promise<boolean>
}

async function makeEnv(s: Subject): Promise<Env> {
  const store = `${s.root}/store`
  const workDir = `${s.root}/agent`
  const gen = await generateMesosStore(s.fs, store, { format: '1.5.0', layers: 1, backends: ['copy'], whiteoutsPerLayer: 0, opaquePerLayer: 0 })
  const container = containerDir(provisionerDir(workDir), ['c1'])
  const rootfs = `${container}/backends/bind/rootfses/7d1e4c2a-0000-4000-8000-00000000c0de`
  await makeDirs(s.fs, rootfs)
  await writeFileAll(s.fs, `${container}/layers`, encodeContainerLayers({ paths: [`${store}/layers/${gen.layerIds[0]}/rootfs`] }))
  await s.mountTmpfs(rootfs)
  return {
    store,
    workDir,
    rootfs,
    options: { store, workDir, backend: 'copy' },
    mounted: async () => (await s.fs.mounts()).some((m) => m.mountPoint === rootfs),
  }
}

/** The port with `dirs` unlistable (EACCES), as a directory of mode 0311 is to a user who does not own it. */
function denyListing(fs: FsPort, dirs: readonly string[]): FsPort {
  return new Proxy(fs, {
    get(target, key) {
      if (key === 'readdir') {
        return async (path: string) => {
          if (dirs.includes(path)) throw errnoError('EACCES', 'scandir', path)
          return target.readdir(path)
        }
      }
      const value = Reflect.get(target, key) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/** Writes a list of live containers and returns its path. */
async function knownContainers(s: Subject, ids: string[]): Promise<string> {
  const path = `${s.root}/known-containers`
  await writeFileAll(s.fs, path, ids.map((id) => `${id}\n`).join(''))
  return path
}

for (const { name, make } of SUBJECTS) {
  describe(`liveness on the ${name} adapter`, () => {
    let s: Subject
    const children: ChildProcess[] = []
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      for (const c of children.splice(0)) c.kill('SIGKILL')
      await s.cleanup()
    })

    it('stops check -y with exit 8 when --runtime-dir does not exist, and leaves the live container mounted', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const e = await makeEnv(s)
      const r = await cli(s.fs, ['check', '--store', e.store, '--work-dir', e.workDir, '--runtime-dir', '/does/not/exist', '-y'])
      expect(r.code, r.stderr).toBe(8)
      expect(r.stderr).toMatch(/runtime dir \/does\/not\/exist does not exist; without it nothing can be judged live/)
      expect(await e.mounted()).toBe(true)
      await expect(runCheck(s.fs, { ...e.options, runtimeDir: `${s.root}/typo`, mode: 'yes' })).rejects.toThrow(/does not exist/)
      expect(await e.mounted()).toBe(true)
    })

    it('stops check with exit 8 when --runtime-dir is a file, or --known-containers is missing or a directory', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const e = await makeEnv(s)
      await writeFileAll(s.fs, `${s.root}/a-file`, '')
      await s.fs.mkdir(`${s.root}/a-dir`, 0o755)
      const cases: [string, string, RegExp][] = [
        ['--runtime-dir', `${s.root}/a-file`, /runtime dir .*a-file is a file, not a directory/],
        ['--known-containers', `${s.root}/nope`, /--known-containers .*nope does not exist/],
        ['--known-containers', `${s.root}/a-dir`, /--known-containers .*a-dir is a dir, not a file/],
      ]
      for (const [option, value, message] of cases) {
        const r = await cli(s.fs, ['check', '--store', e.store, '--work-dir', e.workDir, option, value, '-y'])
        expect(r.code, `${option} ${value}`).toBe(8)
        expect(r.stderr).toMatch(message)
        expect(await e.mounted()).toBe(true)
      }
    })

    it('reads an empty runtime dir as nothing live (a reboot empties it) and unmounts the orphan with -y', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const e = await makeEnv(s)
      const runtime = `${s.root}/runtime`
      await s.fs.mkdir(runtime, 0o755)
      const report = await runCheck(s.fs, { ...e.options, runtimeDir: runtime, mode: 'yes' })
      expect(report.liveness).toBe('runtime-dir')
      expect(findings(report, 'orphan-mount').map((f) => [f.path, f.status])).toEqual([[e.rootfs, 'fixed']])
      expect(await e.mounted()).toBe(false)
    })

    it('takes a container listed in the runtime dir, nested ones too, for live and leaves its mount alone', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const e = await makeEnv(s)
      const runtime = `${s.root}/runtime`
      await makeDirs(s.fs, `${runtime}/containers/c1/containers/c1.child`)
      const report = await runCheck(s.fs, { ...e.options, runtimeDir: runtime, mode: 'yes' })
      expect(findings(report, 'orphan-mount')).toEqual([])
      expect(await e.mounted()).toBe(true)
    })

    it('without any liveness source reports the mount as of unknown liveness, names the options, and never unmounts it', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      if (s.name === 'disk' && (await s.fs.lstat('/var/run/mesos')) !== undefined) return skip('this host has /var/run/mesos: the default runtime dir is a liveness source here')
      const e = await makeEnv(s)
      // -y takes the store lock, which lives in .layerfsck/; nothing else may change.
      const listing = async (): Promise<string> => (await listTree(s.fs, s.root)).split('\n').filter((l) => !l.startsWith('store/.layerfsck')).join('\n')
      const before = await listing()
      const report = await runCheck(s.fs, { ...e.options, mode: 'yes' })
      expect(report.liveness).toBe('unknown')
      const found = findings(report, 'mount-liveness-unknown')
      expect(found.map((f) => [f.path, f.status, f.fix?.by])).toEqual([[e.rootfs, 'open', 'operator']])
      expect(found[0]!.message).toMatch(/no liveness source: the default runtime dir \/var\/run\/mesos does not exist; give --runtime-dir .* or --known-containers FILE/)
      expect(findings(report, 'orphan-mount')).toEqual([])
      expect(report.exitCode & 4).toBe(4)
      expect(await e.mounted()).toBe(true)
      expect(await listing()).toBe(before)
    })

    for (const [what, unlistable] of [
      ['the provisioner\'s containers dir', (e: Env) => `${provisionerDir(e.workDir)}/containers`],
      ['the container\'s own dir', (e: Env) => containerDir(provisionerDir(e.workDir), ['c1'])],
      ['the container\'s backends dir', (e: Env) => `${containerDir(provisionerDir(e.workDir), ['c1'])}/backends`],
    ] as const) {
      it(`never unmounts a mount below ${what} when that cannot be listed, and says why it cannot tell`, async ({ skip }) => {
        if (!s.privileged) return skip(rootSkipReason())
        const e = await makeEnv(s)
        const dir = unlistable(e)
        const fs = denyListing(s.fs, [dir])
        // c1 is live; a check that cannot see c1's dir must not take its mount for an orphan.
        const report = await runCheck(fs, { ...e.options, knownContainers: await knownContainers(s, ['c1']), mode: 'yes' })
        expect(findings(report, 'orphan-mount')).toEqual([])
        const unknown = findings(report, 'mount-liveness-unknown')
        expect(unknown.map((f) => [f.path, f.status])).toEqual([[e.rootfs, 'open']])
        expect(unknown[0]!.message).toBe(`tmpfs mount whose container cannot be told: ${dir} cannot be listed (EACCES); left mounted`)
        expect(findings(report, 'dir-unreadable').map((f) => f.path)).toContain(dir)
        expect(await e.mounted()).toBe(true)
      })
    }

    it('still unmounts the mount of a container that is not live when another container\'s dir cannot be listed', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const e = await makeEnv(s)
      await makeDirs(s.fs, `${containerDir(provisionerDir(e.workDir), ['c2'])}/backends`)
      const fs = denyListing(s.fs, [`${containerDir(provisionerDir(e.workDir), ['c2'])}/backends`])
      const report = await runCheck(fs, { ...e.options, knownContainers: await knownContainers(s, ['c2']), mode: 'yes' })
      expect(findings(report, 'orphan-mount').map((f) => [f.path, f.status])).toEqual([[e.rootfs, 'fixed']])
      expect(findings(report, 'mount-liveness-unknown')).toEqual([])
      expect(await e.mounted()).toBe(false)
    })

    it('never unmounts a mount a process works in, though no source calls its container live', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const e = await makeEnv(s)
      await s.fs.mkdir(`${e.rootfs}/work`, 0o755)
      let pid: number
      if (s.fs.kind === 'memory') {
        pid = 4242
        await makeDirs(s.fs, `/proc/${pid}`)
        await s.fs.symlink('/', `/proc/${pid}/root`)
        await s.fs.symlink(`${e.rootfs}/work`, `/proc/${pid}/cwd`)
      } else {
        const child = spawn('sleep', ['60'], { cwd: `${e.rootfs}/work`, stdio: 'ignore' })
        children.push(child)
        pid = child.pid!
        await until(async () => (await s.fs.readlink(`/proc/${pid}/cwd`).catch(() => '')) === `${e.rootfs}/work`)
      }
      const options = { ...e.options, knownContainers: await knownContainers(s, []) }
      const report = await runCheck(s.fs, { ...options, mode: 'yes' })
      const [orphan] = findings(report, 'orphan-mount')
      expect(orphan?.message).toContain(`pid ${pid} (its working directory) is in it, so it stays mounted`)
      expect(orphan?.status).not.toBe('fixed')
      expect(orphan?.fixError).toMatch(new RegExp(`not unmounted: pid ${pid} .* is in it, so it is live`))
      expect(await e.mounted()).toBe(true)
    })
  })
}

describe('processes standing in mounts', () => {
  it('sees a process that pivot_root\'ed into a mount in its own mount namespace, where its root reads as /', async ({ skip }) => {
    if (!SUBJECTS.some((x) => x.name === 'disk')) return skip('no disk subject')
    const disk = SUBJECTS.find((x) => x.name === 'disk')!
    const s = await disk.make()
    let child: ChildProcess | undefined
    try {
      if (!s.privileged) return skip(rootSkipReason())
      const e = await makeEnv(s)
      try {
        // A root with a runnable sleep in it: the binary and the libraries it links.
        const sleep = execFileSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim()
        const libs = execFileSync('ldd', [sleep], { encoding: 'utf8' }).match(/\/\S+/g) ?? []
        for (const file of [sleep, ...libs]) execFileSync('sh', ['-c', 'mkdir -p "$1$(dirname "$2")" && cp "$2" "$1$2"', 'sh', e.rootfs, file])
        await s.fs.mkdir(`${e.rootfs}/old`, 0o755)
        child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `cd "$0" && pivot_root . old && exec ${sleep} 60`, e.rootfs], { stdio: 'ignore' })
      } catch (err) {
        return skip(`cannot build a root with sleep in it here: ${String(err).split('\n')[0]}`)
      }
      const pid = child.pid!
      const pivoted = await until(async () => (await s.fs.readlink(`/proc/${pid}/exe`).catch(() => '')).endsWith('sleep') && (await s.fs.readlink(`/proc/${pid}/root`).catch(() => '')) === '/', 3000)
      if (!pivoted) return skip('unshare and pivot_root did not give a process in its own mount namespace here')
      const uses = (await readProcessUses(s.fs)).filter((u) => u.pid === pid)
      expect(uses.map((u) => [u.as, u.path])).toEqual([
        ['cwd', '/'],
        ['root', '/'],
      ])
      expect((await usersOfMount(s.fs, uses, await s.fs.mounts(), e.rootfs)).map((u) => u.pid)).toEqual([pid, pid])
      const report = await runCheck(s.fs, { ...e.options, knownContainers: await knownContainers(s, []), mode: 'yes' })
      expect(findings(report, 'orphan-mount')[0]?.message).toContain(`pid ${pid} (its root)`)
      expect((await s.fs.mounts()).some((m) => m.mountPoint === e.rootfs)).toBe(true)
    } finally {
      child?.kill('SIGKILL')
      if (child) await new Promise((r) => child!.once('exit', r))
      await s.cleanup()
    }
  })

  it('reads a fake /proc through the port, skipping processes that exit while it looks, and the (deleted) suffix', async () => {
    const s = await memorySubject()
    const fs = s.fs
    await makeDirs(fs, '/proc/1')
    await fs.symlink('/', '/proc/1/root')
    await fs.symlink('/', '/proc/1/cwd')
    await makeDirs(fs, '/proc/77')
    await fs.symlink('/', '/proc/77/root')
    await fs.symlink('/srv/gone (deleted)', '/proc/77/cwd')
    // A process gone between the listing and the look: no links left.
    await makeDirs(fs, '/proc/78')
    await makeDirs(fs, '/proc/self-ish')
    await writeFileAll(fs, '/proc/uptime', '1.0 1.0\n')
    const uses = await readProcessUses(fs, '/proc')
    expect(uses.map((u) => `${u.pid} ${u.as} ${u.path}`)).toEqual(['1 cwd /', '1 root /', '77 cwd /srv/gone', '77 root /'])
    expect(await readProcessUses(fs, '/no-proc-here')).toEqual([])
  })

  it('counts a process below a nested mount as standing in every mount above it', async () => {
    const s = await memorySubject()
    const fs = s.fs
    await makeDirs(fs, '/m/inner/deep')
    fs.mount({ mountPoint: '/m', fsType: 'tmpfs' })
    await makeDirs(fs, '/m/inner/deep')
    fs.mount({ mountPoint: '/m/inner', fsType: 'tmpfs' })
    await makeDirs(fs, '/m/inner/deep')
    await makeDirs(fs, '/proc/9')
    await fs.symlink('/m/inner/deep', '/proc/9/cwd')
    await fs.symlink('/', '/proc/9/root')
    const uses = await readProcessUses(fs)
    const mounts = await fs.mounts()
    expect((await usersOfMount(fs, uses, mounts, '/m')).map((u) => `${u.pid} ${u.as}`)).toEqual(['9 cwd'])
    expect((await usersOfMount(fs, uses, mounts, '/m/inner')).map((u) => `${u.pid} ${u.as}`)).toEqual(['9 cwd'])
    expect(await usersOfMount(fs, uses, mounts, '/other')).toEqual([])
  })
})

async function until(test: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await test()) return true
    await new Promise((r) => setTimeout(r, 25))
  }
  return false
}
