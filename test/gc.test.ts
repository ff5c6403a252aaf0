import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { errnoError, type LayerfsckError } from '../src/errors.js'
import { runCheck, type CheckReport } from '../src/check/run.js'
import { checksOf } from '../src/check/registry.js'
import { importImage } from '../src/families/mesos/import.js'
import { encodeContainerLayers } from '../src/families/mesos/metadata/container-layers.js'
import { makeDirs, readFileLimited, writeFileAll } from '../src/fs/io.js'
import type { FsPort, Inode } from '../src/fs/port.js'
import { walkTree } from '../src/fs/walk.js'
import { runGc, type GcEvent, type GcReport } from '../src/gc/run.js'
import { listTree } from '../src/testing/tree-spec.js'
import { SUBJECTS, type Subject } from './support/adapters.js'
import { runCli } from './support/cli.js'
import { imagesOn, shape, WH_LAYERS, WH_THIRD_MERGED } from './support/fixtures.js'
import { makeGcEnv, VARIANT, type GcContainer, type GcEnv } from './support/gc-env.js'

const HEX = 'f'.repeat(64)
const HOUR = 60 * 60 * 1000
const OLD = 2 * HOUR

/** The codes gc collects: what `check -n` right after `gc --yes --prune-layers` must not find any more. */
const GARBAGE_CODES = new Set(
  checksOf('mesos')
    .filter((c) => c.garbage === 'always' || c.garbage === 'gc-only' || c.garbage === 'prune-layers')
    .map((c) => c.code),
)

const idsOf = (r: GcReport): string[] => r.items.map((i) => i.id).sort()
const codesOf = (r: CheckReport): string[] => r.passes.flatMap((p) => p.findings.map((f) => f.code))

async function names(fs: FsPort, dir: string): Promise<string[]> {
  if ((await fs.lstat(dir))?.kind !== 'dir') return []
  return (await fs.readdir(dir)).map((e) => e.name).sort()
}

async function exists(fs: FsPort, path: string): Promise<boolean> {
  return (await fs.lstat(path)) !== undefined
}

async function mountsUnder(fs: FsPort, root: string): Promise<string[]> {
  return (await fs.mounts())
    .map((m) => m.mountPoint)
    .filter((p) => p.startsWith(`${root}/`))
    .sort()
}

/** What is in a root's trash: nothing, once gc is done. */
async function trashOf(fs: FsPort, root: string): Promise<string[]> {
  return names(fs, `${root}/.layerfsck/trash`)
}

/** The disk space of every inode of a tree (du -x), leaving out the paths `except`. */
async function blocksOf(fs: FsPort, root: string, except: string[] = []): Promise<number> {
  const seen = new Set<bigint>()
  const add = (inode: Inode): number => {
    if (seen.has(inode.ino)) return 0
    seen.add(inode.ino)
    return inode.blocks * 512
  }
  let n = add((await fs.lstat(root))!)
  for await (const e of walkTree(fs, root)) if (!except.includes(e.path)) n += add((await fs.lstat(e.path))!)
  return n
}

/** A port that throws `code` for the calls `when` picks, and passes everything else to `fs`. */
function failing(fs: FsPort, when: (op: string, args: unknown[]) => boolean, code = 'EBUSY'): FsPort {
  return new Proxy(fs, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown
      if (typeof v !== 'function') return v
      return (...args: unknown[]) => {
        if (when(String(prop), args)) return Promise.reject(errnoError(code, String(prop), String(args[0]), args[1] === undefined ? undefined : String(args[1])))
        return (v as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
}

/** A port that records every unlink and rmdir it is asked for. */
function recording(fs: FsPort): { fs: FsPort; removed: string[] } {
  const removed: string[] = []
  const spy = new Proxy(fs, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown
      if (typeof v !== 'function') return v
      return (...args: unknown[]) => {
        if (prop === 'unlink' || prop === 'rmdir') removed.push(String(args[0]))
        return (v as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { fs: spy, removed }
}

interface Garbage {
  live: GcContainer[]
  dead1: GcContainer
  child: GcContainer
  dead2: GcContainer
  half: string
  /** Layer ids nothing uses (an image imported and dropped, a layer without an image). */
  orphans: string[]
  layersBefore: string[]
  /** Every item gc must plan, as `<code>:<path>`, sorted. */
  expected: string[]
}

/**
 * Everything a crashed agent leaves, next to what must stay: two live
 * containers with their rootfs mounted; a dead container mounted through a
 * Mesos links temp dir with a nested child mounted through its own; a dead
 * container whose links dangle; a half-removed one; two old staging dirs and
 * a fresh one; gc/ leftovers; an image imported and dropped and a layer no
 * image ever named; and a mkdtemp-like dir nothing points to.
 */
async function buildGarbage(e: GcEnv): Promise<Garbage> {
  const { fs, store, tmp } = e
  const wh = [2, 1, 0].map((i) => e.rootfs(i))
  const live: GcContainer[] = []
  for (const id of ['live1', 'live2']) {
    const c = await e.container([id])
    await e.mountOverlay(c.rootfs, wh)
    live.push(c)
  }
  await e.live(['live1', 'live2'])

  // An image pulled and then dropped from storedImages: its layers are referenced by nothing.
  const stored = await readFileLimited(fs, `${store}/storedImages`)
  const second = await importImage(fs, {
    store,
    backend: 'overlay',
    image: `oci:${await imagesOn(fs)}/oci-overlay-uncompressed:wh-base`,
    preserveOwners: e.s.privileged,
  })
  await writeFileAll(fs, `${store}/storedImages`, stored)
  const dropped = second.layers.map((l) => l.id)
  expect(dropped.filter((id) => (WH_LAYERS as readonly string[]).includes(id))).toEqual([])
  // A layer no image ever named (a pull that crashed before it recorded its image).
  await makeDirs(fs, `${store}/layers/${HEX}/${VARIANT}/opt`)
  await writeFileAll(fs, `${store}/layers/${HEX}/${VARIANT}/opt/tool`, 'a tool of a pull that never finished\n')
  const orphans = [...dropped, HEX]
  const orphanRootfs = `${store}/layers/${dropped[0]}/${VARIANT}`

  // dead1 reads the dropped layer through a mkdtemp links dir; its nested child reads wh-third through its own.
  const dead1 = await e.container(['dead1'], { layers: [e.rootfs(0), orphanRootfs] })
  await makeDirs(fs, dead1.scratch)
  // (A read-only overlay needs two lowers.)
  await e.mountOverlay(dead1.rootfs, [orphanRootfs, e.rootfs(0)], `${tmp}/AbC123`)
  await fs.symlink(`${tmp}/AbC123`, `${dead1.scratch}/links`)
  const child = await e.container(['dead1', 'child1'])
  await makeDirs(fs, child.scratch)
  await e.mountOverlay(child.rootfs, wh, `${tmp}/XyZ789`)
  await fs.symlink(`${tmp}/XyZ789`, `${child.scratch}/links`)
  // dead2's links temp dir is gone already; its scratch holds what the container wrote.
  const dead2 = await e.container(['dead2'])
  await makeDirs(fs, `${dead2.scratch}/upperdir/var/log`)
  await writeFileAll(fs, `${dead2.scratch}/upperdir/var/log/app.log`, 'x'.repeat(20000))
  await fs.symlink(`${tmp}/Gone12`, `${dead2.scratch}/links`)
  // A destroy whose rmdir failed half-way: only backends/ is left.
  const half = `${e.provisioner}/containers/half1`
  await makeDirs(fs, `${half}/backends`)
  // Shaped like a links temp dir, but no container points to it: not gc's.
  await makeDirs(fs, `${tmp}/Keep12`)
  await fs.symlink(e.rootfs(0), `${tmp}/Keep12/0`)

  const staging = `${store}/staging`
  await makeDirs(fs, `${staging}/Old111/${HEX}/rootfs/usr`)
  await writeFileAll(fs, `${staging}/Old111/${HEX}/rootfs/usr/partial`, 'y'.repeat(9000))
  await makeDirs(fs, `${staging}/Old222`)
  await writeFileAll(fs, `${staging}/Old222/blob.tar`, 'z'.repeat(5000))
  await makeDirs(fs, `${staging}/Fresh1`)
  await writeFileAll(fs, `${staging}/Fresh1/layer.tar.part`, 'a pull running right now')

  await makeDirs(fs, `${store}/gc/${HEX}.1700000000000000000/rootfs/bin`)
  await writeFileAll(fs, `${store}/gc/${HEX}.1700000000000000000/rootfs/bin/sh`, 'swept half')
  await writeFileAll(fs, `${store}/gc/sha256:${HEX}.1700000000000000001`, '{"config":{}}')

  for (const p of [`${staging}/Old111`, `${staging}/Old222`, ...orphans.map((id) => `${store}/layers/${id}`)]) await e.backdate(p, OLD)

  const expected = [
    `orphan-mount:${dead1.rootfs}`,
    `orphan-mount:${child.rootfs}`,
    `container-not-live:${dead1.dir}`,
    `container-not-live:${dead2.dir}`,
    `container-not-live:${half}`,
    `staging-leftover:${staging}/Old111`,
    `staging-leftover:${staging}/Old222`,
    `gc-leftover:${store}/gc/${HEX}.1700000000000000000`,
    `gc-leftover:${store}/gc/sha256:${HEX}.1700000000000000001`,
    ...orphans.map((id) => `layer-unreferenced:${store}/layers/${id}`),
  ].sort()
  return { live, dead1, child, dead2, half, orphans, layersBefore: await names(fs, `${store}/layers`), expected }
}

/**
 * A layer no image names (a pull that crashed before it recorded its image), old past the grace, and the
 * path of its variant, for a container's checkpoint or a mount to read.
 */
async function strayLayer(e: GcEnv): Promise<{ dir: string; variant: string }> {
  const dir = `${e.store}/layers/${HEX}`
  await makeDirs(e.fs, `${dir}/${VARIANT}/opt`)
  await writeFileAll(e.fs, `${dir}/${VARIANT}/opt/tool`, 'read by a container gc cannot remove\n')
  await e.backdate(dir, OLD)
  return { dir, variant: `${dir}/${VARIANT}` }
}

/** Everything under the test's root, mtimes included: equal before and after exactly when nothing changed. */
const snapshot = (e: GcEnv): Promise<string> => listTree(e.fs, e.s.root, { mtime: true })

for (const { name, make } of SUBJECTS) {
  describe(`layerfsck gc on a Mesos store on the ${name} adapter`, () => {
    let s: Subject
    let env: GcEnv | undefined
    beforeEach(async () => {
      s = await make()
      env = undefined
    })
    afterEach(async () => {
      await env?.unmountAll()
      await s.cleanup()
    })

    /** The env, for cases that mount: those need root on disk. */
    const setup = async (skip: (why: string) => void, mounts = true): Promise<GcEnv> => {
      if (mounts && !s.privileged) skip('needs root (overlay and bind mounts)')
      env = await makeGcEnv(s)
      return env
    }

    it('collects exactly the garbage, keeps every live container mounted and readable, and plans nothing on a second run', async ({ skip }) => {
      const e = await setup(skip)
      const g = await buildGarbage(e)
      const events: GcEvent[] = []
      const report = await runGc(e.fs, { ...e.base, yes: true, pruneLayers: true, onEvent: (ev) => events.push(ev) })

      expect(idsOf(report)).toEqual(g.expected)
      expect(report.items.filter((i) => i.status !== 'collected')).toEqual([])
      expect(report).toMatchObject({ acted: true, exitCode: 0, liveness: 'known-containers', pruneLayers: true })
      expect(report.totals).toMatchObject({ items: g.expected.length, collected: g.expected.length, left: 0 })
      expect(events[0]).toMatchObject({ event: 'plan', items: g.expected.length })
      expect(events.filter((ev) => ev.event === 'item')).toHaveLength(g.expected.length)

      // What remains is exactly what is not garbage.
      expect(await names(e.fs, `${e.provisioner}/containers`)).toEqual(['live1', 'live2'])
      expect(await names(e.fs, `${e.store}/staging`)).toEqual(['Fresh1'])
      expect(await names(e.fs, `${e.store}/gc`)).toEqual([])
      expect(await names(e.fs, `${e.store}/layers`)).toEqual(g.layersBefore.filter((n) => !g.orphans.includes(n)))
      for (const i of [0, 1, 2]) expect(await exists(e.fs, e.rootfs(i))).toBe(true)
      // dead1's and its child's links temp dirs are gone; the dangling one was never there; the unrelated one stays.
      expect(await names(e.fs, e.tmp)).toEqual(['Keep12'])
      expect(await names(e.fs, `${e.tmp}/Keep12`)).toEqual(['0'])
      expect(await trashOf(e.fs, e.store)).toEqual([])
      expect(await trashOf(e.fs, e.provisioner)).toEqual([])

      // Every live container is still mounted, and reads the merged image.
      expect(await mountsUnder(e.fs, s.root)).toEqual(g.live.map((c) => c.rootfs).sort())
      for (const c of g.live) {
        expect(await shape(e.fs, c.rootfs)).toEqual(WH_THIRD_MERGED)
        expect(Buffer.from(await readFileLimited(e.fs, `${c.rootfs}/etc/app.conf`)).length).toBeGreaterThan(0)
      }

      const again = await runGc(e.fs, { ...e.base, yes: true, pruneLayers: true })
      expect(again.items).toEqual([])
      expect(again.exitCode).toBe(0)

      const check = await runCheck(e.fs, { ...e.base, mode: 'no' })
      expect(codesOf(check).filter((c) => GARBAGE_CODES.has(c))).toEqual([])
    })

    it('plans only without --yes and without a prompt, and changes nothing in the store or the work dir', async ({ skip }) => {
      const e = await setup(skip)
      const g = await buildGarbage(e)
      const before = await snapshot(e)
      const events: GcEvent[] = []
      const plan = await runGc(e.fs, { ...e.base, pruneLayers: true, onEvent: (ev) => events.push(ev) })
      expect(await snapshot(e)).toBe(before)
      expect(plan.acted).toBe(false)
      expect(plan.exitCode).toBe(0)
      expect(idsOf(plan)).toEqual(g.expected)
      expect(new Set(plan.items.map((i) => i.status))).toEqual(new Set(['planned']))
      const staging = plan.items.find((i) => i.id === `staging-leftover:${e.store}/staging/Old111`)!
      expect(staging.bytes).toBeGreaterThan(9000)
      expect(staging.ageMs).toBeGreaterThanOrEqual(OLD - 60_000)
      // Unmounting frees nothing on the store's filesystem.
      for (const i of plan.items.filter((i) => i.code === 'orphan-mount')) expect(i.bytes).toBe(0)
      expect(plan.totals.bytes).toBe(plan.items.reduce((n, i) => n + i.bytes, 0))
      expect(plan.next.some((n) => n.includes('gc --yes --prune-layers'))).toBe(true)
      expect(events).toEqual([{ event: 'plan', items: g.expected.length, bytes: plan.totals.bytes }])

      // --dry-run plans only even with --yes.
      const dry = await runGc(e.fs, { ...e.base, pruneLayers: true, yes: true, dryRun: true })
      expect(dry.acted).toBe(false)
      expect(idsOf(dry)).toEqual(g.expected)
      expect(await snapshot(e)).toBe(before)
    })

    it('unmounts a directory bind-mounted under a dead container instead of deleting through it', async ({ skip }) => {
      const e = await setup(skip)
      const dead = await e.container(['deadB'])
      const at = `${dead.scratch}/volume`
      await makeDirs(e.fs, at)
      const source = `${s.root}/outside`
      await makeDirs(e.fs, source)
      await writeFileAll(e.fs, `${source}/data.txt`, 'kept outside\n')
      await e.bind(source, at)
      // In memory the mount is a filesystem of its own: the file is written through it.
      if (e.fs.kind === 'memory') await writeFileAll(e.fs, `${at}/data.txt`, 'kept outside\n')
      expect(await exists(e.fs, `${at}/data.txt`)).toBe(true)

      const spy = recording(e.fs)
      const report = await runGc(spy.fs, { ...e.base, yes: true })
      expect(idsOf(report)).toEqual([`container-not-live:${dead.dir}`, `orphan-mount:${at}`].sort())
      expect(report.exitCode).toBe(0)
      expect(report.items.every((i) => i.status === 'collected')).toBe(true)
      expect(spy.removed.filter((p) => p === `${at}/data.txt` || p.endsWith('/volume/data.txt'))).toEqual([])
      expect(await mountsUnder(e.fs, s.root)).toEqual([])
      expect(await exists(e.fs, dead.dir)).toBe(false)
      expect(new TextDecoder().decode(await readFileLimited(e.fs, `${source}/data.txt`))).toBe('kept outside\n')
      expect(await trashOf(e.fs, e.provisioner)).toEqual([])
    })

    it('defers a container dir that stays busy with exit 4, and collects it on the next run', async ({ skip }) => {
      const e = await setup(skip, false)
      const dead = await e.container(['busy1'])
      await makeDirs(e.fs, `${dead.scratch}/upperdir`)
      await writeFileAll(e.fs, `${dead.scratch}/upperdir/file`, 'written by the container')
      let tries = 0
      const busy = failing(e.fs, (op, args) => {
        const hit = (op === 'rename' || op === 'rmdir') && args[0] === dead.dir
        if (hit) tries += 1
        return hit
      })
      const first = await runGc(busy, { ...e.base, yes: true })
      expect(first.items).toHaveLength(1)
      expect(first.items[0]).toMatchObject({ id: `container-not-live:${dead.dir}`, status: 'deferred' })
      expect(first.items[0]!.error).toMatch(/EBUSY/)
      expect(first.exitCode).toBe(4)
      expect(first.totals).toMatchObject({ left: 1, collected: 0, freed: 0 })
      expect(first.next.some((n) => n.includes('run gc again'))).toBe(true)
      expect(tries).toBe(4)
      expect(await exists(e.fs, dead.dir)).toBe(true)
      expect(await trashOf(e.fs, e.provisioner)).toEqual([])

      // The failed rename took its empty trash dir back: the container is all the next run has to do.
      expect(await exists(e.fs, `${e.provisioner}/.layerfsck/trash`)).toBe(false)
      const second = await runGc(e.fs, { ...e.base, yes: true })
      expect(second.items.map((i) => [i.id, i.status])).toEqual([[`container-not-live:${dead.dir}`, 'collected']])
      expect(second.exitCode).toBe(0)
      expect(await exists(e.fs, dead.dir)).toBe(false)
    })

    it('removes no container and unmounts nothing without a liveness source, and says which mounts it kept', async ({ skip }) => {
      const e = await setup(skip)
      if (e.fs.kind === 'disk' && (await e.fs.lstat('/var/run/mesos')) !== undefined) skip('this host has /var/run/mesos, the default liveness source')
      const c1 = await e.container(['c1'])
      const c2 = await e.container(['c2'])
      await e.mountOverlay(c1.rootfs, [2, 1, 0].map((i) => e.rootfs(i)))
      await e.mountOverlay(c2.rootfs, [e.rootfs(1), e.rootfs(0)])
      await makeDirs(e.fs, `${e.store}/staging/Old111`)
      await e.backdate(`${e.store}/staging/Old111`, OLD)

      const report = await runGc(e.fs, { store: e.store, workDir: e.workDir, yes: true, pruneLayers: true })
      expect(report.liveness).toBe('unknown')
      // What does not depend on liveness is still collected.
      expect(idsOf(report)).toEqual([`staging-leftover:${e.store}/staging/Old111`])
      expect(report.exitCode).toBe(0)
      expect(await names(e.fs, `${e.provisioner}/containers`)).toEqual(['c1', 'c2'])
      expect(await mountsUnder(e.fs, s.root)).toEqual([c1.rootfs, c2.rootfs].sort())
      expect(report.kept.filter((k) => k.code === 'mount-liveness-unknown').map((k) => k.path).sort()).toEqual([c1.rootfs, c2.rootfs].sort())
      expect(await shape(e.fs, c1.rootfs)).toEqual(WH_THIRD_MERGED)
    })

    it('prunes no layer when a live container has no layers checkpoint, and says so in kept', async ({ skip }) => {
      const e = await setup(skip, false)
      const old = await e.container(['old1'], { checkpoint: false })
      await e.live(['old1'])
      await makeDirs(e.fs, `${e.store}/layers/${HEX}/${VARIANT}/opt`)
      await e.backdate(`${e.store}/layers/${HEX}`, OLD)
      const layers = await names(e.fs, `${e.store}/layers`)

      const report = await runGc(e.fs, { ...e.base, yes: true, pruneLayers: true })
      expect(report.items.filter((i) => i.code === 'layer-unreferenced')).toEqual([])
      expect(report.kept).toContainEqual(expect.objectContaining({ code: 'layers-prune-blocked', path: `${e.store}/layers` }))
      expect(report.kept.find((k) => k.code === 'layers-prune-blocked')!.why).toMatch(/old1/)
      expect(report.exitCode).toBe(0)
      expect(await names(e.fs, `${e.store}/layers`)).toEqual(layers)

      // With the checkpoint written, the same layer is pruned.
      await writeFileAll(e.fs, `${old.dir}/layers`, encodeContainerLayers({ paths: [0, 1, 2].map((i) => e.rootfs(i)) }))
      const unblocked = await runGc(e.fs, { ...e.base, yes: true, pruneLayers: true })
      expect(unblocked.items.filter((i) => i.code === 'layer-unreferenced').map((i) => i.path)).toEqual([`${e.store}/layers/${HEX}`])
      expect(await exists(e.fs, `${e.store}/layers/${HEX}`)).toBe(false)
    })

    it('keeps a staging dir touched within the grace period by default and takes it with a grace of 0', async ({ skip }) => {
      const e = await setup(skip, false)
      const fresh = `${e.store}/staging/Fresh1`
      await makeDirs(e.fs, `${fresh}/deep/er`)
      await writeFileAll(e.fs, `${fresh}/deep/er/layer.tar.part`, 'still being written')
      // Old at the top, fresh deep inside: the newest change anywhere in the tree decides.
      const deep = `${e.store}/staging/Deep12`
      await makeDirs(e.fs, `${deep}/a/b`)
      await e.backdate(deep, OLD)
      await writeFileAll(e.fs, `${deep}/a/b/new.part`, 'written a moment ago')
      const ns = BigInt(Date.now() - OLD) * 1_000_000n
      for (const p of [`${deep}/a/b`, `${deep}/a`, deep]) await e.fs.lutimes(p, ns, ns)

      const kept = await runGc(e.fs, { ...e.base, yes: true })
      expect(kept.items).toEqual([])
      expect(kept.graceMs).toBe(HOUR)
      expect(await names(e.fs, `${e.store}/staging`)).toEqual(['Deep12', 'Fresh1'])

      const taken = await runGc(e.fs, { ...e.base, yes: true, graceMs: 0 })
      expect(idsOf(taken)).toEqual([`staging-leftover:${deep}`, `staging-leftover:${fresh}`])
      expect(taken.items.every((i) => i.status === 'collected' && i.ageMs !== undefined && i.ageMs < HOUR)).toBe(true)
      expect(await names(e.fs, `${e.store}/staging`)).toEqual([])
    })

    describe('the CLI', () => {
      /** A dead container mounted (on disk, for real), an old staging dir and a gc/ leftover. */
      const cliEnv = async (skip: (why: string) => void): Promise<{ e: GcEnv; dead: GcContainer; args: string[] }> => {
        const e = await setup(skip)
        const live = await e.container(['live1'])
        await e.mountOverlay(live.rootfs, [2, 1, 0].map((i) => e.rootfs(i)))
        await e.live(['live1'])
        const dead = await e.container(['dead1'])
        await e.mountOverlay(dead.rootfs, [e.rootfs(1), e.rootfs(0)])
        await makeDirs(e.fs, `${e.store}/staging/Old111/x`)
        await e.backdate(`${e.store}/staging/Old111`, OLD)
        await makeDirs(e.fs, `${e.store}/gc/${HEX}.1700000000000000000/rootfs`)
        return { e, dead, args: ['gc', '--store', e.store, '--work-dir', e.workDir, '--known-containers', e.known] }
      }

      it('plans and exits 0 without --yes and without a terminal, changing nothing', async ({ skip }) => {
        const { e, dead, args } = await cliEnv(skip)
        const before = await snapshot(e)
        const r = await runCli(e.fs, args)
        expect(r.stderr).toBe('')
        expect(r.code).toBe(0)
        expect(r.stdout).toContain(dead.dir)
        expect(r.stdout).toContain('--yes')
        expect(await snapshot(e)).toBe(before)
      })

      it('prints the plan, each item and the report as JSON lines with --yes --json, and exits 0', async ({ skip }) => {
        const { e, dead, args } = await cliEnv(skip)
        const r = await runCli(e.fs, [...args, '--yes', '--json'])
        expect(r.code).toBe(0)
        const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { event: string } & Record<string, unknown>)
        expect(lines[0]).toMatchObject({ event: 'plan', items: 4 })
        expect(lines.slice(1, -1).map((l) => l.event)).toEqual(['item', 'item', 'item', 'item'])
        expect(lines.slice(1, -1).map((l) => (l as unknown as { item: { status: string } }).item.status)).toEqual(['collected', 'collected', 'collected', 'collected'])
        const last = lines.at(-1)!
        expect(last).toMatchObject({ event: 'report', acted: true, exitCode: 0, schemaVersion: 1 })
        expect((last as unknown as GcReport).items.map((i) => i.id).sort()).toEqual(
          [
            `orphan-mount:${dead.rootfs}`,
            `container-not-live:${dead.dir}`,
            `staging-leftover:${e.store}/staging/Old111`,
            `gc-leftover:${e.store}/gc/${HEX}.1700000000000000000`,
          ].sort(),
        )
        expect(await names(e.fs, `${e.provisioner}/containers`)).toEqual(['live1'])
        expect(await names(e.fs, `${e.store}/staging`)).toEqual([])
      })

      it('exits 16 for a --grace that is no duration', async ({ skip }) => {
        const { e, args } = await cliEnv(skip)
        const before = await snapshot(e)
        const r = await runCli(e.fs, [...args, '--yes', '--grace', 'banana'])
        expect(r.code).toBe(16)
        expect(r.stderr).toMatch(/grace/)
        expect(await snapshot(e)).toBe(before)
      })

      it('exits 16 for --prune-layers without --work-dir, and changes nothing', async ({ skip }) => {
        const { e } = await cliEnv(skip)
        const before = await snapshot(e)
        const r = await runCli(e.fs, ['gc', '--store', e.store, '--prune-layers'])
        expect(r.code).toBe(16)
        expect(r.stderr).toMatch(/--work-dir/)
        expect(r.stdout).toBe('')
        expect(await snapshot(e)).toBe(before)
        // With --yes too: nothing is planned, let alone taken.
        expect((await runCli(e.fs, ['gc', '--store', e.store, '--prune-layers', '--yes', '--known-containers', e.known])).code).toBe(16)
        expect(await snapshot(e)).toBe(before)
      })

      it('exits 8 and leaves a directory that is not a store untouched', async ({ skip }) => {
        const e = await setup(skip, false)
        const dir = `${s.root}/not-a-store`
        await makeDirs(e.fs, `${dir}/staging/Old111`)
        await writeFileAll(e.fs, `${dir}/notes.txt`, 'mine\n')
        await e.backdate(dir, OLD)
        const before = await listTree(e.fs, dir, { mtime: true })
        const r = await runCli(e.fs, ['gc', '--store', dir, '--yes'])
        expect(r.code).toBe(8)
        expect(await listTree(e.fs, dir, { mtime: true })).toBe(before)
      })
    })

    it('counts nothing for a file a dead container shares by a hard link with a live layer', async ({ skip }) => {
      const e = await setup(skip, false)
      await e.container(['live1'])
      await e.live(['live1'])
      const shared = `${e.rootfs(0)}/big.bin`
      await writeFileAll(e.fs, shared, new Uint8Array(100_000).fill(7))
      const dead = `${e.provisioner}/containers/dead1`
      const upper = `${dead}/backends/overlay/scratch/x/upperdir`
      await makeDirs(e.fs, upper)
      await writeFileAll(e.fs, `${upper}/own.bin`, new Uint8Array(10_000).fill(1))
      // Two names of one inode, both inside: it is freed, and counted once.
      await e.fs.link(`${upper}/own.bin`, `${upper}/own-again.bin`)
      await e.fs.link(shared, `${upper}/big.bin`)

      const plan = await runGc(e.fs, { ...e.base })
      expect(idsOf(plan)).toEqual([`container-not-live:${dead}`])
      const item = plan.items[0]!
      const sharedBytes = (await e.fs.lstat(shared))!.blocks * 512
      expect(sharedBytes).toBeGreaterThanOrEqual(100_000)
      expect(item.bytes).toBe(await blocksOf(e.fs, dead, [`${upper}/big.bin`]))
      expect(item.bytes).toBeLessThan(sharedBytes)
      if (e.fs.kind === 'memory') {
        // containers/dead1, backends, overlay, scratch, x, upperdir: 6 dirs of one 4 KiB block; own.bin 3 blocks.
        expect(item.bytes).toBe(6 * 4096 + Math.ceil(10_000 / 4096) * 8 * 512)
      }

      const done = await runGc(e.fs, { ...e.base, yes: true })
      expect(done.totals.freed).toBe(item.bytes)
      expect(await exists(e.fs, dead)).toBe(false)
      expect((await e.fs.lstat(shared))!.nlink).toBe(1)
    })

    it('counts a staging dir with a 10000-byte file as its blocks: whole 4 KiB blocks in memory', async ({ skip }) => {
      const e = await setup(skip, false)
      const dir = `${e.store}/staging/AbCdEf`
      await makeDirs(e.fs, dir)
      await writeFileAll(e.fs, `${dir}/layer.tar`, new Uint8Array(10_000).fill(3))
      await e.backdate(dir, OLD)
      const plan = await runGc(e.fs, { ...e.base })
      expect(idsOf(plan)).toEqual([`staging-leftover:${dir}`])
      expect(plan.items[0]!.bytes).toBe(await blocksOf(e.fs, dir))
      if (e.fs.kind === 'memory') expect(plan.items[0]!.bytes).toBe(4096 + Math.ceil(10_000 / 4096) * 8 * 512)
      expect(plan.totals.bytes).toBe(plan.items[0]!.bytes)
    })
    it('prunes no layer that a dead container it could not remove reads while a process stands in its mount, and exits 4', async ({ skip }) => {
      const e = await setup(skip)
      const stray = await strayLayer(e)
      // Not live (the list is empty), but its init still runs with the rootfs mount as its root.
      const dead = await e.container(['stuck1'], { layers: [e.rootfs(0), stray.variant] })
      await e.mountOverlay(dead.rootfs, [stray.variant, e.rootfs(0)])
      await e.enter(4242, dead.rootfs)
      const kept = await listTree(e.fs, stray.dir, { mtime: true })

      const report = await runGc(e.fs, { ...e.base, procRoot: e.proc, yes: true, pruneLayers: true })
      expect(report.exitCode).toBe(4)
      const status = (id: string): string | undefined => report.items.find((i) => i.id === id)?.status
      expect(status(`orphan-mount:${dead.rootfs}`)).toBe('refused')
      expect(status(`container-not-live:${dead.dir}`)).toBe('refused')
      expect(report.items.find((i) => i.id === `orphan-mount:${dead.rootfs}`)!.error).toMatch(/pid 4242/)
      expect(report.items.find((i) => i.id === `container-not-live:${dead.dir}`)!.error).toMatch(/pid 4242/)
      // The mount has a user, so the container pins its layers: the stray one is not planned, or is refused.
      expect(report.items.filter((i) => i.code === 'layer-unreferenced' && i.status !== 'refused')).toEqual([])
      expect(report.totals).toMatchObject({ collected: 0, freed: 0 })
      expect(report.totals.left).toBe(report.items.length)

      // The layer is whole, the container and its mount are still there, and the mount still reads the layer.
      expect(await listTree(e.fs, stray.dir, { mtime: true })).toBe(kept)
      expect(await exists(e.fs, dead.dir)).toBe(true)
      expect(await mountsUnder(e.fs, s.root)).toEqual([dead.rootfs])
      expect(new TextDecoder().decode(await readFileLimited(e.fs, `${dead.rootfs}/opt/tool`))).toBe('read by a container gc cannot remove\n')

      // Once the process is gone, the mount, the container and then the layer go, in one run.
      await e.fs.unlink(`${e.proc}/4242/root`)
      const after = await runGc(e.fs, { ...e.base, procRoot: e.proc, yes: true, pruneLayers: true })
      expect(after.items.map((i) => [i.id, i.status]).sort()).toEqual(
        [
          [`container-not-live:${dead.dir}`, 'collected'],
          [`layer-unreferenced:${stray.dir}`, 'collected'],
          [`orphan-mount:${dead.rootfs}`, 'collected'],
        ].sort(),
      )
      expect(after.exitCode).toBe(0)
      expect(await exists(e.fs, stray.dir)).toBe(false)
      expect(await mountsUnder(e.fs, s.root)).toEqual([])
    })

    it('refuses to prune a layer a busy dead container still names, with exit 4, and takes both on the next run', async ({ skip }) => {
      const e = await setup(skip, false)
      const stray = await strayLayer(e)
      const dead = await e.container(['busy1'], { layers: [e.rootfs(0), stray.variant] })
      const busy = failing(e.fs, (op, args) => (op === 'rename' || op === 'rmdir') && args[0] === dead.dir)

      const first = await runGc(busy, { ...e.base, yes: true, pruneLayers: true })
      // Planned: the container goes first, so the layer it pins is judged garbage; asked again at the move, it is not.
      expect(first.items.map((i) => [i.id, i.status])).toEqual([
        [`container-not-live:${dead.dir}`, 'deferred'],
        [`layer-unreferenced:${stray.dir}`, 'refused'],
      ])
      expect(first.items[0]!.error).toMatch(/EBUSY/)
      expect(first.items[1]!.error).toMatch(/busy1/)
      expect(first.exitCode).toBe(4)
      expect(first.totals).toMatchObject({ items: 2, collected: 0, freed: 0, left: 2 })
      expect(await exists(e.fs, dead.dir)).toBe(true)
      expect(await exists(e.fs, `${stray.variant}/opt/tool`)).toBe(true)
      expect(await names(e.fs, `${e.store}/gc`)).toEqual([])
      expect(await trashOf(e.fs, e.store)).toEqual([])

      const second = await runGc(e.fs, { ...e.base, yes: true, pruneLayers: true })
      expect(second.items.map((i) => [i.id, i.status])).toEqual([
        [`container-not-live:${dead.dir}`, 'collected'],
        [`layer-unreferenced:${stray.dir}`, 'collected'],
      ])
      expect(second.exitCode).toBe(0)
      expect(await exists(e.fs, dead.dir)).toBe(false)
      expect(await exists(e.fs, stray.dir)).toBe(false)
      for (const i of [0, 1, 2]) expect(await exists(e.fs, e.rootfs(i))).toBe(true)
    })

    it('throws a usage error (exit 16) naming --work-dir for --prune-layers without a work dir, and changes nothing', async ({ skip }) => {
      const e = await setup(skip, false)
      await strayLayer(e)
      const before = await snapshot(e)
      for (const yes of [false, true]) {
        const err = (await runGc(e.fs, { store: e.store, knownContainers: e.known, pruneLayers: true, yes }).catch((x: unknown) => x)) as LayerfsckError
        expect(err).toBeInstanceOf(Error)
        expect(err.exitCode).toBe(16)
        expect(err.message).toMatch(/--work-dir/)
      }
      expect(await snapshot(e)).toBe(before)
      // Without --prune-layers, no work dir is fine.
      expect((await runGc(e.fs, { store: e.store, knownContainers: e.known })).exitCode).toBe(0)
    })

    it('leaves one item an errno other than EBUSY stops as refused with the errno, collects the rest, and exits 4', async ({ skip }) => {
      const e = await setup(skip, false)
      const staging = `${e.store}/staging`
      await makeDirs(e.fs, `${staging}/Old111/usr`)
      await writeFileAll(e.fs, `${staging}/Old111/usr/partial`, 'y'.repeat(9000))
      await makeDirs(e.fs, `${staging}/Old222`)
      await writeFileAll(e.fs, `${staging}/Old222/blob.tar`, 'z'.repeat(5000))
      await makeDirs(e.fs, `${staging}/Old333`)
      await writeFileAll(e.fs, `${staging}/Old333/blob.tar`, 'w'.repeat(5000))
      for (const d of ['Old111', 'Old222', 'Old333']) await e.backdate(`${staging}/${d}`, OLD)
      await makeDirs(e.fs, `${e.store}/gc/${HEX}.1700000000000000000/rootfs`)
      const kept = await listTree(e.fs, `${staging}/Old222`, { mtime: true })
      // Old222 cannot be moved out (an immutable dir, a read-only bind); Old333's file cannot be deleted in the trash.
      const stuck = failing(
        e.fs,
        (op, args) => (op === 'rename' && args[0] === `${staging}/Old222`) || (op === 'unlink' && String(args[0]).endsWith('/blob.tar') && String(args[0]).includes('/.layerfsck/trash/')),
        'EPERM',
      )

      const first = await runGc(stuck, { ...e.base, yes: true })
      expect(first.items.map((i) => [i.id, i.status]).sort()).toEqual(
        [
          [`gc-leftover:${e.store}/gc/${HEX}.1700000000000000000`, 'collected'],
          [`staging-leftover:${staging}/Old111`, 'collected'],
          [`staging-leftover:${staging}/Old222`, 'refused'],
          [`staging-leftover:${staging}/Old333`, 'refused'],
        ].sort(),
      )
      for (const i of first.items.filter((i) => i.status === 'refused')) expect(i.error).toMatch(/EPERM/)
      expect(first.items.find((i) => i.path === `${staging}/Old222`)!.error).toContain(`${staging}/Old222`)
      expect(first.exitCode).toBe(4)
      expect(first.totals).toMatchObject({ items: 4, collected: 2, left: 2 })
      expect(first.next.some((n) => n.includes('run gc again'))).toBe(true)
      // Old222 was never moved, and nothing of it went; Old333 waits in the trash, for the next run to finish.
      expect(await listTree(e.fs, `${staging}/Old222`, { mtime: true })).toBe(kept)
      expect(await names(e.fs, staging)).toEqual(['Old222'])
      expect(await trashOf(e.fs, e.store)).toHaveLength(1)

      const second = await runGc(e.fs, { ...e.base, yes: true })
      expect(second.items.map((i) => [i.code, i.status]).sort()).toEqual([
        ['staging-leftover', 'collected'],
        ['trash-leftover', 'collected'],
      ])
      expect(second.exitCode).toBe(0)
      expect(await names(e.fs, staging)).toEqual([])
      expect(await exists(e.fs, `${e.store}/.layerfsck/trash`)).toBe(false)
    })

    it("removes the work dir's .layerfsck with its trash once a dead container is gone, and an empty one left by a killed run", async ({ skip }) => {
      const e = await setup(skip)
      const dead = await e.container(['dead1'])
      await e.mountOverlay(dead.rootfs, [e.rootfs(1), e.rootfs(0)])
      await makeDirs(e.fs, `${dead.scratch}/upperdir`)
      await writeFileAll(e.fs, `${dead.scratch}/upperdir/file`, 'written by the container')
      const spy = recording(e.fs)
      const report = await runGc(spy.fs, { ...e.base, yes: true })
      expect(report.items.map((i) => [i.id, i.status])).toEqual([
        [`orphan-mount:${dead.rootfs}`, 'collected'],
        [`container-not-live:${dead.dir}`, 'collected'],
      ])
      // The container went through the provisioner dir's trash, and the trash and layerfsck's dir went after it.
      expect(spy.removed).toContain(`${e.provisioner}/.layerfsck/trash`)
      expect(spy.removed).toContain(`${e.provisioner}/.layerfsck`)
      expect(await exists(e.fs, `${e.provisioner}/.layerfsck`)).toBe(false)
      expect(await names(e.fs, e.provisioner)).toEqual(['containers'])
      expect(await exists(e.fs, dead.dir)).toBe(false)

      // A run killed right after it made the dir leaves it empty: check calls it garbage, and gc takes it.
      await e.fs.mkdir(`${e.provisioner}/.layerfsck`, 0o700)
      const check = await runCheck(e.fs, { ...e.base, mode: 'no' })
      expect(check.passes.flatMap((p) => p.findings).filter((f) => f.code === 'trash-leftover').map((f) => f.path)).toEqual([`${e.provisioner}/.layerfsck`])
      const again = await runGc(e.fs, { ...e.base, yes: true })
      expect(again.items.map((i) => [i.id, i.status])).toEqual([[`trash-leftover:${e.provisioner}/.layerfsck`, 'collected']])
      expect(await names(e.fs, e.provisioner)).toEqual(['containers'])
    })

    it('counts as freed only what was collected when an item is deferred, and counts every planned item', async ({ skip }) => {
      const e = await setup(skip, false)
      const dead = await e.container(['busy1'])
      await makeDirs(e.fs, `${dead.scratch}/upperdir`)
      await writeFileAll(e.fs, `${dead.scratch}/upperdir/file`, 'x'.repeat(20_000))
      const staging = `${e.store}/staging`
      for (const [d, n] of [['Old111', 9000], ['Old222', 5000]] as const) {
        await makeDirs(e.fs, `${staging}/${d}`)
        await writeFileAll(e.fs, `${staging}/${d}/blob.tar`, 'z'.repeat(n))
        await e.backdate(`${staging}/${d}`, OLD)
      }
      const plan = await runGc(e.fs, { ...e.base })
      const busy = failing(e.fs, (op, args) => (op === 'rename' || op === 'rmdir') && args[0] === dead.dir)
      const events: GcEvent[] = []
      const report = await runGc(busy, { ...e.base, yes: true, onEvent: (ev) => events.push(ev) })

      expect(idsOf(report)).toEqual(idsOf(plan))
      const deferred = report.items.filter((i) => i.status === 'deferred')
      const collected = report.items.filter((i) => i.status === 'collected')
      expect(deferred.map((i) => i.id)).toEqual([`container-not-live:${dead.dir}`])
      expect(collected).toHaveLength(2)
      expect(deferred[0]!.bytes).toBeGreaterThan(20_000)
      expect(report.exitCode).toBe(4)
      // Every planned item counts, deferred or not; only what went counts as freed.
      expect(report.totals).toMatchObject({ items: 3, collected: 2, left: 1 })
      expect(report.totals.bytes).toBe(report.items.reduce((n, i) => n + i.bytes, 0))
      expect(report.totals.bytes).toBe(plan.totals.bytes)
      expect(report.totals.freed).toBe(collected.reduce((n, i) => n + i.bytes, 0))
      expect(report.totals.freed).toBe(report.totals.bytes - deferred[0]!.bytes)
      const last = events.filter((ev) => ev.event === 'item').at(-1) as Extract<GcEvent, { event: 'item' }>
      expect(last.freedSoFar).toBe(report.totals.freed)
    })

    it('counts nothing as freed for a file a collected staging dir shares by a hard link with a deferred container', async ({ skip }) => {
      const e = await setup(skip, false)
      const dead = await e.container(['busy1'])
      const upper = `${dead.scratch}/upperdir`
      await makeDirs(e.fs, upper)
      const staging = `${e.store}/staging/Old111`
      await makeDirs(e.fs, staging)
      await writeFileAll(e.fs, `${staging}/blob.tar`, new Uint8Array(100_000).fill(5))
      await writeFileAll(e.fs, `${staging}/own.tar`, new Uint8Array(10_000).fill(6))
      // One inode in both: it is freed only when both go.
      await e.fs.link(`${staging}/blob.tar`, `${upper}/blob.tar`)
      await e.backdate(staging, OLD)
      const goes = await blocksOf(e.fs, staging, [`${staging}/blob.tar`])
      const busy = failing(e.fs, (op, args) => (op === 'rename' || op === 'rmdir') && args[0] === dead.dir)

      const report = await runGc(busy, { ...e.base, yes: true })
      expect(report.items.map((i) => [i.id, i.status]).sort()).toEqual(
        [
          [`container-not-live:${dead.dir}`, 'deferred'],
          [`staging-leftover:${staging}`, 'collected'],
        ].sort(),
      )
      expect(report.exitCode).toBe(4)
      // Planned, both together free the shared inode; only the staging dir went, and the inode stays with the container.
      expect(report.totals.bytes).toBe(report.items.reduce((n, i) => n + i.bytes, 0))
      expect(report.totals.freed).toBe(goes)
      expect(report.totals.freed).toBeLessThan(100_000)
      expect((await e.fs.lstat(`${upper}/blob.tar`))!.nlink).toBe(1)
    })

    it('acts, after a yes at the prompt, only on what the plan it showed held', async ({ skip }) => {
      const e = await setup(skip, false)
      const dead = await e.container(['dead1'])
      await makeDirs(e.fs, `${dead.scratch}/upperdir`)
      await writeFileAll(e.fs, `${dead.scratch}/upperdir/file`, 'x'.repeat(20_000))
      const staging = `${e.store}/staging`
      await makeDirs(e.fs, `${staging}/Old111`)
      await writeFileAll(e.fs, `${staging}/Old111/blob.tar`, 'z'.repeat(9000))
      await e.backdate(`${staging}/Old111`, OLD)
      let shown: GcReport | undefined
      const report = await runGc(e.fs, {
        ...e.base,
        confirm: async (p) => {
          shown = structuredClone(p)
          // While the operator reads the plan, another staging dir becomes garbage (and a second dead container).
          await makeDirs(e.fs, `${staging}/Late22`)
          await writeFileAll(e.fs, `${staging}/Late22/blob.tar`, 'w'.repeat(7000))
          await e.backdate(`${staging}/Late22`, OLD)
          await e.container(['late1'])
          return true
        },
      })
      expect(shown).toBeDefined()
      expect(shown!.acted).toBe(false)
      expect(idsOf(shown!)).toEqual([`container-not-live:${dead.dir}`, `staging-leftover:${staging}/Old111`])
      expect(report.acted).toBe(true)
      expect(report.exitCode).toBe(0)

      // What was shown was done; what was found after is listed as not confirmed, and left.
      const acted = report.items.filter((i) => i.status !== 'not-confirmed')
      expect(acted.map((i) => i.id).sort()).toEqual(idsOf(shown!))
      expect(acted.every((i) => i.status === 'collected')).toBe(true)
      expect(report.items.filter((i) => i.status === 'not-confirmed').map((i) => i.id).sort()).toEqual(
        [`container-not-live:${e.provisioner}/containers/late1`, `staging-leftover:${staging}/Late22`].sort(),
      )
      expect(await exists(e.fs, dead.dir)).toBe(false)
      expect(await names(e.fs, staging)).toEqual(['Late22'])
      expect(await names(e.fs, `${e.provisioner}/containers`)).toEqual(['late1'])
      // Totals are over this run's items: what was not confirmed is no part of them.
      expect(report.totals).toMatchObject({ items: 2, collected: 2, left: 0 })
      expect(report.totals.bytes).toBe(acted.reduce((n, i) => n + i.bytes, 0))
      expect(report.totals.freed).toBe(report.totals.bytes)
      expect(report.totals.bytes).toBe(shown!.totals.bytes)
    })
  })
}
