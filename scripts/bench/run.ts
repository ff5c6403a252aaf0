/**
 * Running commands for the benchmark: timed runs (wall time by hrtime around
 * the child, peak RSS by /usr/bin/time's %M) and untimed helpers for the
 * setup between them.
 */
import { spawnSync } from 'node:child_process'
import { readTextLimited } from '../../src/fs/io.js'
import type { FsPort } from '../../src/fs/port.js'

export interface Sample {
  seconds: number
  /** Peak resident set size of the command (the largest process it waited for), KB. */
  rssKb: number
  status: number | null
  stdout: string
  stderr: string
}

export interface TimedOptions {
  /** 'pipe' keeps stdout for the verifier; 'null' sends it to /dev/null. */
  stdout: 'pipe' | 'null'
  cwd?: string
}

export const log = (text: string): void => {
  process.stderr.write(`[bench] ${text}\n`)
}

/** Runs a command, untimed, and throws with its stderr when it exits other than `ok`. */
export function sh(argv: string[], what = argv.join(' '), ok: readonly number[] = [0]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] })
  if (r.error) throw new Error(`${what}: ${r.error.message}`)
  if (!ok.includes(r.status ?? -1)) throw new Error(`${what}: exit ${r.status ?? r.signal}\n${r.stderr.slice(-2000)}`)
  return r.stdout
}

/** A shell command line, untimed. */
export const shell = (script: string): string => sh(['sh', '-c', script], script)

/** Quotes a path for sh. */
export const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

/** Number of entries find prints for the expression (the root included when it matches). */
export function countEntries(dir: string, ...expr: string[]): number {
  const out = sh(['find', dir, ...expr, '-printf', '.'])
  return out.length
}

/** Reads every name (and every file, for tars) once, so the timed runs start from a warm cache. */
export function warm(path: string, kind: 'tree' | 'file'): void {
  if (kind === 'tree') sh(['find', path, '-printf', ''])
  // Into /dev/null: a 1M-entry layer's tar (1 GB) is past the longest string node makes.
  else shell(`cat ${q(path)} > /dev/null`)
}

/**
 * One timed run. Dirty pages are flushed first (untimed), so no run pays for
 * the writeback of the one before it.
 */
export async function timed(fs: FsPort, argv: string[], rssFile: string, options: TimedOptions): Promise<Sample> {
  spawnSync('sync', [], { stdio: 'ignore' })
  const start = process.hrtime.bigint()
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', rssFile, ...argv], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    cwd: options.cwd,
    stdio: ['ignore', options.stdout === 'pipe' ? 'pipe' : 'ignore', 'pipe'],
  })
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  if (r.error) throw new Error(`${argv.join(' ')}: ${r.error.message}`)
  // With -o, time also writes "Command exited with non-zero status N" there; %M is the last line.
  const lines = (await readTextLimited(fs, rssFile, 4096)).split('\n').filter((l) => l.trim() !== '')
  const rssKb = Number(lines.at(-1))
  return { seconds, rssKb: Number.isFinite(rssKb) ? rssKb : NaN, status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** The last line of a JSON-lines stream (gc and migrate print their report last), parsed. */
export function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n')
  return JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>
}

export function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(`verification failed: ${message}`)
}
