/**
 * The journal, `<store>/.layerfsck/journal`: one JSON record a line, each
 * appended and fsynced before the change it announces. A step's `done` is
 * fsynced with the record after it: losing it only makes a re-run ask that
 * step whether it is done, as every re-run asks every step; so is the
 * `begin` of a step that needs only its isDone (`Step.beginDurable`).
 * It is what tells a re-run that a run was interrupted, what it was doing,
 * and which temp paths it had claimed (those are removed before anything
 * else happens, so an interrupted run leaves nothing behind once re-run).
 *
 * Records carry `v`. A reader accepts every version up to its own and
 * ignores fields it does not know, so a newer layerfsck resumes an older
 * journal; a journal from a newer layerfsck is refused like a newer stamp.
 * A torn tail (power lost before the unsynced records reached the disk,
 * some pages of them written and some not) is dropped from its first bad
 * line: no change waits for those records but a step that needs only its
 * isDone (`Step.beginDurable`), which a re-run asks of every step anyway. A
 * bad line before a record that is always fsynced is damage.
 */
import { ExitCode, isErrno, LayerfsckError } from '../errors.js'
import { readTextLimited } from '../fs/io.js'
import type { FsPort, WriteHandle } from '../fs/port.js'
import { dirname } from '../fs/safe-path.js'

export const JOURNAL_VERSION = 1
const JOURNAL_LIMIT = 64 * 1024 * 1024

export type JournalRecord =
  | { v: number; type: 'run'; run: string; command: string; pid: number; at: string }
  /** `rel` is relative to the store: a store moved or copied after a crash still names its own leftovers, never another's. */
  | { v: number; type: 'claim'; run: string; rel: string }
  /** A claim given back: the path turned out to be taken, so this run never made it. */
  | { v: number; type: 'release'; run: string; rel: string }
  | { v: number; type: 'begin'; run: string; step: string; describe: string }
  | { v: number; type: 'done'; run: string; step: string; status: string }
  | { v: number; type: 'end'; run: string }

/** What an interrupted run left in the journal. */
export interface InterruptedRun {
  run: string
  command: string
  pid: number
  at: string
  /** Temp paths it made, relative to the store, as the journal holds them (hostile input: checked before use). */
  claims: string[]
  /** The step it had begun and not finished, if any. */
  inProgress: { step: string; describe: string } | undefined
  stepsDone: number
}

export async function readJournal(fs: FsPort, path: string): Promise<JournalRecord[]> {
  let text: string
  try {
    text = await readTextLimited(fs, path, JOURNAL_LIMIT)
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return []
    throw err
  }
  const records: JournalRecord[] = []
  const lines = text.split('\n')
  for (const [i, line] of lines.entries()) {
    if (line === '') continue
    let rec: unknown
    try {
      rec = JSON.parse(line)
    } catch {
      // A power cut tears only what no fsync covered: the records after the last durable one, which may only be
      // `begin` and `done` (appended without an fsync of their own) and may span pages written back in any order.
      // A record always fsynced after the bad line would have made it durable: then the line is damage.
      if (!lines.slice(i + 1).some(isAlwaysDurable)) break
      throw new LayerfsckError('JOURNAL_DAMAGED', `${path}: line ${i + 1} is not a journal record`, {
        hint: 'move the journal aside to run anyway; check then reports what an interrupted run left',
      })
    }
    const r = rec as Partial<JournalRecord>
    if (typeof r.v !== 'number' || typeof r.type !== 'string') continue
    if (r.v > JOURNAL_VERSION) {
      throw new LayerfsckError('JOURNAL_TOO_NEW', `${path} was written by a newer layerfsck (journal version ${r.v}; this one reads up to ${JOURNAL_VERSION})`, {
        exitCode: ExitCode.operational,
        hint: 'finish the interrupted run with the layerfsck that started it',
      })
    }
    records.push(r as JournalRecord)
  }
  return records
}

/** A line holding a record that is fsynced whenever it is appended (all but `begin` and `done`). */
function isAlwaysDurable(line: string): boolean {
  try {
    const type = (JSON.parse(line) as { type?: unknown } | null)?.type
    return typeof type === 'string' && type !== 'begin' && type !== 'done'
  } catch {
    return false
  }
}

/** The last run of a journal, if it never reached its end record. */
export function interruptedRun(records: readonly JournalRecord[]): InterruptedRun | undefined {
  let current: InterruptedRun | undefined
  for (const r of records) {
    switch (r.type) {
      case 'run':
        current = { run: r.run, command: r.command, pid: r.pid, at: r.at, claims: [], inProgress: undefined, stepsDone: 0 }
        break
      case 'claim':
        if (current?.run === r.run && typeof r.rel === 'string') current.claims.push(r.rel)
        break
      case 'release':
        if (current?.run === r.run) current.claims = current.claims.filter((c) => c !== r.rel)
        break
      case 'begin':
        if (current?.run === r.run) current.inProgress = { step: r.step, describe: r.describe }
        break
      case 'done':
        if (current?.run === r.run) {
          current.inProgress = undefined
          current.stepsDone += 1
        }
        break
      case 'end':
        if (current?.run === r.run) current = undefined
        break
    }
  }
  return current
}

/** An open journal: each append is durable before it returns, unless it says it may wait for the next. */
export class JournalWriter {
  private constructor(
    private readonly fs: FsPort,
    readonly path: string,
    private readonly handle: WriteHandle,
  ) {}

  /** Starts a fresh journal (replacing one whose runs all ended or were recovered). */
  static async create(fs: FsPort, path: string): Promise<JournalWriter> {
    const handle = await fs.openWrite(path, { mode: 0o644 })
    try {
      await handle.sync()
      await fs.fsync(dirname(path))
    } catch (err) {
      await handle.close()
      throw err
    }
    return new JournalWriter(fs, path, handle)
  }

  /**
   * `durable: false` leaves the record to the next durable append (or the
   * commit's syncfs) to make durable with it: for a record whose loss only
   * makes a re-run ask one more step whether it is done.
   */
  async append(record: JournalRecord, options: { durable?: boolean } = {}): Promise<void> {
    await this.handle.write(Buffer.from(`${JSON.stringify(record)}\n`))
    if (options.durable !== false) await this.handle.sync()
  }

  async close(): Promise<void> {
    await this.handle.close()
  }

  /** A run that ended leaves no journal: the next run has nothing to resume. */
  async remove(): Promise<void> {
    await this.handle.close()
    try {
      await this.fs.unlink(this.path)
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err
    }
    await this.fs.fsync(dirname(this.path))
  }
}
