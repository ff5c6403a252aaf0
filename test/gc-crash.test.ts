/**
 * Crash tests for `layerfsck gc`: for every crash point N of a small gc run,
 * in the SIGKILL and the power-loss model, crash after N mutating calls,
 * recover (the reboot), run the same gc again, and compare the whole tree
 * with an uninterrupted run's: every entry with its kind, mode, owner,
 * content, xattrs, link identity and mtime, nothing left out. Whatever a
 * crash leaves (a trash entry, a gc/ mark, a journal, a half-removed
 * container) must be finished by the re-run, so the listing has no
 * `.layerfsck/trash` entry and no journal at the end.
 *
 * In memory the clock is frozen (Date only: timers run as ever): the setup at
 * one instant, every gc run at a later one, so a directory gc touched and
 * one it did not tell apart, and two runs that touched the same directories
 * end equal to the nanosecond. On disk the kernel's clock stamps what gc
 * touches: there every entry is backdated to one instant after the setup,
 * and an mtime newer than that is listed as "touched by the run" (which
 * entries were touched is still compared, and every other mtime exactly).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { CrashError, withCrashAfter, type CrashModel } from '../src/fs/crash.js'
import { makeDirs, readFileLimited, writeFileAll } from '../src/fs/io.js'
import type { FsPort } from '../src/fs/port.js'
import { removeTree } from '../src/fs/remove.js'
import { walkTree } from '../src/fs/walk.js'
import { runGc, type GcOptions, type GcReport } from '../src/gc/run.js'
import { describeTree, formatTreeSpec } from '../src/testing/tree-spec.js'
import { diskSubject, memorySubject, rootSkipReason, type Subject } from './support/adapters.js'
import { loadDockerFixture } from './support/docker-fixture.js'
import { makeGcEnv, ROOTFS_ID, VARIANT } from './support/gc-env.js'

/** When every setup happens (memory), and when every gc run happens: two hours later. */
const SETUP_AT = new Date('2026-06-01T00:00:00Z')
const GC_AT = new Date('2026-06-01T02:00:00Z')
const now = (): Date => new Date(GC_AT)
/** On disk every entry of a setup gets this mtime (2023-11-14), so what gc touched stands out. */
const SETUP_NS = 1_700_000_000_123_456_789n

const HEX = 'f'.repeat(64)
const HEX_GC = 'e'.repeat(64)

/** Builds a store on a subject; resolves to what every gc of it reads with (store, work dir, liveness). */
type Setup = (s: Subject) => Promise<GcOptions>

// --- listings ----------------------------------------------------------------

/**
 * The whole tree under `root`, every entry and every field describeTree
 * knows, mtimes included, then the mount points below it. `touchedAfter` (disk): an mtime newer than it is
 * written as `touched`, since the kernel's clock cannot be fixed.
 */
async function listing(fs: FsPort, root: string, touchedAfter?: bigint): Promise<string> {
  const entries = await describeTree(fs, root, { mtime: true, content: 'hash' })
  let text = formatTreeSpec(entries)
  if (touchedAfter !== undefined) {
    text = text.replace(/ mtime=(\d+)/g, (whole, ns: string) => (BigInt(ns) > touchedAfter ? ' mtime=touched' : whole))
  }
  // What is mounted below it belongs to the end state too: the live rootfs stays mounted, a dead one does not.
  const mounts = (await fs.mounts()).filter((m) => m.mountPoint.startsWith(`${root}/`)).map((m) => `mounted ${m.mountPoint.slice(root.length + 1)} ${m.fsType}`)
  return [text, ...mounts.sort()].join('\n')
}

/** Sets the mtime of everything under `root` (and `root`) to `ns`, deepest first. */
async function backdateAll(fs: FsPort, root: string, ns: bigint): Promise<void> {
  const paths: string[] = []
  for await (const e of walkTree(fs, root)) paths.push(e.path)
  for (const p of paths.reverse()) await fs.lutimes(p, ns, ns)
  await fs.lutimes(root, ns, ns)
}

// --- the Mesos store ----------------------------------------------------------

/**
 * A small store and agent work dir: wh-third imported; one live container
 * (its rootfs mounted when `mounts`); a dead container whose rootfs is
 * mounted through a Mesos links temp dir, with a nested child of its own
 * and the dead one's writes in its scratch; two staging dirs a crashed pull
 * left; a gc/ mark prune never swept; a layer no image names (for
 * --prune-layers); and a storedImages checkpoint temp file.
 */
function mesosSetup(mounts: boolean): Setup {
  return async (s) => {
    const e = await makeGcEnv(s)
    const { fs, store } = e
    const wh = [2, 1, 0].map((i) => e.rootfs(i))

    const live = await e.container(['live1'])
    if (mounts) await e.mountOverlay(live.rootfs, wh)
    await e.live(['live1'])

    const dead = await e.container(['dead1'])
    await makeDirs(fs, `${dead.scratch}/upperdir/var/log`)
    await writeFileAll(fs, `${dead.scratch}/upperdir/var/log/app.log`, 'x'.repeat(3000))
    if (mounts) {
      await e.mountOverlay(dead.rootfs, wh, `${e.tmp}/AbC123`)
      await fs.symlink(`${e.tmp}/AbC123`, `${dead.scratch}/links`)
    }
    const child = await e.container(['dead1', 'child1'])
    await makeDirs(fs, `${child.scratch}/upperdir`)
    await writeFileAll(fs, `${child.scratch}/upperdir/written`, 'by the nested container\n')

    await makeDirs(fs, `${store}/staging/Old111/${HEX}/rootfs/usr`)
    await writeFileAll(fs, `${store}/staging/Old111/${HEX}/rootfs/usr/partial`, 'y'.repeat(2000))
    await makeDirs(fs, `${store}/staging/Old222`)
    await writeFileAll(fs, `${store}/staging/Old222/blob.tar`, 'z'.repeat(1000))

    await makeDirs(fs, `${store}/gc/${HEX_GC}.1700000000000000000/rootfs/bin`)
    await writeFileAll(fs, `${store}/gc/${HEX_GC}.1700000000000000000/rootfs/bin/sh`, 'swept half\n')

    await makeDirs(fs, `${store}/layers/${HEX}/${VARIANT}/opt`)
    await writeFileAll(fs, `${store}/layers/${HEX}/${VARIANT}/opt/tool`, 'a tool of a pull that never finished\n')

    // The temp file state::checkpoint writes before it renames it over storedImages.
    await writeFileAll(fs, `${store}/Qw3rT9`, await readFileLimited(fs, `${store}/storedImages`))

    return { ...e.base }
  }
}

const MESOS_ITEMS = (mounts: boolean): string[] => ['checkpoint-temp', 'container-not-live', 'gc-leftover', 'layer-unreferenced', ...(mounts ? ['orphan-mount'] : []), 'staging-leftover', 'staging-leftover']

// --- the Docker data root -------------------------------------------------------

const ORPHAN = 'a'.repeat(64)
const ORPHAN_LINK = 'AAAAAAAAAAAAAAAAAAAAAAAAAA'
/** The dir only a -removing record names, and its short link. */
const REMOVED = 'b'.repeat(64)
const REMOVED_LINK = 'BBBBBBBBBBBBBBBBBBBBBBBBBB'
const REMOVED_CHAIN = 'c'.repeat(64)
/** stringid.GenerateRandomID(): 64 hex, as dockerd names the middle of a -removing record. */
const RANDOM_ID = '5f0c3a9e17b24d6c8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abc'
const MISSING = 'd'.repeat(64)
const DANGLING_LINK = 'DDDDDDDDDDDDDDDDDDDDDDDDDD'
const WRITE_SET = 'write-set-382917465'

/** A layer dir as an interrupted pull or rm leaves it: diff/ (a hard link in it), work/, its link file and l/ link. */
async function plantLayerDir(fs: FsPort, drv: string, id: string, link: string): Promise<void> {
  const dir = `${drv}/${id}`
  await makeDirs(fs, `${dir}/diff/data`)
  await writeFileAll(fs, `${dir}/diff/data/a`, '0123456789'.repeat(50))
  await fs.link(`${dir}/diff/data/a`, `${dir}/diff/data/b`)
  await writeFileAll(fs, `${dir}/diff/c`, 'x'.repeat(700))
  await makeDirs(fs, `${dir}/work/work`)
  await writeFileAll(fs, `${dir}/link`, link)
  await fs.symlink(`../${id}/diff`, `${drv}/l/${link}`)
}

/**
 * The overlay2 fixture data root, nothing live, no dockerd, with an orphan
 * layer dir, a -removing record whose dir nothing else names, a write-set
 * dir and a dangling short link.
 */
const dockerSetup: Setup = async (s) => {
  const { fs } = s
  const store = `${s.root}/data`
  await fs.mkdir(store, 0o710)
  await loadDockerFixture(fs, 'overlay2', store)
  const drv = `${store}/overlay2`
  const layerdb = `${store}/image/overlay2/layerdb`
  const known = `${s.root}/known-containers`
  await writeFileAll(fs, known, '')
  const proc = `${s.root}/proc`
  await makeDirs(fs, proc)
  const filesystems = `${s.root}/filesystems`
  await writeFileAll(fs, filesystems, 'nodev\ttmpfs\nnodev\toverlay\n\text4\n')

  await plantLayerDir(fs, drv, ORPHAN, ORPHAN_LINK)
  await plantLayerDir(fs, drv, REMOVED, REMOVED_LINK)
  const record = `${layerdb}/sha256/${REMOVED_CHAIN}-${RANDOM_ID}-removing`
  await makeDirs(fs, record)
  await writeFileAll(fs, `${record}/cache-id`, REMOVED)
  await writeFileAll(fs, `${record}/diff`, `sha256:${REMOVED_CHAIN}`)
  await writeFileAll(fs, `${record}/size`, '1200')
  const writeSet = `${layerdb}/tmp/${WRITE_SET}`
  await makeDirs(fs, writeSet)
  await writeFileAll(fs, `${writeSet}/cache-id`, ORPHAN)
  await writeFileAll(fs, `${writeSet}/diff`, `sha256:${'9'.repeat(64)}`)
  await fs.symlink(`../${MISSING}/diff`, `${drv}/l/${DANGLING_LINK}`)
  return { store, knownContainers: known, procRoot: proc, procFilesystems: filesystems }
}

const DOCKER_ITEMS = ['docker-layer-dir-orphan', 'docker-link-dangling', 'docker-removing-record', 'docker-write-set-leftover']

// --- the crash loop ------------------------------------------------------------

/** A place to build one store: a fresh memory filesystem, or the same path on disk emptied. */
interface Place {
  subject(): Promise<Subject>
  /** What a listing treats as "touched by the run" (disk only). */
  touchedAfter: bigint | undefined
}

/**
 * gc --yes (--prune-layers for Mesos) as every run here makes it: a grace of 0 unless
 * `defaultGrace` (then the hour, which the setup, two hours old, is past, and
 * what a crash leaves, new at the re-run, is not).
 */
const gcOptions = (base: GcOptions, defaultGrace = false): GcOptions => ({
  ...base,
  yes: true,
  // Layers are pruned where there are containers to say which are in use (a Mesos work dir); Docker's are not gc's.
  pruneLayers: base.workDir !== undefined,
  ...(defaultGrace ? {} : { graceMs: 0 }),
  now,
})

const codesOf = (r: GcReport): string[] => r.items.map((i) => i.code).sort()

/** gc again after the reboot: a run that leaves an item (exit 4, say a busy one) may take a second. */
async function rerun(fs: FsPort, options: GcOptions, what: string): Promise<GcReport> {
  let report = await runGc(fs, options)
  if (report.exitCode === 4) report = await runGc(fs, options)
  expect(report.exitCode, `${what}: ${JSON.stringify(report.items.filter((i) => i.status === 'deferred' || i.status === 'refused'))}`).toBe(0)
  expect(report.items.filter((i) => i.status !== 'collected' && i.status !== 'already-gone'), what).toEqual([])
  return report
}

interface Reference {
  expected: string
  calls: number
  journal: readonly string[]
}

async function reference(place: Place, setup: Setup, items: string[], defaultGrace = false): Promise<Reference> {
  const s = await place.subject()
  const base = await built(place, s, setup)
  const counting = withCrashAfter(s.fs, Infinity)
  const report = await runGc(counting, gcOptions(base, defaultGrace))
  expect(report.exitCode).toBe(0)
  expect(codesOf(report)).toEqual(items)
  expect(report.items.every((i) => i.status === 'collected')).toBe(true)
  const expected = await listing(s.fs, s.root, place.touchedAfter)
  // What gc leaves is the store without its garbage: no trash, no journal; and only the live rootfs mounted.
  expect(expected).not.toMatch(/\.layerfsck\/(trash|journal)/)
  expect(expected.split('\n').filter((l) => l.startsWith('mounted '))).toEqual(items.includes('orphan-mount') ? [`mounted agent/provisioner/containers/live1/backends/overlay/rootfses/${ROOTFS_ID} overlay`] : [])
  // And a second run finds nothing.
  expect((await runGc(s.fs, gcOptions(base, defaultGrace))).items).toEqual([])
  return { expected, calls: counting.steps, journal: [...counting.journal] }
}

async function built(place: Place, s: Subject, setup: Setup): Promise<GcOptions> {
  // In memory the (fake) clock is set; on disk it is the kernel's, and the setup is backdated instead.
  if (place.touchedAfter === undefined) vi.setSystemTime(SETUP_AT)
  const base = await setup(s)
  if (place.touchedAfter !== undefined) await backdateAll(s.fs, s.root, place.touchedAfter)
  else vi.setSystemTime(GC_AT)
  return base
}

/**
 * Every crash point from 0 to `calls` by `stride`: crash, reboot, gc again,
 * compare with the reference. Failures are collected and reported together,
 * each with the call the crash came before and the lines that differ.
 */
async function crashLoop(
  place: Place,
  setup: Setup,
  model: CrashModel,
  ref: Reference,
  stride: number,
  defaultGrace = false,
): Promise<{ points: number; crashes: number; lost: number }> {
  let points = 0
  let crashes = 0
  let lost = 0
  const failures: string[] = []
  for (let n = 0; n <= ref.calls; n += stride) {
    const s = await place.subject()
    const base = await built(place, s, setup)
    const crashing = withCrashAfter(s.fs, n, { model })
    let thrown: unknown
    try {
      await runGc(crashing, gcOptions(base, defaultGrace))
    } catch (err) {
      thrown = err
    }
    const at = n < ref.calls ? `before call ${n + 1} of ${ref.calls} (${ref.journal[n]})` : `after all ${ref.calls} calls`
    const what = `a ${model} ${at}`
    if (n < ref.calls) {
      expect(thrown, `${what}: gc must fail with the crash itself`).toBeInstanceOf(CrashError)
      crashes += 1
    } else expect(thrown, what).toBeUndefined()
    points += 1
    lost += (await crashing.recover()).length
    try {
      await rerun(s.fs, gcOptions(base, defaultGrace), `the re-run after ${what}`)
      const got = await listing(s.fs, s.root, place.touchedAfter)
      if (got !== ref.expected) failures.push(`${what}:\n${diff(ref.expected, got)}`)
      // A third run has nothing left to do.
      expect((await runGc(s.fs, gcOptions(base, defaultGrace))).items, `the run after the re-run after ${what}`).toEqual([])
    } catch (err) {
      failures.push(`${what}: ${(err as Error).message}`)
    }
  }
  expect(failures, failures.join('\n\n')).toEqual([])
  return { points, crashes, lost }
}

/** The lines only one of two listings has, marked - (expected) and + (found). */
function diff(expected: string, got: string): string {
  const a = new Set(expected.split('\n'))
  const b = new Set(got.split('\n'))
  return [...[...a].filter((l) => !b.has(l)).map((l) => `  - ${l}`), ...[...b].filter((l) => !a.has(l)).map((l) => `  + ${l}`)].join('\n')
}

// --- the cases -------------------------------------------------------------------

const memoryPlace: Place = { subject: () => memorySubject(), touchedAfter: undefined }

describe('gc after a crash at any point, on the memory adapter', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  const MESOS = 'a Mesos store with a live and a dead container, mounts, staging dirs, a gc/ mark, an unused layer and a checkpoint temp file'
  const cases: { name: string; setup: Setup; items: string[]; defaultGrace?: boolean }[] = [
    { name: `${MESOS}, --grace 0`, setup: mesosSetup(true), items: MESOS_ITEMS(true) },
    // What a crash leaves is brand new at the re-run: the re-run must finish it all the same.
    { name: `${MESOS}, all of it two hours old, the default grace`, setup: mesosSetup(true), items: MESOS_ITEMS(true), defaultGrace: true },
    { name: 'a Docker data root with an orphan layer dir, a -removing record, a write-set and a dangling short link, --grace 0', setup: dockerSetup, items: DOCKER_ITEMS },
  ]
  for (const c of cases) {
    for (const model of ['sigkill', 'power-loss'] as const) {
      it(`ends where an uninterrupted gc --yes ends: ${c.name}, ${model}`, async () => {
        const ref = await reference(memoryPlace, c.setup, c.items, c.defaultGrace)
        expect(ref.calls).toBeGreaterThan(20)
        const { points, crashes, lost } = await crashLoop(memoryPlace, c.setup, model, ref, 1, c.defaultGrace)
        expect(points).toBe(ref.calls + 1)
        expect(crashes).toBe(ref.calls)
        if (model === 'power-loss') expect(lost).toBeGreaterThan(0)
      }, 600_000)
    }
  }
})

describe('gc after a crash at every third point, on the disk adapter', () => {
  let s: Subject
  beforeEach(async () => {
    s = await diskSubject()
  })
  afterEach(async () => {
    await s.cleanup()
  })

  it('ends where an uninterrupted gc --yes --prune-layers ends: a Mesos store without mounts, sigkill', async ({ skip }) => {
    if (!s.privileged) return skip(rootSkipReason())
    // One path for every run: checkpoints and links name absolute paths, so the listings compare only there.
    const root = `${s.root}/run`
    const place: Place = {
      async subject() {
        await removeTree(s.fs, root)
        await s.fs.mkdir(root, 0o755)
        return { ...s, root }
      },
      touchedAfter: SETUP_NS,
    }
    const ref = await reference(place, mesosSetup(false), MESOS_ITEMS(false))
    expect(ref.calls).toBeGreaterThan(20)
    const { crashes } = await crashLoop(place, mesosSetup(false), 'sigkill', ref, 3)
    expect(crashes).toBe(Math.floor((ref.calls - 1) / 3) + 1)
  }, 600_000)
})
