import { execFileSync } from 'node:child_process'
import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCheck, type CheckOptions, type CheckReport } from '../src/check/run.js'
import { checksOf } from '../src/check/registry.js'

const CHECKS = checksOf('mesos')
import { makeDirs, writeFileAll } from '../src/fs/io.js'
import type { FsPort } from '../src/fs/port.js'
import { removeTree } from '../src/fs/remove.js'
import { importImage } from '../src/families/mesos/import.js'
import { containerDir } from '../src/families/mesos/paths.js'
import { encodeContainerLayers } from '../src/families/mesos/metadata/container-layers.js'
import { encodeStoredImages } from '../src/families/mesos/metadata/stored-images.js'
import { importLayerTar } from '../src/tar/import-layer.js'
import { listTree } from '../src/testing/tree-spec.js'
import { rootSkipReason, SUBJECTS, type Subject } from './support/adapters.js'
import { blobPath, imagesOn, WH_CONFIG, WH_LAYERS } from './support/fixtures.js'

/** A store imported from the real wh-third image, an agent work dir, and the files check reads about the host. */
interface Env {
  s: Subject
  fs: FsPort
  store: string
  workDir: string
  provisioner: string
  backend: 'overlay' | 'copy'
  variant: 'rootfs.overlay' | 'rootfs'
  rootfs(i: number): string
  /** Rewrites layer i's variant from its blob in the given whiteout form: what a faulty writer leaves. */
  rewrite(i: number, form: 'aufs' | 'overlay'): Promise<void>
  options: CheckOptions
  /** Writes the live-container list check reads. */
  live(ids: string[]): Promise<void>
  container(id: string, backend: string, options?: { checkpoint?: boolean; rootfsId?: string }): Promise<{ dir: string; rootfs: string; scratch: string }>
  mountOverlay(at: string, lowers: string[]): Promise<void>
}

async function makeEnv(s: Subject, backend: 'overlay' | 'copy'): Promise<Env> {
  const store = `${s.root}/store`
  const workDir = `${s.root}/agent`
  const provisioner = `${workDir}/provisioner`
  await importImage(s.fs, {
    store,
    backend,
    image: `oci:${await imagesOn(s.fs)}/oci-overlay:wh-third`,
    createStore: true,
    preserveOwners: s.privileged,
  })
  await makeDirs(s.fs, `${provisioner}/containers`)
  const known = `${s.root}/known-containers`
  await writeFileAll(s.fs, known, '')
  const proc = `${s.root}/filesystems`
  await writeFileAll(s.fs, proc, 'nodev\ttmpfs\nnodev\toverlay\n\text4\n')
  const variant = backend === 'overlay' ? 'rootfs.overlay' : 'rootfs'
  const mounted: string[] = []
  const env: Env = {
    s,
    fs: s.fs,
    store,
    workDir,
    provisioner,
    backend,
    variant,
    rootfs: (i) => `${store}/layers/${WH_LAYERS[i]}/${variant}`,
    async rewrite(i, form) {
      await removeTree(s.fs, env.rootfs(i))
      await s.fs.mkdir(env.rootfs(i), 0o755)
      await importLayerTar(s.fs, await openBlob(s.fs, WH_LAYERS[i]!), env.rootfs(i), { form })
    },
    options: { store, workDir, knownContainers: known, procFilesystems: proc, graceMs: 0 },
    live: (ids) => writeFileAll(s.fs, known, ids.map((i) => `${i}\n`).join('')),
    async container(id, b, o = {}) {
      const dir = containerDir(provisioner, [id])
      const rootfsId = o.rootfsId ?? 'a1b2c3d4-0000-4000-8000-000000000001'
      const rootfs = `${dir}/backends/${b}/rootfses/${rootfsId}`
      const scratch = `${dir}/backends/${b}/scratch/${rootfsId}`
      await makeDirs(s.fs, rootfs)
      if (o.checkpoint ?? true) {
        const paths = [0, 1, 2].map((i) => env.rootfs(i))
        await writeFileAll(s.fs, `${dir}/layers`, encodeContainerLayers({ paths, config: `${store}/layers/${WH_CONFIG}` }))
      }
      return { dir, rootfs, scratch }
    },
    async mountOverlay(at, lowers) {
      if (s.fs.kind === 'memory') {
        // The kernel writes a colon inside a lowerdir path as \: (and mountinfo shows it so).
        // Memory merges no layers: the line only describes the mount, over what the test built there.
        ;(s.fs as unknown as { mount(m: object): void }).mount({ mountPoint: at, fsType: 'overlay', source: 'overlay', describeOnly: true, superOptions: ['rw', `lowerdir=${lowers.map((l) => l.replace(/:/g, '\\:')).join(':')}`] })
        return
      }
      // Layer ids hold colons, the lowerdir separator: short links, as Mesos' scratch/<id>/links.
      const links = `${s.root}/links-${mounted.length}`
      await s.fs.mkdir(links, 0o755)
      const names: string[] = []
      for (const [i, l] of lowers.entries()) {
        await s.fs.symlink(l, `${links}/${i}`)
        names.push(`${links}/${i}`)
      }
      execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${names.join(':')}`, at])
      mounted.push(at)
    },
  }
  return env
}

const codesOf = (r: CheckReport): string[] => r.passes.flatMap((p) => p.findings.map((f) => f.code))
const findingsOf = (r: CheckReport, code: string) => r.passes.flatMap((p) => p.findings.filter((f) => f.code === code))

interface Case {
  code: string
  title?: string
  /** Needs root on disk (mknod, trusted.* xattrs, mounts); the memory adapter is always root. */
  root?: boolean
  backend?: 'overlay' | 'copy'
  damage(env: Env): Promise<{ path: string; options?: Partial<CheckOptions> }>
  fix?: 'preen' | 'yes'
}

const HEX = 'f'.repeat(64)
/** A storedImages checkpoint as Mesos writes one: what a crash can leave under a temp name. */
const A_CHECKPOINT = encodeStoredImages([{ reference: { repository: 'library/alpine', tag: '3.19' }, layerIds: [...WH_LAYERS] }])

const CASES: Case[] = [
  {
    code: 'store-unknown-entry',
    async damage(e) {
      await e.fs.mkdir(`${e.store}/backup`, 0o755)
      return { path: `${e.store}/backup` }
    },
  },
  {
    code: 'layers-unknown-entry',
    async damage(e) {
      await e.fs.symlink('/etc', `${e.store}/layers/elsewhere`)
      return { path: `${e.store}/layers/elsewhere` }
    },
  },
  {
    code: 'layer-id-invalid',
    async damage(e) {
      await makeDirs(e.fs, `${e.store}/layers/copy-of-a-layer/rootfs`)
      return { path: `${e.store}/layers/copy-of-a-layer` }
    },
  },
  {
    code: 'layer-no-rootfs',
    async damage(e) {
      await e.fs.mkdir(`${e.store}/layers/${HEX}`, 0o755)
      return { path: `${e.store}/layers/${HEX}` }
    },
  },
  {
    code: 'layer-json-unreadable',
    async damage(e) {
      await writeFileAll(e.fs, `${e.store}/layers/${WH_LAYERS[0]}/json`, '{"id": ')
      return { path: `${e.store}/layers/${WH_LAYERS[0]}/json` }
    },
  },
  {
    code: 'staging-leftover',
    fix: 'yes',
    async damage(e) {
      await makeDirs(e.fs, `${e.store}/staging/Qx7pZa/${HEX}/rootfs`)
      return { path: `${e.store}/staging/Qx7pZa` }
    },
  },
  {
    code: 'interrupted-run',
    fix: 'preen',
    async damage(e) {
      // What a layerfsck import killed half-way leaves: its journal, and the staging dir it claimed.
      await makeDirs(e.fs, `${e.store}/staging/KiLLed/half-a-layer`)
      const run = { v: 1, type: 'run', run: 'r1', command: 'import', pid: 4711, at: '2026-01-01T00:00:00.000Z' }
      const claim = { v: 1, type: 'claim', run: 'r1', rel: 'staging/KiLLed' }
      await makeDirs(e.fs, `${e.store}/.layerfsck`)
      await writeFileAll(e.fs, `${e.store}/.layerfsck/journal`, `${JSON.stringify(run)}\n${JSON.stringify(claim)}\n`)
      return { path: `${e.store}/.layerfsck/journal` }
    },
  },
  {
    code: 'staging-unknown-entry',
    async damage(e) {
      // Someone's tarball parked in staging/: -y used to delete it with the pull leftovers.
      await writeFileAll(e.fs, `${e.store}/staging/images-backup.tar`, 'not a pull')
      return { path: `${e.store}/staging/images-backup.tar` }
    },
  },
  {
    code: 'gc-leftover',
    fix: 'preen',
    async damage(e) {
      await makeDirs(e.fs, `${e.store}/gc/${HEX}.1700000000000000000/rootfs/bin`)
      return { path: `${e.store}/gc/${HEX}.1700000000000000000` }
    },
  },
  {
    code: 'checkpoint-temp',
    fix: 'preen',
    async damage(e) {
      // What state::checkpoint leaves when the agent dies between the write and the rename.
      await writeFileAll(e.fs, `${e.store}/k3Jd9Q`, A_CHECKPOINT)
      return { path: `${e.store}/k3Jd9Q` }
    },
  },
  {
    code: 'checkpoint-temp',
    title: 'an empty temp file in a container dir',
    fix: 'preen',
    async damage(e) {
      const c = await e.container('c1', e.backend)
      await writeFileAll(e.fs, `${c.dir}/Zq81Lm`, '')
      // c1 is not live: its dir is gc's to remove (container-not-live), which -p never does.
      return { path: `${c.dir}/Zq81Lm`, options: { skip: ['container-not-live'] } }
    },
  },
  {
    code: 'checkpoint-temp-unknown',
    async damage(e) {
      // Six characters, like a temp file; but an operator's notes, which -p once deleted.
      await writeFileAll(e.fs, `${e.store}/README`, 'half a checkpoint, or somebody\'s notes\n')
      return { path: `${e.store}/README` }
    },
  },
  {
    code: 'gc-unknown-entry',
    async damage(e) {
      await writeFileAll(e.fs, `${e.store}/gc/backup.tar`, 'not a layer')
      return { path: `${e.store}/gc/backup.tar` }
    },
  },
  {
    code: 'probe-leftover',
    fix: 'preen',
    async damage(e) {
      await e.fs.mkdir(`${e.provisioner}/.probe`, 0o755)
      return { path: `${e.provisioner}/.probe` }
    },
  },
  {
    code: 'aufs-whiteout-in-overlay',
    root: true,
    backend: 'overlay',
    fix: 'preen',
    async damage(e) {
      // What Mesos 1.1.0 wrote: rootfs.overlay with the tar's .wh. files as they are.
      await e.rewrite(1, 'aufs')
      return { path: e.rootfs(1) }
    },
  },
  {
    code: 'overlay-whiteout-in-rootfs',
    root: true,
    backend: 'copy',
    fix: 'preen',
    async damage(e) {
      await e.rewrite(1, 'overlay')
      return { path: e.rootfs(1) }
    },
  },
  {
    code: 'whiteout-conflict',
    backend: 'copy',
    fix: 'yes',
    async damage(e) {
      await writeFileAll(e.fs, `${e.rootfs(2)}/data/.wh.three.txt`, '', 0)
      return { path: `${e.rootfs(2)}/data/.wh.three.txt` }
    },
  },
  {
    code: 'whiteout-conflict',
    title: 'a whiteout of a directory the same layer adds',
    backend: 'copy',
    fix: 'yes',
    async damage(e) {
      await writeFileAll(e.fs, `${e.rootfs(1)}/.wh.etc`, '', 0)
      return { path: `${e.rootfs(1)}/.wh.etc` }
    },
  },
  {
    code: 'invalid-whiteout-name',
    async damage(e) {
      await writeFileAll(e.fs, `${e.rootfs(0)}/etc/.wh.`, '')
      return { path: `${e.rootfs(0)}/etc/.wh.` }
    },
  },
  {
    code: 'aufs-meta-leftover',
    fix: 'preen',
    async damage(e) {
      await makeDirs(e.fs, `${e.rootfs(0)}/.wh..wh.plnk/123.456`)
      return { path: `${e.rootfs(0)}/.wh..wh.plnk` }
    },
  },
  {
    code: 'char-device-not-whiteout',
    root: true,
    backend: 'overlay',
    async damage(e) {
      await e.fs.mknod(`${e.rootfs(0)}/etc/null`, 'char', 0o666, { major: 1, minor: 3 })
      return { path: `${e.rootfs(0)}/etc/null` }
    },
  },
  {
    code: 'symlink-escapes-layer',
    async damage(e) {
      await e.fs.symlink('../../../../../etc/shadow', `${e.rootfs(0)}/bin/up`)
      return { path: `${e.rootfs(0)}/bin/up` }
    },
  },
  {
    code: 'stored-images-unreadable',
    async damage(e) {
      await writeFileAll(e.fs, `${e.store}/storedImages`, new Uint8Array([40, 0, 0, 0, 10, 3, 1]))
      return { path: `${e.store}/storedImages` }
    },
  },
  {
    code: 'image-layer-missing',
    async damage(e) {
      await removeTree(e.fs, `${e.store}/layers/${WH_LAYERS[2]}`)
      return { path: e.rootfs(2) }
    },
  },
  {
    code: 'image-config-missing',
    async damage(e) {
      await e.fs.unlink(`${e.store}/layers/${WH_CONFIG}`)
      return { path: `${e.store}/layers/${WH_CONFIG}` }
    },
  },
  {
    code: 'container-layers-unreadable',
    async damage(e) {
      const c = await e.container('c1', 'copy')
      await writeFileAll(e.fs, `${c.dir}/layers`, new Uint8Array([200, 0, 0, 0, 1]))
      return { path: `${c.dir}/layers` }
    },
  },
  {
    code: 'container-layers-missing',
    async damage(e) {
      await e.container('c1', 'copy')
      const c = await e.container('c2', 'copy', { checkpoint: false })
      return { path: `${c.dir}/layers` }
    },
  },
  {
    code: 'container-layer-path-missing',
    async damage(e) {
      const c = await e.container('c1', 'copy')
      const gone = `${e.store}/layers/${HEX}/rootfs`
      await writeFileAll(e.fs, `${c.dir}/layers`, encodeContainerLayers({ paths: [e.rootfs(0), gone] }))
      return { path: gone }
    },
  },
  {
    code: 'layer-unreferenced',
    async damage(e) {
      await makeDirs(e.fs, `${e.store}/layers/${HEX}/${e.variant}`)
      return { path: `${e.store}/layers/${HEX}` }
    },
  },
  {
    code: 'orphan-mount',
    root: true,
    backend: 'overlay',
    fix: 'yes',
    async damage(e) {
      // The agent died; the runtime dir (or the list) knows no live container.
      const c = await e.container('c1', 'overlay')
      await e.mountOverlay(c.rootfs, [e.rootfs(2), e.rootfs(1), e.rootfs(0)])
      // The dead container's dir is gc's to remove (container-not-live); check -y only unmounts.
      return { path: c.rootfs, options: { skip: ['container-not-live'] } }
    },
  },
  {
    code: 'container-not-live',
    async damage(e) {
      const c = await e.container('c1', e.backend)
      return { path: c.dir }
    },
  },
  {
    code: 'layers-prune-blocked',
    async damage(e) {
      // A live container made before Mesos 1.5.0 has no layers checkpoint: what it uses cannot be told.
      await e.container('c1', e.backend, { checkpoint: false })
      await e.live(['c1'])
      return { path: `${e.store}/layers` }
    },
  },
  {
    code: 'trash-leftover',
    fix: 'preen',
    async damage(e) {
      // A removal killed after its rename into the trash and before the delete.
      await makeDirs(e.fs, `${e.store}/.layerfsck/trash/lq3x9-0a1b2c3d/usr/bin`)
      await writeFileAll(e.fs, `${e.store}/.layerfsck/trash/lq3x9-0a1b2c3d/usr/bin/tool`, 'half deleted')
      return { path: `${e.store}/.layerfsck/trash/lq3x9-0a1b2c3d` }
    },
  },
  {
    code: 'orphan-mount',
    title: 'a mount inside the store',
    root: true,
    fix: 'yes',
    async damage(e) {
      const at = `${e.store}/layers/${WH_LAYERS[0]}/${e.variant}/data`
      await e.s.mountTmpfs(at)
      return { path: at }
    },
  },
  {
    code: 'mount-liveness-unknown',
    root: true,
    async damage(e) {
      // No runtime dir and no list: whether c1 runs cannot be told, so its mount is left alone.
      if (e.fs.kind === 'disk' && (await e.fs.lstat('/var/run/mesos')) !== undefined) throw new CannotBuild('this host has /var/run/mesos, the default liveness source')
      const c = await e.container('c1', 'overlay')
      await e.s.mountTmpfs(c.rootfs)
      return { path: c.rootfs, options: { knownContainers: undefined, runtimeDir: undefined } }
    },
  },
  {
    code: 'xattrs-unreadable',
    async damage() {
      throw new CannotBuild('needs a process without CAP_SYS_ADMIN: test/honest.test.ts builds it (memory at uid 65534, disk under setpriv)')
    },
  },
  {
    code: 'dir-unreadable',
    async damage() {
      throw new CannotBuild('needs a process that root\'s permission bypass does not cover: test/honest.test.ts builds it')
    },
  },
  {
    code: 'backend-unsupported',
    async damage(e) {
      const c = await e.container('c1', 'aufs')
      return { path: `${c.dir}/backends/aufs` }
    },
  },
  {
    code: 'rootfs-not-mounted',
    async damage(e) {
      const c = await e.container('c1', 'overlay')
      await e.live(['c1'])
      return { path: c.rootfs }
    },
  },
  {
    code: 'lowerdir-missing',
    root: true,
    backend: 'overlay',
    async damage(e) {
      const c = await e.container('c1', 'overlay')
      await e.live(['c1'])
      const extra = `${e.s.root}/extra-layer`
      await makeDirs(e.fs, `${extra}/opt`)
      await e.mountOverlay(c.rootfs, [extra, e.rootfs(2), e.rootfs(1), e.rootfs(0)])
      // A layer removed under a running container: the mount keeps its files, a remount cannot.
      await removeTree(e.fs, extra)
      return { path: extra }
    },
  },
  {
    code: 'links-not-symlink',
    async damage(e) {
      const c = await e.container('c1', 'copy')
      await makeDirs(e.fs, `${c.scratch}/links`)
      return { path: `${c.scratch}/links` }
    },
  },
  {
    code: 'links-dangling',
    async damage(e) {
      const c = await e.container('c1', 'copy')
      await makeDirs(e.fs, c.scratch)
      await e.fs.symlink('/tmp/layerfsck-test-gone-Xy3kQp', `${c.scratch}/links`)
      return { path: `${c.scratch}/links` }
    },
  },
  {
    code: 'host-fs-unsupported',
    root: true,
    backend: 'overlay',
    async damage(e) {
      // The store itself on overlayfs: a read-only overlay of the store over itself.
      const lower = `${e.s.root}/lower`
      await makeDirs(e.fs, lower)
      await e.mountOverlay(e.store, [lower, e.store])
      return { path: e.store }
    },
  },
  {
    code: 'host-no-dtype',
    backend: 'overlay',
    root: true,
    async damage(e) {
      if (e.fs.kind === 'memory') {
        // Describe-only: the store stays, only the filesystem it is said to be on changes.
        ;(e.fs as unknown as { mount(m: object): void }).mount({ mountPoint: e.store, fsType: 'xfs', source: '/dev/sdb1', dtype: false, describeOnly: true })
        return { path: e.store }
      }
      // ext4 made without the filetype feature reports DT_UNKNOWN for every entry.
      const image = `${e.s.root}/no-dtype.img`
      const mnt = `${e.s.root}/no-dtype`
      try {
        execFileSync('truncate', ['-s', '32M', image])
        execFileSync('mkfs.ext4', ['-q', '-F', '-O', '^filetype', image], { stdio: 'pipe' })
        await e.fs.mkdir(mnt, 0o755)
        execFileSync('mount', ['-o', 'loop', image, mnt], { stdio: 'pipe' })
      } catch (err) {
        throw new CannotBuild(`needs mkfs.ext4 and a loop mount to make a filesystem without d_type: ${String(err).split('\n')[0]}`)
      }
      const store = `${mnt}/store`
      await importImage(e.fs, { store, backend: 'overlay', image: `oci:${await imagesOn(e.fs)}/oci-overlay:wh-base`, createStore: true })
      return { path: store, options: { store } }
    },
  },
]

/** Damage this machine cannot build (a tool or a kernel feature is missing): the case is skipped with the reason. */
class CannotBuild extends Error {}

async function openBlob(fs: FsPort, digest: string): Promise<Readable> {
  const images = await imagesOn(fs)
  return fs.openRead(blobPath('oci-overlay', digest, images))
}

for (const { name, make } of SUBJECTS) {
  describe(`layerfsck check on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      if (s.name === 'disk') {
        // Overlay mounts made by a case, deepest first, before the temp dir goes.
        for (const m of (await s.fs.mounts()).filter((m) => m.mountPoint.startsWith(`${s.root}/`)).reverse()) {
          await s.fs.unmount(m.mountPoint, { detach: true }).catch(() => undefined)
        }
      }
      await s.cleanup()
    })

    const backendFor = (c: Pick<Case, 'backend'>): 'overlay' | 'copy' => c.backend ?? (s.privileged ? 'overlay' : 'copy')

    it('finds nothing in a pristine store imported from the real images, and exits 0', async ({ skip }) => {
      for (const backend of ['copy', 'overlay'] as const) {
        if (backend === 'overlay' && !s.privileged) continue
        await removeTree(s.fs, `${s.root}/store`)
        await removeTree(s.fs, `${s.root}/agent`)
        const e = await makeEnv(s, backend)
        // A running container of that backend, with its layers checkpoint and its mount.
        const c = await e.container('c1', backend === 'overlay' ? 'overlay' : 'copy')
        await e.live(['c1'])
        if (backend === 'overlay') await e.mountOverlay(c.rootfs, [e.rootfs(2), e.rootfs(1), e.rootfs(0)])
        const report = await runCheck(s.fs, e.options)
        expect(report.passes.flatMap((p) => p.findings.map((f) => `${f.code} ${f.path} ${f.message}`)), backend).toEqual([])
        expect(report.exitCode).toBe(0)
        expect(report.settings['backend']).toMatch(new RegExp(`^${backend} \\(detected\\)`))
      }
      if (!s.privileged) skip(`${rootSkipReason()}; the copy-backend store was checked`)
      if (s.name === 'disk') for (const m of (await s.fs.mounts()).filter((m) => m.mountPoint.startsWith(`${s.root}/`))) await s.fs.unmount(m.mountPoint)
    })

    for (const c of CASES) {
      it(`reports ${c.code} for ${c.title ?? 'the damage it names'}${c.fix ? `, fixes it with -${c.fix === 'preen' ? 'p' : 'y'}, and a second run finds nothing` : ''}`, async ({ skip }) => {
        if (c.root && !s.privileged) return skip(rootSkipReason())
        const e = await makeEnv(s, backendFor(c))
        let built
        try {
          built = await c.damage(e)
        } catch (err) {
          if (err instanceof CannotBuild) return skip(err.message)
          throw err
        }
        const { path, options = {} } = built
        const spec = CHECKS.find((x) => x.code === c.code)!
        const first = await runCheck(s.fs, { ...e.options, ...options })
        const found = findingsOf(first, c.code)
        expect(found.map((f) => f.path), JSON.stringify(codesOf(first))).toContain(path)
        expect(found.every((f) => f.severity === spec.severity && f.status === 'open')).toBe(true)
        expect(first.exitCode & 4).toBe(spec.severity === 'info' && codesOf(first).every((x) => x === c.code) ? 0 : 4)
        if (!c.fix) return

        const fixed = await runCheck(s.fs, { ...e.options, ...options, mode: c.fix })
        expect(findingsOf(fixed, c.code).map((f) => [f.path, f.status])).toContainEqual([path, 'fixed'])
        expect(fixed.exitCode & 1).toBe(1)
        const second = await runCheck(s.fs, { ...e.options, ...options })
        expect(codesOf(second)).toEqual([])
        expect(second.exitCode).toBe(0)
      })
    }

    it('changes not a byte with -n, however damaged the store', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const e = await makeEnv(s, 'overlay')
      for (const c of CASES.filter((x) => x.fix && !x.root)) await c.damage(e).catch(() => undefined)
      await e.rewrite(1, 'aufs')
      const before = await listTree(s.fs, s.root, { mtime: true })
      const report = await runCheck(s.fs, e.options)
      expect(report.totals.open).toBeGreaterThan(5)
      expect(await listTree(s.fs, s.root, { mtime: true })).toBe(before)
    })

    for (const model of ['sigkill', 'power-loss'] as const) {
      it(`ends exactly where an uninterrupted -p ends after a ${model} at any step of its fixes and a re-run`, async ({ skip }) => {
        if (!s.privileged) return skip(rootSkipReason())
        if (model === 'power-loss' && s.fs.kind === 'disk') return skip('the power-loss model runs on the memory adapter')
        const damage = async (): Promise<Env> => {
          await removeTree(s.fs, `${s.root}/store`)
          await removeTree(s.fs, `${s.root}/agent`)
          const e = await makeEnv(s, 'overlay')
          for (const c of CASES.filter((x) => x.fix === 'preen')) await c.damage(e)
          return e
        }
        const now = (): Date => new Date('2026-06-01T00:00:00Z')
        const e = await damage()
        // The damaged container is not live: gc's to remove, which -p never does.
        e.options = { ...e.options, skip: ['container-not-live'] }
        await runCheck(s.fs, { ...e.options, mode: 'preen', now })
        const expected = await listTree(s.fs, s.root)
        const { withCrashAfter, CrashError } = await import('../src/fs/crash.js')
        let crashes = 0
        // Changes the power cut took back: a model that never loses anything would prove nothing.
        let lost = 0
        for (let n = 0; ; n++) {
          await damage()
          const crashing = withCrashAfter(s.fs, n, { model })
          let crashed = false
          try {
            await runCheck(crashing, { ...e.options, mode: 'preen', now })
          } catch (err) {
            if (!(err instanceof CrashError)) throw err
            crashed = true
          }
          lost += (await crashing.recover()).length
          if (crashed) crashes += 1
          const rerun = await runCheck(s.fs, { ...e.options, mode: 'preen', now })
          expect(rerun.passes.flatMap((p) => p.findings.filter((f) => f.status !== 'fixed' && f.severity !== 'info')), `after a ${model} at step ${n}`).toEqual([])
          expect(await listTree(s.fs, s.root), `after a ${model} at step ${n}`).toBe(expected)
          if (!crashed) break
        }
        expect(crashes).toBeGreaterThan(5)
        if (model === 'power-loss') expect(lost).toBeGreaterThan(0)
      }, 240_000)
    }

    it('applies only safe fixes with -p and leaves the rest for -y', async () => {
      const e = await makeEnv(s, 'copy')
      await makeDirs(s.fs, `${e.store}/staging/Qx7pZa`)
      await writeFileAll(s.fs, `${e.store}/k3Jd9Q`, A_CHECKPOINT)
      const report = await runCheck(s.fs, { ...e.options, mode: 'preen' })
      expect(findingsOf(report, 'checkpoint-temp')[0]?.status).toBe('fixed')
      expect(findingsOf(report, 'staging-leftover')[0]?.status).toBe('open')
      expect(report.exitCode).toBe(1 | 4)
      expect(report.next.join('\n')).toContain('check -y')
    })

    it('runs only the codes asked for, and refuses a code it does not know', async () => {
      const e = await makeEnv(s, 'copy')
      await s.fs.mkdir(`${e.store}/backup`, 0o755)
      await writeFileAll(s.fs, `${e.store}/k3Jd9Q`, A_CHECKPOINT)
      expect(codesOf(await runCheck(s.fs, { ...e.options, only: ['checkpoint-temp'] }))).toEqual(['checkpoint-temp'])
      expect(codesOf(await runCheck(s.fs, { ...e.options, skip: ['checkpoint-temp'] }))).toEqual(['store-unknown-entry'])
      await expect(runCheck(s.fs, { ...e.options, only: ['no-such-check'] })).rejects.toThrow(/unknown check code no-such-check/)
    })
  })
}

describe('the Mesos check registry', () => {
  it('has a test case for every code', () => {
    const tested = new Set(CASES.map((c) => c.code))
    expect(CHECKS.map((c) => c.code).filter((code) => !tested.has(code))).toEqual([])
  })

  it('gives every code one file, one severity and an explanation', () => {
    const codes = CHECKS.map((c) => c.code)
    expect(new Set(codes).size).toBe(codes.length)
    for (const c of CHECKS) expect(c.explain.length).toBeGreaterThan(40)
  })
})
