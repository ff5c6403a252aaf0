/**
 * `layerfsck gc` on real Docker 20.10 data roots (fixtures/docker): what a
 * crash or an interrupted pull, rmi or rm leaves is collected, and nothing of
 * a live image or container is ever touched. Each case runs on both adapters.
 */
import { execFileSync } from 'node:child_process'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCheck, type CheckReport } from '../src/check/run.js'
import { checksOf } from '../src/check/registry.js'
import type { LayerfsckError } from '../src/errors.js'
import { makeDirs, readFileLimited, readTextLimited, writeFileAll } from '../src/fs/io.js'
import type { FsPort } from '../src/fs/port.js'
import { walkTree } from '../src/fs/walk.js'
import { runGc, type GcOptions, type GcReport } from '../src/gc/run.js'
import { listTree } from '../src/testing/tree-spec.js'
import { SUBJECTS, type Subject } from './support/adapters.js'
import { runCli } from './support/cli.js'
import { dockerFixtureSkipReason, loadDockerFixture, type FixtureDriver } from './support/docker-fixture.js'

// fixtures/docker/README.md and overlay2.listing.md.
const O2_CHAIN = 'cb9e4815f3ba4f8814b7b92441a7ebd22555ff6318aadeaf66d4c4195f962c12'
/** O2's cache-id: an image layer of two images, and in the lower chain of O3, C and every container. */
const O2 = '073f1888b945de6ee4ebe050447b8540d5d906eade10655b3f15c0a839b2def4'
/** The container `ran` (exited) and its RW layer dir. */
const RAN = { id: '75e34ce4f129fc405472a515c8596987d7acc725d628109b83c2b8ae3e18568d', mountId: '2dd3872bcaa09a7b822bd8aa8b70c848c2b8efce46a1c43d9e7ae1a74498f83a' }
/** created-overlay's RW dir, and the short links of the lower chain it has. */
const CREATED_RW = '60746c96f65914e7d5a63ac218f74c7c497e2bdb42050f145406731a50c35626'

/** The planted orphan layer dir, and its short link. */
const ORPHAN = 'a'.repeat(64)
const ORPHAN_LINK = 'AAAAAAAAAAAAAAAAAAAAAAAAAA'
/** A second orphan, only for the young/reached cases. */
const OTHER = 'c'.repeat(64)
const OTHER_LINK = 'CCCCCCCCCCCCCCCCCCCCCCCCCC'
/** A BuildKit snapshot dir's name (25 lowercase alnum, as its snapshotter makes them), and its short link. */
const BUILDKIT_SNAPSHOT = 'k3x9m2q7w8e1r5t6y0u4i9o3p'
const BUILDKIT_LINK = 'KKKKKKKKKKKKKKKKKKKKKKKKKK'
/** What the dangling short link points to: a dir that is not there. */
const MISSING = 'd'.repeat(64)
const DANGLING_LINK = 'DDDDDDDDDDDDDDDDDDDDDDDDDD'
/** stringid.GenerateRandomID(): 64 hex, as dockerd names the middle of a -removing record. */
const RANDOM_ID = '5f0c3a9e17b24d6c8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abc'
const WRITE_SET = 'write-set-382917465'
/** 2024-01-01: long past any grace. */
const LONG_AGO = 1_704_067_200_000_000_000n

const GARBAGE_CODES = checksOf('docker')
  .filter((c) => c.garbage === 'always' || c.garbage === 'gc-only' || c.garbage === 'prune-layers')
  .map((c) => c.code)

interface Env {
  s: Subject
  fs: FsPort
  store: string
  /** `<store>/<driver>`. */
  drv: string
  layerdb: string
  /** An empty fake /proc unless a case adds a process. */
  proc: string
  /** What every gc and check here reads with: nothing live, no dockerd. */
  base: GcOptions
}

async function makeEnv(s: Subject, driver: FixtureDriver): Promise<Env> {
  // The real path: mount points are listed by it, and a dockerd's --data-root names it.
  const root = await s.fs.realpath(s.root)
  const store = `${root}/data`
  await s.fs.mkdir(store, 0o710)
  await loadDockerFixture(s.fs, driver, store)
  const known = `${root}/known-containers`
  await writeFileAll(s.fs, known, '')
  const proc = `${root}/proc`
  await makeDirs(s.fs, proc)
  const filesystems = `${root}/filesystems`
  await writeFileAll(s.fs, filesystems, 'nodev\ttmpfs\nnodev\toverlay\n\text4\n')
  return {
    s,
    fs: s.fs,
    store,
    drv: `${store}/${driver}`,
    layerdb: `${store}/image/${driver}/layerdb`,
    proc,
    base: { store, knownContainers: known, procRoot: proc, procFilesystems: filesystems },
  }
}

const write = (fs: FsPort, path: string, text: string): Promise<void> => writeFileAll(fs, path, text)
const read = (fs: FsPort, path: string): Promise<string> => readTextLimited(fs, path, 1024 * 1024)
const exists = async (fs: FsPort, path: string): Promise<boolean> => (await fs.lstat(path)) !== undefined

/** Sets the mtime of a tree's every entry, the top last. */
async function backdate(fs: FsPort, top: string, ns: bigint = LONG_AGO): Promise<void> {
  const paths: string[] = []
  for await (const e of walkTree(fs, top)) paths.push(e.path)
  for (const p of paths.reverse()) await fs.lutimes(p, ns, ns)
  await fs.lutimes(top, ns, ns)
}

/**
 * A layer dir as an interrupted pull or rm leaves it: diff/ with files (a hard
 * link counted once), its link file and its l/ short link, named by nothing.
 */
async function plantLayerDir(e: Env, id: string, link: string, old: boolean): Promise<string> {
  const dir = `${e.drv}/${id}`
  await makeDirs(e.fs, `${dir}/diff/data`)
  await write(e.fs, `${dir}/diff/data/a`, '0123456789'.repeat(100))
  await e.fs.link(`${dir}/diff/data/a`, `${dir}/diff/data/b`)
  await write(e.fs, `${dir}/diff/c`, 'x'.repeat(5000))
  await makeDirs(e.fs, `${dir}/work/work`)
  await write(e.fs, `${dir}/link`, link)
  await e.fs.symlink(`../${id}/diff`, `${e.drv}/l/${link}`)
  if (old) await backdate(e.fs, dir)
  return dir
}

/** Copies a layer record dir (its files only, as layerdb holds them). */
async function copyRecord(fs: FsPort, from: string, to: string): Promise<void> {
  await fs.mkdir(to, 0o755)
  for (const x of await fs.readdir(from)) await writeFileAll(fs, `${to}/${x.name}`, await readFileLimited(fs, `${from}/${x.name}`))
}

interface Planted {
  orphan: string
  removing: string
  writeSet: string
  dangling: string
  /** The stale merged mount; undefined when the adapter cannot mount here. */
  merged: string | undefined
}

/** Everything gc takes on overlay2, planted on the pristine copy. */
async function plantGarbage(e: Env, options: { mount: boolean }): Promise<Planted> {
  const orphan = await plantLayerDir(e, ORPHAN, ORPHAN_LINK, true)
  const removing = `${e.layerdb}/sha256/${O2_CHAIN}-${RANDOM_ID}-removing`
  await copyRecord(e.fs, `${e.layerdb}/sha256/${O2_CHAIN}`, removing)
  const writeSet = `${e.layerdb}/tmp/${WRITE_SET}`
  await makeDirs(e.fs, writeSet)
  await write(e.fs, `${writeSet}/cache-id`, ORPHAN)
  await write(e.fs, `${writeSet}/diff`, `sha256:${'e'.repeat(64)}`)
  const dangling = `${e.drv}/l/${DANGLING_LINK}`
  await e.fs.symlink(`../${MISSING}/diff`, dangling)
  let merged: string | undefined
  if (options.mount) {
    merged = `${e.drv}/${RAN.mountId}/merged`
    await e.fs.mkdir(merged, 0o755)
    await e.s.mountTmpfs(merged)
    await write(e.fs, `${merged}/inside-the-mount`, 'y'.repeat(3000))
  }
  return { orphan, removing, writeSet, dangling, merged }
}

const findingsOf = (r: CheckReport) => r.passes.flatMap((p) => p.findings)
const itemsOf = (r: GcReport) => r.items.map((i) => [i.code, i.path, i.status]).sort()

/** `du -x -s -B1`: the bytes a tree takes on disk, each inode once, no mount crossed. */
function du(path: string): number {
  const out = execFileSync('du', ['-x', '-s', '-B1', path], { encoding: 'utf8' })
  return Number(out.split('\t')[0])
}

for (const subject of SUBJECTS) {
  describe(`gc on a Docker overlay2 data root on ${subject.name}`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await subject.make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    it('collects an orphan layer dir, a -removing record naming a live dir, a write-set, a dangling link and a stale merged mount, and nothing else', async ({ skip }) => {
      const reason = dockerFixtureSkipReason(subject.name)
      if (reason) return skip(reason)
      if (!s.privileged) return skip('needs root to mount a tmpfs')
      const e = await makeEnv(s, 'overlay2')
      const pristine = { overlay2: await listTree(s.fs, e.drv), image: await listTree(s.fs, `${e.store}/image`) }
      const liveO2 = await listTree(s.fs, `${e.drv}/${O2}`, { mtime: true })
      const liveO2Record = await listTree(s.fs, `${e.layerdb}/sha256/${O2_CHAIN}`, { mtime: true })
      const p = await plantGarbage(e, { mount: true })
      const merged = p.merged!

      // The planted items are what check sees, and what it calls garbage.
      const looked = await runCheck(s.fs, { ...e.base, mode: 'no' })
      expect(findingsOf(looked).filter((f) => GARBAGE_CODES.includes(f.code)).map((f) => [f.code, f.path]).sort()).toEqual(
        [
          ['docker-layer-dir-orphan', p.orphan],
          ['docker-removing-hazard', p.removing],
          ['docker-write-set-leftover', p.writeSet],
          ['docker-link-dangling', p.dangling],
          ['docker-merged-stale-mount', merged],
        ].sort(),
      )

      const report = await runGc(s.fs, { ...e.base, yes: true })
      expect(report).toMatchObject({ acted: true, family: 'docker', liveness: 'known-containers', exitCode: 0 })
      expect(itemsOf(report)).toEqual(
        [
          ['docker-layer-dir-orphan', p.orphan, 'collected'],
          ['docker-removing-hazard', p.removing, 'collected'],
          ['docker-write-set-leftover', p.writeSet, 'collected'],
          ['docker-link-dangling', p.dangling, 'collected'],
          ['docker-merged-stale-mount', merged, 'collected'],
        ].sort(),
      )
      // The mount goes first, so that nothing below it is in the way.
      expect(report.items[0]!.path).toBe(merged)
      expect(report.totals).toMatchObject({ items: 5, collected: 5, left: 0 })
      // The orphan was backdated to 2024: its age says so.
      const orphanItem = report.items.find((i) => i.path === p.orphan)!
      expect(orphanItem.ageMs).toBeGreaterThan(24 * 3600 * 1000)
      // 1000 bytes counted once for the hard link, 5000, 64 of the link file, at least.
      expect(orphanItem.bytes).toBeGreaterThanOrEqual(6064)
      // Unmounting frees nothing on the data root's filesystem; what was inside the tmpfs is not counted.
      expect(report.items.find((i) => i.path === merged)!.bytes).toBe(0)

      // Gone: the orphan and its short link, the record (only the record), the write-set, the dangling link.
      expect(await exists(s.fs, p.orphan)).toBe(false)
      expect(await exists(s.fs, `${e.drv}/l/${ORPHAN_LINK}`)).toBe(false)
      expect(await exists(s.fs, p.removing)).toBe(false)
      expect(await exists(s.fs, p.writeSet)).toBe(false)
      expect(await exists(s.fs, p.dangling)).toBe(false)
      // The live layer the -removing record named, and its own record, byte for byte and time for time.
      expect(await listTree(s.fs, `${e.drv}/${O2}`, { mtime: true })).toBe(liveO2)
      expect(await listTree(s.fs, `${e.layerdb}/sha256/${O2_CHAIN}`, { mtime: true })).toBe(liveO2Record)
      // The merged mount is unmounted; the container's layer dir stays whole.
      expect((await s.fs.mounts()).some((m) => m.mountPoint === merged)).toBe(false)
      expect(await exists(s.fs, `${e.drv}/${RAN.mountId}/diff/bin/busybox`)).toBe(true)
      // Every image layer dir and container dir of the pristine fixture is there, as it was: the listings equal
      // the pristine ones, so merged/ went as well (Docker 17.12 and later remove it at unmount) and nothing was added.
      expect(await listTree(s.fs, e.drv)).toBe(pristine.overlay2)
      expect(await listTree(s.fs, `${e.store}/image`)).toBe(pristine.image)
      // No trash is left behind.
      expect(await exists(s.fs, `${e.store}/.layerfsck/trash`)).toBe(false)

      // check finds nothing gc would take, and in fact nothing at all.
      const after = await runCheck(s.fs, { ...e.base, mode: 'no' })
      expect(findingsOf(after).filter((f) => GARBAGE_CODES.includes(f.code))).toEqual([])
      expect(findingsOf(after).map((f) => `${f.code} ${f.path}`)).toEqual([])

      // A second gc plans nothing, and acting on it changes nothing.
      const plan = await runGc(s.fs, e.base)
      expect(plan).toMatchObject({ acted: false, items: [], totals: { items: 0, bytes: 0 }, exitCode: 0 })
      const listed = await listTree(s.fs, e.store, { mtime: true })
      const again = await runGc(s.fs, { ...e.base, yes: true })
      expect(again.items).toEqual([])
      expect(await listTree(s.fs, e.store, { mtime: true })).toBe(listed)
    })

    it('reports as freed exactly what du sees go from the data root', async ({ skip }) => {
      if (subject.name !== 'disk') return skip('du measures the disk adapter')
      const reason = dockerFixtureSkipReason(subject.name)
      if (reason) return skip(reason)
      const e = await makeEnv(s, 'overlay2')
      await plantGarbage(e, { mount: true })
      const before = du(e.store)
      const report = await runGc(s.fs, { ...e.base, yes: true })
      expect(report.totals).toMatchObject({ items: 5, collected: 5, left: 0 })
      expect(report.totals.freed).toBe(report.totals.bytes)
      expect(report.totals.freed).toBeGreaterThan(0)
      // The orphan's short link goes with it (`../<64 hex>/diff` is too long for an inline symlink: one block on
      // ext4), so it must be counted too. layerfsck's own dir (its lock and format stamp) is new, and not gc's doing.
      const after = du(e.store) - du(`${e.store}/.layerfsck`)
      expect(before - after).toBe(report.totals.freed)
    })

    it("never takes an unnamed dir that a live layer dir's lower chain reaches through its short link", async ({ skip }) => {
      const reason = dockerFixtureSkipReason(subject.name)
      if (reason) return skip(reason)
      const e = await makeEnv(s, 'overlay2')
      const orphan = await plantLayerDir(e, ORPHAN, ORPHAN_LINK, true)
      const reached = await plantLayerDir(e, OTHER, OTHER_LINK, true)
      // created-overlay's RW dir reads OTHER as its top lower layer: whatever the records say, it is in use.
      const lower = `${e.drv}/${CREATED_RW}/lower`
      await write(e.fs, lower, `l/${OTHER_LINK}:${await read(e.fs, lower)}`)
      const kept = await listTree(s.fs, reached, { mtime: true })
      const report = await runGc(s.fs, { ...e.base, yes: true })
      expect(itemsOf(report)).toEqual([['docker-layer-dir-orphan', orphan, 'collected']])
      expect(await exists(s.fs, orphan)).toBe(false)
      expect(await listTree(s.fs, reached, { mtime: true })).toBe(kept)
      expect(await s.fs.readlink(`${e.drv}/l/${OTHER_LINK}`)).toBe(`../${OTHER}/diff`)
      // Not even with no grace at all.
      const again = await runGc(s.fs, { ...e.base, yes: true, graceMs: 0 })
      expect(again.items.filter((i) => i.code === 'docker-layer-dir-orphan')).toEqual([])
      expect(await exists(s.fs, reached)).toBe(true)
    })

    it('keeps a young orphan layer dir within the default grace and takes it with a grace of 0', async ({ skip }) => {
      const reason = dockerFixtureSkipReason(subject.name)
      if (reason) return skip(reason)
      const e = await makeEnv(s, 'overlay2')
      const young = await plantLayerDir(e, OTHER, OTHER_LINK, false)
      const kept = await listTree(s.fs, young, { mtime: true })
      const first = await runGc(s.fs, { ...e.base, yes: true })
      expect(first.graceMs).toBe(60 * 60 * 1000)
      expect(first.items).toEqual([])
      expect(await listTree(s.fs, young, { mtime: true })).toBe(kept)
      // A dir whose top is old but whose contents changed just now is young too: age is the newest change inside.
      await s.fs.lutimes(young, LONG_AGO, LONG_AGO)
      expect((await runGc(s.fs, { ...e.base, yes: true })).items).toEqual([])
      expect(await exists(s.fs, young)).toBe(true)
      const taken = await runGc(s.fs, { ...e.base, yes: true, graceMs: 0 })
      expect(taken.graceMs).toBe(0)
      expect(itemsOf(taken)).toEqual([['docker-layer-dir-orphan', young, 'collected']])
      expect(await exists(s.fs, young)).toBe(false)
      expect(await exists(s.fs, `${e.drv}/l/${OTHER_LINK}`)).toBe(false)
    })

    it("takes an old 64-hex orphan but never an unnamed dir of another shape when the data root has BuildKit's dir", async ({ skip }) => {
      const reason = dockerFixtureSkipReason(subject.name)
      if (reason) return skip(reason)
      const e = await makeEnv(s, 'overlay2')
      expect(BUILDKIT_SNAPSHOT).toMatch(/^[a-z0-9]{25}$/)
      // A 20.10 data root has buildkit/ (its snapshots.db names its snapshot dirs), as the fixture's does.
      expect((await s.fs.lstat(`${e.store}/buildkit/snapshots.db`))?.kind).toBe('file')
      const orphan = await plantLayerDir(e, ORPHAN, ORPHAN_LINK, true)
      const snapshot = await plantLayerDir(e, BUILDKIT_SNAPSHOT, BUILDKIT_LINK, true)
      const kept = await listTree(s.fs, snapshot, { mtime: true })

      const report = await runGc(s.fs, { ...e.base, yes: true, graceMs: 0 })
      expect(itemsOf(report)).toEqual([['docker-layer-dir-orphan', orphan, 'collected']])
      expect(report.exitCode).toBe(0)
      expect(await exists(s.fs, orphan)).toBe(false)
      expect(await listTree(s.fs, snapshot, { mtime: true })).toBe(kept)
      expect(await s.fs.readlink(`${e.drv}/l/${BUILDKIT_LINK}`)).toBe(`../${BUILDKIT_SNAPSHOT}/diff`)
      expect(findingsOf(await runCheck(s.fs, { ...e.base, mode: 'no' })).filter((f) => f.path === snapshot)).toEqual([])

      // The name alone is no reason: without BuildKit there, the same old unnamed dir is an orphan like any other.
      await s.fs.rename(`${e.store}/buildkit`, `${s.root}/buildkit-aside`)
      const without = await runGc(s.fs, { ...e.base, yes: true })
      expect(itemsOf(without)).toEqual([['docker-layer-dir-orphan', snapshot, 'collected']])
      expect(await exists(s.fs, snapshot)).toBe(false)
    })

    it('refuses --prune-layers on a Docker data root with a usage error (exit 16), in the library and the CLI', async ({ skip }) => {
      const reason = dockerFixtureSkipReason(subject.name)
      if (reason) return skip(reason)
      const e = await makeEnv(s, 'overlay2')
      await plantLayerDir(e, ORPHAN, ORPHAN_LINK, true)
      const before = await listTree(s.fs, e.store, { mtime: true })
      for (const yes of [false, true]) {
        const err = (await runGc(s.fs, { ...e.base, pruneLayers: true, yes }).catch((x: unknown) => x)) as LayerfsckError
        expect(err).toBeInstanceOf(Error)
        expect(err.exitCode).toBe(16)
        expect(err.message).toMatch(/prune-layers/)
      }
      const r = await runCli(s.fs, ['gc', '--store', e.store, '--prune-layers', '--yes', '--known-containers', String(e.base.knownContainers)])
      expect(r.code).toBe(16)
      expect(r.stderr).toMatch(/--prune-layers/)
      expect(await listTree(s.fs, e.store, { mtime: true })).toBe(before)
    })

    it('refuses gc --yes while a dockerd runs on this data root (exit 8) and changes nothing, and goes ahead with force', async ({ skip }) => {
      const reason = dockerFixtureSkipReason(subject.name)
      if (reason) return skip(reason)
      const e = await makeEnv(s, 'overlay2')
      const p = await plantGarbage(e, { mount: s.privileged })
      await makeDirs(s.fs, `${e.proc}/4321`)
      await write(s.fs, `${e.proc}/4321/comm`, 'dockerd\n')
      await write(s.fs, `${e.proc}/4321/cmdline`, ['/usr/sbin/dockerd', '--data-root', e.store, '--storage-driver', 'overlay2', ''].join('\0'))
      const before = await listTree(s.fs, e.store, { mtime: true })
      // This data root's mounts only: other test files mount and unmount elsewhere on the host meanwhile.
      const mountsHere = async (): Promise<string[]> => (await s.fs.mounts()).map((m) => m.mountPoint).filter((at) => at.startsWith(`${e.store}/`))
      const mountsBefore = await mountsHere()
      const refused = (await runGc(s.fs, { ...e.base, yes: true }).catch((err: unknown) => err)) as LayerfsckError
      expect(refused).toMatchObject({ code: 'LAYERFSCK_PROCESS_RUNNING', exitCode: 8 })
      expect(refused.message).toContain('dockerd (pid 4321)')
      expect(await listTree(s.fs, e.store, { mtime: true })).toBe(before)
      expect(await mountsHere()).toEqual(mountsBefore)
      expect(await exists(s.fs, `${e.store}/.layerfsck`)).toBe(false)
      // A plan only reads: it is made under the dockerd as check -n is.
      const plan = await runGc(s.fs, e.base)
      expect(plan.acted).toBe(false)
      expect(plan.items.length).toBe(p.merged === undefined ? 4 : 5)
      expect(await listTree(s.fs, e.store, { mtime: true })).toBe(before)

      const forced = await runGc(s.fs, { ...e.base, yes: true, force: true })
      expect(forced.exitCode).toBe(0)
      expect(forced.items.map((i) => i.status)).toEqual(forced.items.map(() => 'collected'))
      expect(forced.items.map((i) => i.path).sort()).toEqual([p.orphan, p.removing, p.writeSet, p.dangling, ...(p.merged ? [p.merged] : [])].sort())
      for (const path of [p.orphan, p.removing, p.writeSet, p.dangling]) expect(await exists(s.fs, path)).toBe(false)
      if (p.merged) expect((await s.fs.mounts()).some((m) => m.mountPoint === p.merged)).toBe(false)
    })
  })

  describe(`gc on a legacy Docker overlay data root on ${subject.name}`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await subject.make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    it('collects a layer dir no record and no container names, and leaves every other dir as it was', async ({ skip }) => {
      const reason = dockerFixtureSkipReason(subject.name)
      if (reason) return skip(reason)
      const e = await makeEnv(s, 'overlay')
      const pristine = { overlay: await listTree(s.fs, e.drv, { mtime: true }), image: await listTree(s.fs, `${e.store}/image`, { mtime: true }) }
      const orphan = `${e.drv}/${ORPHAN}`
      await makeDirs(s.fs, `${orphan}/root/etc`)
      await write(s.fs, `${orphan}/root/etc/x`, '1234')
      await backdate(s.fs, orphan)
      const report = await runGc(s.fs, { ...e.base, yes: true })
      expect(report.settings['driver']).toContain('overlay')
      expect(itemsOf(report)).toEqual([['docker-layer-dir-orphan', orphan, 'collected']])
      expect(report.totals).toMatchObject({ items: 1, collected: 1, left: 0 })
      expect(await exists(s.fs, orphan)).toBe(false)
      // Only overlay/ itself changed (its mtime): every layer dir below it is as it was.
      const strip = (listing: string): string => listing.split('\n').filter((l) => !l.startsWith('. dir')).join('\n')
      expect(strip(await listTree(s.fs, e.drv, { mtime: true }))).toBe(strip(pristine.overlay))
      expect(await listTree(s.fs, `${e.store}/image`, { mtime: true })).toBe(pristine.image)
      expect(findingsOf(await runCheck(s.fs, { ...e.base, mode: 'no' }))).toEqual([])
      expect((await runGc(s.fs, e.base)).items).toEqual([])
    })
  })
}
