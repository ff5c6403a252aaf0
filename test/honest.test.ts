/**
 * What layerfsck says when it cannot see: run by a process without
 * CAP_SYS_ADMIN (trusted.* xattrs are invisible to it) or one that may not
 * list a directory. Memory: an adapter at uid 65534 on the volume a root
 * adapter built. Disk: the built CLI under setpriv as uid 65534, when this
 * runs as root and dist/ is as new as src/.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { main } from '../src/cli/main.js'
import type { OutputStream } from '../src/cli/style.js'
import { runCheck, type CheckReport } from '../src/check/run.js'
import { makeDirs, writeFileAll } from '../src/fs/io.js'
import { createMemoryFs, type MemoryFs } from '../src/fs/memory.js'
import { createNodeFs, makeTempDir, removeTempDir } from '../src/fs/node.js'
import type { FsPort } from '../src/fs/port.js'
import { walkTree } from '../src/fs/walk.js'
import { generateMesosStore, type GeneratedStore } from '../src/families/mesos/testing.js'
import { isRoot } from './support/adapters.js'

const NOBODY = 65534
const REPO = fileURLToPath(new URL('..', import.meta.url))

class Capture implements OutputStream {
  text = ''
  bytes = 0
  write(chunk: string | Uint8Array): boolean {
    if (typeof chunk === 'string') this.text += chunk
    else this.bytes += chunk.length
    return true
  }
}

const findings = (r: CheckReport, code: string) => r.passes.flatMap((p) => p.findings.filter((f) => f.code === code))

/**
 * A store with both variants of two layers (opaque dirs marked with
 * trusted.overlay.opaque in rootfs.overlay), a provisioner dir, and a
 * world-writable place for output; built by root.
 */
async function build(fs: FsPort, root: string): Promise<GeneratedStore & { store: string; workDir: string; out: string }> {
  const store = `${root}/store`
  const workDir = `${root}/agent`
  const gen = await generateMesosStore(fs, store, { format: '1.5.0', layers: 2, backends: ['overlay', 'copy'], opaquePerLayer: 2, containers: 1, workDir })
  const out = `${root}/out`
  await fs.mkdir(out, 0o777)
  await fs.chmod(out, 0o777)
  return { ...gen, store, workDir, out }
}

describe('a check run without CAP_SYS_ADMIN, in memory at uid 65534', () => {
  let rootFs: MemoryFs
  let user: MemoryFs
  let env: Awaited<ReturnType<typeof build>>
  beforeEach(async () => {
    rootFs = createMemoryFs({ umask: 0o022 })
    await rootFs.mkdir('/work', 0o755)
    env = await build(rootFs, '/work')
    user = createMemoryFs({ volume: rootFs.volume, uid: NOBODY, gid: NOBODY, umask: 0o022 })
  })

  it('says which checks could not run fully because trusted.* xattrs are invisible to it', async () => {
    expect(await user.credentials()).toMatchObject({ uid: NOBODY, capSysAdmin: false })
    const report = await runCheck(user, { store: env.store, workDir: env.workDir })
    const [finding] = findings(report, 'xattrs-unreadable')
    expect(finding?.severity).toBe('warning')
    expect(finding?.path).toBe(env.store)
    expect(finding?.message).toMatch(/^uid 65534 without CAP_SYS_ADMIN cannot read trusted\.\* xattrs: /)
    expect(finding?.message).toContain('overlay-whiteout-in-rootfs could not look for opaque directories in 2 aufs-form or flattened layer trees')
    expect(finding?.message).toContain('the opaque directories of 2 overlay-form layer trees are invisible')
    expect(report.exitCode & 4).toBe(4)
  })

  it('says nothing of the kind when run with CAP_SYS_ADMIN', async () => {
    const report = await runCheck(rootFs, { store: env.store, workDir: env.workDir })
    expect(findings(report, 'xattrs-unreadable')).toEqual([])
    expect(findings(report, 'dir-unreadable')).toEqual([])
  })

  it('reports each directory it cannot list and checks everything else, instead of stopping', async () => {
    await rootFs.chmod(`${env.store}/gc`, 0o700)
    const container = `${env.workDir}/provisioner/containers/${env.containerIds[0]!.join('/containers/')}`
    await rootFs.chmod(`${container}/backends`, 0o700)
    const report = await runCheck(user, { store: env.store, workDir: env.workDir })
    expect(findings(report, 'dir-unreadable').map((f) => [f.path, f.severity, f.message])).toEqual([
      [`${container}/backends`, 'warning', 'cannot be listed (EACCES): nothing below it was checked'],
      [`${env.store}/gc`, 'warning', 'cannot be listed (EACCES): nothing below it was checked'],
    ])
    expect(report.exitCode & 4).toBe(4)
  })

  it('reports a directory inside a layer it cannot list, and walks the rest of the layer', async () => {
    const secret = `${env.store}/layers/${env.layerIds[0]}/rootfs/usr/d000`
    await rootFs.chmod(secret, 0o700)
    const report = await runCheck(user, { store: env.store, workDir: env.workDir })
    expect(findings(report, 'dir-unreadable').map((f) => f.path)).toEqual([secret])
  })

  it('refuses to export an overlay-form layer whose opaque markers it cannot read, unless told to go on', async () => {
    const layer = env.layerIds[1]!
    const run = async (...extra: string[]) => {
      const stdout = new Capture()
      const stderr = new Capture()
      const args = ['export', '--store', env.store, '--layer', layer, '--backend', 'overlay', '-o', `${env.out}/layer.tar`, ...extra]
      return { code: await main(args, { stdout, stderr, env: {}, fs: user }), stdout: stdout.text, stderr: stderr.text }
    }
    const refused = await run()
    expect(refused.code).toBe(8)
    expect(refused.stderr).toMatch(/cannot export .*rootfs\.overlay whole: its opaque directories are marked with trusted\.overlay\.opaque, which uid 65534 without CAP_SYS_ADMIN cannot read/)
    expect(refused.stderr).toMatch(/hint: run export as root; or pass --allow-incomplete/)
    expect(await user.lstat(`${env.out}/layer.tar`)).toBeUndefined()

    const forced = await run('--allow-incomplete')
    expect(forced.code, forced.stderr).toBe(0)
    expect(forced.stderr).toMatch(/warning: .*writing it anyway \(--allow-incomplete\)/)
    expect((await user.lstat(`${env.out}/layer.tar`))?.kind).toBe('file')
  })

  it('exports the aufs-form rootfs of the same layer without complaint: its opaque markers are files', async () => {
    const stdout = new Capture()
    const stderr = new Capture()
    const args = ['export', '--store', env.store, '--layer', env.layerIds[1]!, '--backend', 'copy', '-o', `${env.out}/layer.tar`]
    expect(await main(args, { stdout, stderr, env: {}, fs: user }), stderr.text).toBe(0)
    expect(stderr.text).not.toMatch(/warning/)
  })
})

/** Why the built CLI cannot be run as another user here, or '' when it can. */
function setprivSkipReason(): string {
  if (!isRoot) return 'needs root to run the CLI as uid 65534 with setpriv'
  if (spawnSync('setpriv', ['--version']).status !== 0) return 'needs setpriv (util-linux)'
  // A checkout under a directory uid 65534 cannot enter (/root) cannot be run as that user at all.
  const probe = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, `${REPO}bin/layerfsck.js`, '--version'])
  if (probe.status !== 0) return `uid ${NOBODY} cannot run ${REPO}bin/layerfsck.js (a parent directory it cannot enter?)`
  return ''
}

/** A source file newer than its build, or '' when dist/ is current (npm test builds first). */
async function staleBuild(): Promise<string> {
  const fs = createNodeFs()
  for await (const e of walkTree(fs, `${REPO}src`)) {
    if (e.kind !== 'file' || !e.name.endsWith('.ts')) continue
    const built = await fs.lstat(`${REPO}dist/src/${e.rel.replace(/\.ts$/, '.js')}`)
    const source = await fs.lstat(e.path)
    if (built === undefined || source === undefined || built.mtimeNs < source.mtimeNs) return `dist/ is older than src/${e.rel}; run npm run build (npm test does)`
  }
  return ''
}

describe('the built CLI run as uid 65534 without capabilities, on disk', () => {
  let root: string
  let env: Awaited<ReturnType<typeof build>>
  const fs = createNodeFs()
  beforeEach(async ({ skip }) => {
    const reason = (await staleBuild()) || setprivSkipReason()
    if (reason) return skip(reason)
    root = makeTempDir('layerfsck-nobody-')
    // The other user must reach the store: only the temp dir is ours to open up.
    await fs.chmod(root, 0o755)
    env = await build(fs, root)
  })
  afterEach(() => {
    if (root) removeTempDir(root)
  })

  const asNobody = (...args: string[]) => {
    const r = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, `${REPO}bin/layerfsck.js`, ...args], {
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    })
    return { code: r.status, stdout: r.stdout, stderr: r.stderr }
  }

  it('check says which checks it could not run fully, and which directories it could not list', async () => {
    await fs.chmod(`${env.store}/gc`, 0o700)
    const r = asNobody('check', '--store', env.store, '--work-dir', env.workDir, '--json')
    expect(r.code, r.stderr).toBe(4)
    const report = JSON.parse(r.stdout) as CheckReport
    expect(findings(report, 'xattrs-unreadable')[0]?.message).toMatch(/^uid 65534 without CAP_SYS_ADMIN cannot read trusted\.\* xattrs: overlay-whiteout-in-rootfs could not look/)
    expect(findings(report, 'dir-unreadable').map((f) => f.path)).toEqual([`${env.store}/gc`])
  })

  it('export of an overlay layer with opaque dirs fails with exit 8 and says why; --allow-incomplete warns and writes it', async () => {
    const args = ['export', '--store', env.store, '--layer', env.layerIds[1]!, '--backend', 'overlay', '-o', `${env.out}/layer.tar`]
    const refused = asNobody(...args)
    expect(refused.code).toBe(8)
    expect(refused.stderr).toMatch(/trusted\.overlay\.opaque, which uid 65534 without CAP_SYS_ADMIN cannot read/)
    expect(await fs.lstat(`${env.out}/layer.tar`)).toBeUndefined()
    const forced = asNobody(...args, '--allow-incomplete')
    expect(forced.code, forced.stderr).toBe(0)
    expect(forced.stderr).toMatch(/warning: .*--allow-incomplete/)
  })
})

describe('a store whose layer dirs root alone may list', () => {
  it('is still told apart from a directory that is no store, by its storedImages', async () => {
    const rootFs = createMemoryFs()
    await makeDirs(rootFs, '/s')
    const gen = await generateMesosStore(rootFs, '/s/store', { format: '1.0.0', layers: 1, backends: ['copy'] })
    await rootFs.chmod('/s/store/layers', 0o700)
    await writeFileAll(rootFs, '/s/notes', '')
    const user = createMemoryFs({ volume: rootFs.volume, uid: NOBODY, gid: NOBODY })
    const report = await runCheck(user, { store: gen.store })
    expect(findings(report, 'dir-unreadable').map((f) => f.path)).toEqual(['/s/store/layers'])
  })
})
