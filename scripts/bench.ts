/**
 * `npm run bench`: times layerfsck against the system tools doing the same
 * work (find, tar, cp -al, rm -rf, node -e 0) on synthetic Mesos stores
 * generated on disk and on a copy of a real Docker data root, warm cache,
 * alternating the contenders every round, and checks after each run that it
 * did its work. Prints a table of median ratios (with min–max), layerfsck's
 * entries per second and peak RSS, and writes the samples as JSON to
 * bench/results/<timestamp>.json.
 *
 *   npm run bench -- [--entries N] [--rounds R] [--heavy-rounds H] [--layer-files F]
 *                    [--only check,detect,import,export,migrate,gc,gc-docker,startup] [--keep] [--json]
 *
 * `--only gc` runs both gc ops (a dead Mesos container, Docker orphan layer
 * dirs); `--only gc-mesos` or `--only gc-docker` runs one of them.
 *
 * See docs/performance.md for the method and the latest numbers.
 */
import { cpus, release } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createNodeFs, makeTempDir, removeTempDir } from '../src/fs/node.js'
import { makeDirs, writeFileAll } from '../src/fs/io.js'
import { Fixtures } from './bench/fixtures.js'
import { buildComparison, HEAVY, OPERATIONS, SELECTORS, selectOperations, type Comparison, type Operation } from './bench/ops.js'
import { log, median, timed, type Sample } from './bench/run.js'

interface RowResult {
  op: Operation
  name: string
  entries: number
  rounds: number
  layerfsck: { label: string; argv: string[]; seconds: number[]; rssKb: number[] }
  reference: { label: string; argv: string[]; seconds: number[]; rssKb: number[] }
  /** layerfsck seconds / reference seconds, per round. */
  ratios: number[]
  ratioMedian: number
  ratioMin: number
  ratioMax: number
  layerfsckMedianSeconds: number
  referenceMedianSeconds: number
  entriesPerSecond: number
  /** Largest peak RSS of the layerfsck runs, MB (1024 KB). */
  peakRssMb: number
}

const USAGE = `usage: npm run bench -- [--entries N] [--rounds R] [--heavy-rounds H] [--layer-files F]
                      [--only ${[...new Set([...OPERATIONS, ...Object.keys(SELECTORS)])].join(',')}] [--keep] [--json]
  --only gc runs both gc ops; gc-mesos the Mesos one alone`

function options(): {
  entries: number
  rounds: number
  heavyRounds: number
  layerFiles: number
  only: Operation[]
  keep: boolean
  json: boolean
} {
  const { values } = parseArgs({
    options: {
      entries: { type: 'string', default: '200000' },
      rounds: { type: 'string', default: '5' },
      'heavy-rounds': { type: 'string', default: '3' },
      'layer-files': { type: 'string' },
      only: { type: 'string' },
      keep: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    process.exit(0)
  }
  const int = (name: string, text: string, min: number): number => {
    const n = Number(text)
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} takes an integer >= ${min}, not ${text}\n${USAGE}`)
    return n
  }
  const entries = int('entries', values.entries, 1000)
  let only: Operation[] = [...OPERATIONS]
  if (values.only !== undefined) {
    try {
      only = selectOperations(values.only.split(',').map((s) => s.trim()).filter((s) => s !== ''))
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${USAGE}`)
    }
  }
  return {
    entries,
    rounds: int('rounds', values.rounds, 1),
    heavyRounds: int('heavy-rounds', values['heavy-rounds'], 1),
    // The layer import and export move: half the store's size, 100k files at the default size.
    layerFiles: int('layer-files', values['layer-files'] ?? String(Math.round(entries / 2)), 1),
    only,
    keep: values.keep,
    json: values.json,
  }
}

const secs = (s: number): string => (s >= 10 ? `${s.toFixed(1)} s` : s >= 1 ? `${s.toFixed(2)} s` : `${s.toFixed(3)} s`)
const ratio = (r: number): string => `${r.toFixed(2)}×`
const rate = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0))

async function runComparison(fs: ReturnType<typeof createNodeFs>, cmp: Comparison, rounds: number, rssFile: string): Promise<RowResult[]> {
  const samples = new Map<string, Sample[]>(cmp.contenders.map((c) => [c.id, []]))
  for (let r = 0; r < rounds; r++) {
    // Alternate: forward on even rounds, backward on odd ones, so neither side always runs first.
    const order = r % 2 === 0 ? cmp.contenders : [...cmp.contenders].reverse()
    const line: string[] = []
    for (const c of order) {
      await c.before?.()
      const s = await timed(fs, c.argv, rssFile, { stdout: c.stdout })
      await c.verify(s)
      await c.after?.()
      samples.get(c.id)!.push(s)
      line.push(`${c.label} ${secs(s.seconds)}`)
    }
    log(`${cmp.op} round ${r + 1}/${rounds}: ${line.join(', ')}`)
  }
  return cmp.rows.map((row) => {
    const a = cmp.contenders.find((c) => c.id === row.a)!
    const b = cmp.contenders.find((c) => c.id === row.b)!
    const as = samples.get(a.id)!
    const bs = samples.get(b.id)!
    const ratios = as.map((s, i) => s.seconds / bs[i]!.seconds)
    const aMedian = median(as.map((s) => s.seconds))
    return {
      op: cmp.op,
      name: row.name,
      entries: cmp.entries,
      rounds,
      layerfsck: { label: a.label, argv: a.argv, seconds: as.map((s) => s.seconds), rssKb: as.map((s) => s.rssKb) },
      reference: { label: b.label, argv: b.argv, seconds: bs.map((s) => s.seconds), rssKb: bs.map((s) => s.rssKb) },
      ratios,
      ratioMedian: median(ratios),
      ratioMin: Math.min(...ratios),
      ratioMax: Math.max(...ratios),
      layerfsckMedianSeconds: aMedian,
      referenceMedianSeconds: median(bs.map((s) => s.seconds)),
      entriesPerSecond: cmp.entries / aMedian,
      peakRssMb: Math.max(...as.map((s) => s.rssKb)) / 1024,
    }
  })
}

function table(rows: RowResult[]): string {
  const lines = [
    '| operation | layerfsck | reference | ratio median (min–max) | entries/s | peak RSS |',
    '|---|---|---|---|---|---|',
  ]
  for (const r of rows) {
    lines.push(
      `| ${r.name} | ${r.layerfsck.label} ${secs(r.layerfsckMedianSeconds)} | \`${r.reference.label}\` ${secs(r.referenceMedianSeconds)} | ` +
        `${ratio(r.ratioMedian)} (${ratio(r.ratioMin)}–${ratio(r.ratioMax)}) | ${rate(r.entriesPerSecond)} | ${(r.peakRssMb).toFixed(0)} MB |`,
    )
  }
  return lines.join('\n')
}

async function run(): Promise<number> {
  const o = options()
  const fs = createNodeFs()
  const isRoot = process.getuid?.() === 0
  const started = new Date()
  // /tmp is often a tmpfs, whose speed says nothing about a store's disk.
  const savedTmp = process.env['TMPDIR']
  if (savedTmp === undefined) process.env['TMPDIR'] = '/var/tmp'
  const root = makeTempDir('layerfsck-bench-')
  if (savedTmp === undefined) delete process.env['TMPDIR']
  const fsType = (await fs.fsType(root)).name
  log(`temp dir ${root} (${fsType}); ${o.entries} entries, ${o.rounds} rounds (${Math.min(o.rounds, o.heavyRounds)} for ${HEAVY.join(', ')}); ${isRoot ? 'root: overlay-form stores' : 'not root: copy-form stores, migrate skipped'}`)
  if (fsType === 'tmpfs') log('warning: the temp dir is on tmpfs; set TMPDIR to a dir on the disk stores live on')

  const results: RowResult[] = []
  const skipped: { op: Operation; reason: string }[] = []
  const failed: { op: Operation; error: string }[] = []
  const rssFile = `${root}/time.out`
  const fixtures = new Fixtures(fs, root, o.entries, o.layerFiles, isRoot)
  try {
    for (const op of o.only) {
      const t = Date.now()
      try {
        const cmp = await buildComparison(op, fixtures, fs)
        if ('skipped' in cmp) {
          log(`${op}: skipped: ${cmp.skipped}`)
          skipped.push({ op, reason: cmp.skipped })
          continue
        }
        const rounds = HEAVY.includes(op) ? Math.min(o.rounds, o.heavyRounds) : o.rounds
        results.push(...(await runComparison(fs, cmp, rounds, rssFile)))
        log(`${op}: done in ${((Date.now() - t) / 1000).toFixed(0)} s`)
      } catch (err) {
        log(`${op}: FAILED: ${(err as Error).message}`)
        failed.push({ op, error: (err as Error).message })
      }
    }
  } finally {
    if (o.keep) log(`kept ${root}`)
    else removeTempDir(root)
  }

  const report = {
    schemaVersion: 1,
    startedAt: started.toISOString(),
    seconds: (Date.now() - started.getTime()) / 1000,
    host: { cpus: cpus().length, cpu: cpus()[0]?.model, kernel: release(), node: process.version, fsType, root: isRoot },
    options: { entries: o.entries, rounds: o.rounds, heavyRounds: o.heavyRounds, layerFiles: o.layerFiles, only: o.only },
    results,
    skipped,
    failed,
  }
  const dir = fileURLToPath(new URL('../../bench/results', import.meta.url))
  await makeDirs(fs, dir)
  const file = `${dir}/${started.toISOString().replace(/[:.]/g, '-')}.json`
  await writeFileAll(fs, file, `${JSON.stringify(report, null, 2)}\n`)

  process.stdout.write(`${table(results)}\n\n`)
  process.stdout.write(
    `${o.entries} entries requested, ${o.rounds} rounds (${Math.min(o.rounds, o.heavyRounds)} for ${HEAVY.join(', ')}), ${cpus().length} CPUs, ${fsType}, ` +
      `${report.seconds.toFixed(0)} s in all; JSON: ${file}\n`,
  )
  for (const s of skipped) process.stdout.write(`skipped ${s.op}: ${s.reason}\n`)
  for (const f of failed) process.stdout.write(`FAILED ${f.op}: ${f.error}\n`)
  if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  return failed.length > 0 ? 1 : 0
}

process.exitCode = await run()
