/**
 * Crash tests for `migrate`: for every crash point N of a small migration,
 * in the SIGKILL and the power-loss model, crash after N mutating calls,
 * recover (the reboot), run the same migrate again, and compare the store
 * with an uninterrupted run's: kinds, modes, owners, xattrs, rdev, content,
 * link structure, and ns mtimes wherever a layer's content is.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { migrate, type MigrateOptions } from '../src/families/mesos/migrate.js'
import { MIGRATIONS } from '../migrations/index.js'
import { VARIANT_DIRS } from '../src/families/mesos/formats/index.js'
import { generateMesosStore, type GenerateOptions } from '../src/families/mesos/testing.js'
import { CrashError, withCrashAfter } from '../src/fs/crash.js'
import type { FsPort } from '../src/fs/port.js'
import { removeTree } from '../src/fs/remove.js'
import { walkTree } from '../src/fs/walk.js'
import { describeTree, formatTreeSpec } from '../src/testing/tree-spec.js'
import { diskSubject, rootSkipReason, SUBJECTS, type Subject } from './support/adapters.js'

const FIXED_NOW = (): Date => new Date('2026-06-01T00:00:00Z')
/** Every generated entry gets this mtime, so two generated stores are equal to the nanosecond. */
const GENERATED_NS = 1_700_000_000_123_456_789n

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
/** Paths inside a layer's variant tree: their mtimes are the layer's, and must survive exactly. */
const IN_VARIANT = new RegExp(`^layers/[^/]+/(${VARIANT_DIRS.map(escapeRe).join('|')})(/|$)`)

async function generate(fs: FsPort, store: string, options: GenerateOptions): Promise<void> {
  await generateMesosStore(fs, store, options)
  const paths = [store]
  for await (const e of walkTree(fs, store)) paths.push(e.path)
  for (const p of paths) await fs.lutimes(p, GENERATED_NS, GENERATED_NS)
}

/**
 * The store as a listing: everything describeTree sees, with mtimes inside
 * variant trees (the directories around them change with every rename, and
 * say when the run happened, not what it made).
 */
async function snapshot(fs: FsPort, store: string, mtimes: boolean): Promise<string> {
  const entries = await describeTree(fs, store, { mtime: true })
  for (const e of entries) if (!mtimes || !IN_VARIANT.test(e.path)) delete e.mtimeNs
  return formatTreeSpec(entries)
}

interface Scenario {
  name: string
  store: GenerateOptions
  migrate: Omit<MigrateOptions, 'store'>
  /** The codec keeps a directory's mtime across an in-place edit only when not interrupted in between (best effort). */
  mtimes: boolean
  /** Must hold after every crash, before the re-run. */
  invariant?: (fs: FsPort, store: string) => Promise<void>
}

/** Removing rootfs while rootfs.overlay still holds aufs whiteouts would leave a 1.1.0 layer no sound tree. */
async function rootfsStaysUntilFormatDone(fs: FsPort, store: string): Promise<void> {
  const done = await MIGRATIONS[0]!.isDone({ fs, store })
  if (done) return
  for (const layer of await fs.readdir(`${store}/layers`)) {
    expect((await fs.readdir(`${store}/layers/${layer.name}`)).map((e) => e.name), `${layer.name} before 0001 is done`).toContain('rootfs')
  }
}

const SCENARIOS: Scenario[] = [
  {
    name: 'an aufs store moved to overlay with --prune-source',
    store: { layers: 2, filesPerLayer: 2, whiteoutsPerLayer: 1, opaquePerLayer: 1, backends: ['aufs'] },
    migrate: { toBackend: 'overlay', pruneSource: true },
    mtimes: true,
  },
  {
    name: 'an overlay store moved back to aufs',
    store: { layers: 2, filesPerLayer: 2, whiteoutsPerLayer: 1, opaquePerLayer: 1, backends: ['overlay'] },
    migrate: { toBackend: 'aufs' },
    mtimes: true,
  },
  {
    name: 'a 1.1.0 store whose overlay layers hold aufs whiteouts, converted in place',
    store: { format: '1.1.0', layers: 2, filesPerLayer: 2, whiteoutsPerLayer: 1, opaquePerLayer: 1, backends: ['overlay'] },
    migrate: { toBackend: 'overlay' },
    mtimes: false,
  },
  {
    name: 'a 1.1.0 store with both variants moved to overlay with --prune-source',
    store: { format: '1.1.0', layers: 2, filesPerLayer: 2, whiteoutsPerLayer: 1, opaquePerLayer: 1, backends: ['aufs', 'overlay'] },
    migrate: { toBackend: 'overlay', pruneSource: true },
    mtimes: false,
    invariant: rootfsStaysUntilFormatDone,
  },
]

for (const { name, make } of SUBJECTS) {
  describe(`migrate after a crash at any point, on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    for (const scenario of SCENARIOS) {
      for (const model of ['sigkill', 'power-loss'] as const) {
        it(`ends where an uninterrupted run ends: ${scenario.name}, ${model}`, async ({ skip }) => {
          if (!s.privileged) return skip(rootSkipReason())
          // Pruning needs to know what the containers read: an agent work dir with none.
          const workDir = `${s.root}/agent`
          await s.fs.mkdir(workDir, 0o755)
          await s.fs.mkdir(`${workDir}/provisioner`, 0o755)
          const run = (port: FsPort, store: string) => migrate(port, { store, now: FIXED_NOW, ...(scenario.migrate.pruneSource ? { workDir } : {}), ...scenario.migrate })

          const reference = `${s.root}/reference`
          await generate(s.fs, reference, scenario.store)
          const counting = withCrashAfter(s.fs, Infinity)
          const done = await run(counting, reference)
          expect(done.exitCode).toBe(0)
          const calls = counting.steps
          const expected = await snapshot(s.fs, reference, scenario.mtimes)

          // Every crash point in memory; on disk, where every call is a real fsync or rename, a spread of them.
          const stride = s.fs.kind === 'memory' ? 1 : model === 'sigkill' ? 5 : 9
          let crashes = 0
          let points = 0
          let lost = 0
          for (let n = 0; n <= calls; n += stride) {
            const store = `${s.root}/crash`
            await removeTree(s.fs, store)
            await generate(s.fs, store, scenario.store)
            const crashing = withCrashAfter(s.fs, n, { model })
            try {
              await run(crashing, store)
            } catch (err) {
              if (!(err instanceof CrashError) && !crashing.crashed) throw err
            }
            if (crashing.crashed) crashes += 1
            if (n < calls) points += 1
            lost += (await crashing.recover()).length
            await scenario.invariant?.(s.fs, store)
            const again = await run(s.fs, store)
            expect(again.exitCode, `the re-run after a ${model} at call ${n}`).toBe(0)
            expect(await snapshot(s.fs, store, scenario.mtimes), `after a ${model} at call ${n} of ${calls}`).toBe(expected)
            // And a third run has nothing left to do.
            expect((await run(s.fs, store)).nothingToDo, `after a ${model} at call ${n}`).toBe(true)
          }
          // Every point before the last call is a crash: the run never gets through it.
          expect(crashes).toBe(points)
          expect(points).toBeGreaterThan(3)
          if (model === 'power-loss') expect(lost).toBeGreaterThan(0)
        }, 300_000)
      }
    }
  })
}

// --- a real process, killed ---------------------------------------------------

const REPO = fileURLToPath(new URL('..', import.meta.url))
const BIN = `${REPO}bin/layerfsck.js`

/** A source file newer than its build, or '' when dist/ is current (npm test builds first). */
async function staleBuild(fs: FsPort): Promise<string> {
  for (const dir of ['src', 'migrations']) {
    for await (const e of walkTree(fs, `${REPO}${dir}`)) {
      if (e.kind !== 'file' || !e.name.endsWith('.ts')) continue
      const built = await fs.lstat(`${REPO}dist/${dir}/${e.rel.replace(/\.ts$/, '.js')}`)
      const source = await fs.lstat(e.path)
      if (built === undefined || source === undefined || built.mtimeNs < source.mtimeNs) return `dist/ is older than ${dir}/${e.rel}; run npm run build (npm test does)`
    }
  }
  return ''
}

/**
 * Runs the built CLI's migrate with --json and SIGKILLs it as soon as an
 * event matches; resolves to whether it was killed (false: it finished first).
 */
function migrateKilledAt(store: string, args: string[], when: (event: Record<string, unknown>) => boolean): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'migrate', '--store', store, '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let buffered = ''
    let killed = false
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString()
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        if (!killed && when(JSON.parse(line) as Record<string, unknown>)) {
          killed = true
          child.kill('SIGKILL')
        }
      }
    })
    child.on('error', reject)
    child.on('close', () => resolve(killed))
  })
}

function migrateToEnd(store: string, args: string[]): Promise<{ code: number | null; last: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'migrate', '--store', store, '--json', ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, last: JSON.parse(out.trimEnd().split('\n').pop()!) as Record<string, unknown> }))
  })
}

describe('a real migrate process SIGKILLed (disk)', () => {
  let s: Subject
  beforeEach(async () => {
    s = await diskSubject()
  })
  afterEach(async () => s.cleanup())

  const KILL_POINTS: [string, (e: Record<string, unknown>) => boolean][] = [
    ['right after planning', (e) => e.type === 'plan'],
    ['while cloning the third layer', (e) => e.type === 'entries' && e.index === 2 && (e.entries as number) > 20],
    ['after the fifth layer', (e) => e.type === 'layer' && e.index === 4],
  ]

  it('ends, re-run, where an uninterrupted run ends, whichever of three points it was killed at', async ({ skip }) => {
    const reason = (await staleBuild(s.fs)) || (s.privileged ? '' : rootSkipReason())
    if (reason) return skip(reason)
    const shape: GenerateOptions = { layers: 6, filesPerLayer: 60, filesPerDir: 20, whiteoutsPerLayer: 3, opaquePerLayer: 2, backends: ['aufs'] }
    const workDir = `${s.root}/agent`
    await s.fs.mkdir(workDir, 0o755)
    await s.fs.mkdir(`${workDir}/provisioner`, 0o755)
    const args = ['--to-backend', 'overlay', '--prune-source', '--work-dir', workDir]
    const reference = `${s.root}/reference`
    await generate(s.fs, reference, shape)
    expect((await migrateToEnd(reference, args)).code).toBe(0)
    // The stamp says when it was written: that one file is compared without its time.
    const expected = (await snapshot(s.fs, reference, true)).replace(/format\.json file [^\n]*/, 'format.json')
    let killedMidway = 0
    let interrupted = 0
    for (const [name, when] of KILL_POINTS) {
      const store = `${s.root}/killed`
      await removeTree(s.fs, store)
      await generate(s.fs, store, shape)
      if (await migrateKilledAt(store, args, when)) killedMidway += 1
      // A journal left behind is a run the kill interrupted, which the re-run must recover.
      if ((await s.fs.lstat(`${store}/.layerfsck/journal`)) !== undefined) interrupted += 1
      const again = await migrateToEnd(store, args)
      expect(again.code, name).toBe(0)
      expect((await snapshot(s.fs, store, true)).replace(/format\.json file [^\n]*/, 'format.json'), `killed ${name}`).toBe(expected)
      expect(await s.fs.readdir(`${store}/staging`), `killed ${name}`).toEqual([])
    }
    expect(killedMidway).toBe(KILL_POINTS.length)
    expect(interrupted).toBeGreaterThanOrEqual(2)
  }, 120_000)
})
