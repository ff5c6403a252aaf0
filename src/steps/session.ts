/**
 * The one engine every change to a store runs through. A session holds the
 * store lock for its whole life; a changing session also owns the journal:
 *
 *   open:    lock; if the journal shows an interrupted run, remove the temp
 *            paths it claimed (they hold nothing committed) and note it;
 *   run:     for each step, append `begin` (durable, unless the step needs
 *            only its isDone after a crash), skip it if isDone, else apply;
 *            append `done` (durable with the next record);
 *   commit:  make every change durable (syncfs), write the format stamp,
 *            durably, last; then drop the journal;
 *   close:   release the lock (the kernel does it too if we are killed).
 *
 * A crash anywhere leaves either a journal (the next session recovers and
 * the same plan's steps report already-done up to where it stopped) or a
 * finished store. Error policy, one place: EBUSY is retried, then the step is
 * deferred for the next run; a step that declines to act (an error marked
 * as a refusal) is recorded and the plan goes on; any other errno stops the
 * plan naming the step, and any other LayerfsckError stops it as it is;
 * anything else is a bug, reported as an internal error, never a finding.
 */
import { randomBytes } from 'node:crypto'
import { ExitCode, isErrno, LayerfsckError } from '../errors.js'
import type { FormatInfo } from '../family/types.js'
import { writeStamp } from '../format/stamp.js'
import { CrashError } from '../fs/crash.js'
import { escapeName } from '../fs/name-bytes.js'
import type { FileLock, FsPort } from '../fs/port.js'
import { removeTree } from '../fs/remove.js'
import { checkRelative, dirname } from '../fs/safe-path.js'
import { interruptedRun, JOURNAL_VERSION, JournalWriter, readJournal, type InterruptedRun } from './journal.js'
import { findProcesses } from '../fs/processes.js'
import { journalPath, lockStore } from './lock.js'
import type { Step, StepOutcome } from './step.js'

export type { InterruptedRun }

export const BUSY_RETRIES = 3
const BUSY_DELAY_MS = 50

export interface SessionOptions {
  store: string
  /** The command line's verb, recorded in the journal: "import", "check -p". */
  command: string
  intent: 'read' | 'change'
  waitSeconds?: number
  /** Processes that must not run while the store changes (the family's agent or daemon), by name. */
  guardProcesses?: readonly string[]
  /** The same, for a family that must look closer than a name (a daemon's data root on its command line). */
  guard?: (fs: FsPort, procRoot: string | undefined) => Promise<{ pid: number; name: string }[]>
  /** Change the store even while a guarded process runs. */
  force?: boolean
  procRoot?: string
  /**
   * Where this command's temp paths may be claimed: one directory of the
   * store and a name shape (Mesos: `staging/` and mkdtemp's XXXXXX). Recovery
   * removes only claims of that shape, whatever a journal says.
   */
  claims?: ClaimPolicy
  /** The clock for the stamp; tests fix it to compare runs byte for byte. */
  now?: () => Date
  signal?: AbortSignal
}

export interface ClaimPolicy {
  dir: string
  name: RegExp
}

export type StepEvent = { index: number; total: number; outcome: StepOutcome }

export class StepFailedError extends LayerfsckError {
  constructor(
    readonly step: string,
    readonly describe: string,
    cause: unknown,
  ) {
    super('STEP_FAILED', `step ${escapeName(step)} (${escapeName(describe)}) failed: ${escapeName((cause as Error).message)}`, {
      cause,
      exitCode: ExitCode.operational,
      hint: 'steps before it are complete and durable; fix the cause and run the same command again to continue',
    })
  }
}

export class InternalError extends LayerfsckError {
  constructor(where: string, cause: unknown) {
    super('INTERNAL', `internal error in ${where}: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`, {
      cause,
      exitCode: ExitCode.operational,
      hint: 'this is a bug in layerfsck; please report it with the command line and this message',
    })
  }
}

export class GuardedProcessError extends LayerfsckError {
  constructor(store: string, found: { pid: number; name: string }[]) {
    const list = found.map((p) => `${p.name} (pid ${p.pid})`).join(', ')
    super('PROCESS_RUNNING', `${list} is running on this host; not changing ${escapeName(store)} under it`, {
      exitCode: ExitCode.operational,
      hint: 'stop it first, or pass --force if it does not use this store',
    })
  }
}

/** Errors a crash test injects are passed through untouched, so the test sees the crash itself. */
const isCrash = (err: unknown): boolean => err instanceof CrashError

export class StoreSession {
  private journal: JournalWriter | undefined
  private runId: string | undefined
  private closed = false
  private readonly claims: string[] = []

  private constructor(
    readonly fs: FsPort,
    readonly options: SessionOptions,
    private readonly lock: FileLock | undefined,
    /** The run this session found interrupted and recovered, if any. */
    readonly resumed: InterruptedRun | undefined,
    /** What that run had claimed and this session removed (absolute paths). */
    readonly recovered: readonly string[],
  ) {}

  /** This run's id in the journal, made when the first entry is written: a read-only run never needs one. */
  private get run(): string {
    return (this.runId ??= `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`)
  }

  get store(): string {
    return this.options.store
  }

  static async open(fs: FsPort, options: SessionOptions): Promise<StoreSession> {
    const { store } = options
    if (options.intent === 'change' && !options.force) {
      const found = [...(await findProcesses(fs, options.guardProcesses ?? [], options.procRoot)), ...((await options.guard?.(fs, options.procRoot)) ?? [])]
      if (found.length > 0) throw new GuardedProcessError(store, found)
    }
    const lock = await lockStore(fs, store, {
      mode: options.intent === 'change' ? 'exclusive' : 'shared',
      ...(options.waitSeconds !== undefined ? { waitSeconds: options.waitSeconds } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    })
    try {
      let records: Awaited<ReturnType<typeof readJournal>> = []
      try {
        records = await readJournal(fs, journalPath(store))
      } catch (err) {
        // Only a command that would continue the run needs to understand it; a reader reports what it can.
        if (options.intent === 'change') throw err
      }
      const interrupted = interruptedRun(records)
      const recovered = interrupted && options.intent === 'change' ? await removeClaims(fs, store, interrupted.claims, options.claims) : []
      return new StoreSession(fs, options, lock, interrupted, recovered)
    } catch (err) {
      await lock?.release()
      throw err
    }
  }

  private async ensureJournal(): Promise<JournalWriter> {
    if (this.options.intent !== 'change') throw new InternalError('StoreSession', new Error('a read-only session cannot change the store'))
    if (this.journal === undefined) {
      this.journal = await JournalWriter.create(this.fs, journalPath(this.store))
      await this.journal.append({ v: JOURNAL_VERSION, type: 'run', run: this.run, command: this.options.command, pid: process.pid, at: new Date().toISOString() })
    }
    return this.journal
  }

  /**
   * A temp path this run is about to create (a staging dir). Recorded
   * durably first, so that whatever a crash leaves there is removed by the
   * next session rather than left for a person to judge.
   */
  async claim(path: string): Promise<string> {
    const rel = path.startsWith(`${this.store}/`) ? path.slice(this.store.length + 1) : undefined
    if (rel === undefined || !claimable(rel, this.options.claims)) throw new InternalError('StoreSession.claim', new Error(`${path} is not a claimable temp path of ${this.store}`))
    const journal = await this.ensureJournal()
    await journal.append({ v: JOURNAL_VERSION, type: 'claim', run: this.run, rel })
    this.claims.push(rel)
    return path
  }

  /** Gives a claim back before anything was made there (the name was taken): recovery must not remove another's. */
  async release(path: string): Promise<void> {
    const rel = path.slice(this.store.length + 1)
    const journal = await this.ensureJournal()
    await journal.append({ v: JOURNAL_VERSION, type: 'release', run: this.run, rel })
    const i = this.claims.indexOf(rel)
    if (i >= 0) this.claims.splice(i, 1)
  }

  /**
   * A run that failed cleanly (bad input, a refused step) is not an
   * interrupted one: what it claimed goes now, and so does its journal, so
   * that the next command does not report a crash that never happened. A
   * killed run never gets here and leaves its journal for the next session.
   */
  async abandon(): Promise<void> {
    if (this.journal === undefined) return
    // The steps that completed are durable before the journal that names them goes: a step's own changes and its
    // done record may wait for the commit's syncfs, which a failed run never reaches.
    await this.fs.syncfs(this.store)
    await removeClaims(this.fs, this.store, this.claims, this.options.claims)
    await this.journal.remove()
    this.journal = undefined
  }

  async runSteps(steps: readonly Step[], onStep?: (event: StepEvent) => void): Promise<StepOutcome[]> {
    const outcomes: StepOutcome[] = []
    if (steps.length === 0) return outcomes
    const journal = await this.ensureJournal()
    const ctx = { fs: this.fs, store: this.store }
    for (const [index, step] of steps.entries()) {
      // Stopping between steps is safe; pretending the plan ran is not.
      if (this.options.signal?.aborted) throw new LayerfsckError('CANCELLED', 'cancelled; the steps before this one are complete, and a re-run continues', { exitCode: ExitCode.cancelled })
      const describe = step.describe()
      await journal.append({ v: JOURNAL_VERSION, type: 'begin', run: this.run, step: step.id, describe }, { durable: step.beginDurable !== false })
      const outcome = await this.runOne(step, describe, ctx)
      // Not synced on its own: the next step's `begin` or the commit makes it durable. Lost to a power cut, it
      // only leaves this step looking begun, and a re-run asks it isDone like any other (one fsync a step less).
      await journal.append({ v: JOURNAL_VERSION, type: 'done', run: this.run, step: step.id, status: outcome.status }, { durable: false })
      outcomes.push(outcome)
      onStep?.({ index, total: steps.length, outcome })
    }
    return outcomes
  }

  private async runOne(step: Step, describe: string, ctx: { fs: FsPort; store: string }): Promise<StepOutcome> {
    for (let attempt = 0; ; attempt++) {
      try {
        if (await step.isDone(ctx)) return { id: step.id, describe, status: 'already-done' }
        await step.apply(ctx)
        return { id: step.id, describe, status: 'applied' }
      } catch (err) {
        if (isCrash(err)) throw err
        if (isErrno(err, 'EBUSY')) {
          if (attempt < BUSY_RETRIES) {
            await new Promise((r) => setTimeout(r, BUSY_DELAY_MS * 2 ** attempt))
            continue
          }
          return { id: step.id, describe, status: 'deferred', reason: `${(err as Error).message} (busy after ${BUSY_RETRIES + 1} tries; left for the next run)` }
        }
        if (err instanceof LayerfsckError && err.refusal) return { id: step.id, describe, status: 'refused', reason: err.message }
        // Bad input found while applying (a tar that ends early) stops the plan as it is: its message says what.
        if (err instanceof LayerfsckError) throw err
        if (isErrno(err)) throw new StepFailedError(step.id, describe, err)
        throw new InternalError(`step ${step.id}`, err)
      }
    }
  }

  /**
   * Stamps a store this command has just created, before anything goes into
   * it: an empty store in the newest format is trivially in that format, and
   * the stamp is the evidence that lets the next command (a re-run after a
   * crash among them) recognise the directory as a store at all.
   */
  async initialize(format: Readonly<FormatInfo>): Promise<void> {
    if (this.options.intent !== 'change') throw new InternalError('StoreSession', new Error('a read-only session cannot create a store'))
    await writeStamp(this.fs, this.store, format, this.options.now?.() ?? new Date())
  }

  /**
   * The store is whole again: stamp it with the format it is now in (last,
   * durably), then drop the journal. A session that ran no step and
   * recovered nothing leaves the store exactly as it found it.
   */
  async commit(format: Readonly<FormatInfo>): Promise<void> {
    if (this.options.intent !== 'change') return
    // No step ran (runSteps opens the journal) and nothing was recovered: the store is as found.
    if (this.journal === undefined && this.resumed === undefined) return
    const journal = await this.ensureJournal()
    // Whatever a step left unsynced becomes durable before the stamp says
    // the store is in this format: the stamp must never outlive the changes.
    await this.fs.syncfs(this.store)
    await writeStamp(this.fs, this.store, format, this.options.now?.() ?? new Date())
    await journal.remove()
    this.journal = undefined
  }

  /** Releases the lock; a journal left open means the run did not commit, and the next session recovers it. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.journal?.close()
    await this.lock?.release()
  }
}

/** Opens a session, hands it to `body`, and always closes it; a body that fails cleanly abandons its run. */
export async function withSession<T>(fs: FsPort, options: SessionOptions, body: (session: StoreSession) => Promise<T>): Promise<T> {
  const session = await StoreSession.open(fs, options)
  try {
    return await body(session)
  } catch (err) {
    if (!isCrash(err)) await session.abandon()
    throw err
  } finally {
    await session.close()
  }
}

/**
 * Removes what a run claimed. The journal is hostile input like everything
 * in a store: a claim must be a relative path below the store, reached
 * through real directories only (a symlinked component would lead the
 * remover out of the store), and anything else is left alone.
 */
/** A claim is one entry, of the policy's name shape, directly in the policy's directory; nothing else ever is. */
function claimable(rel: string, policy: ClaimPolicy | undefined): boolean {
  if (policy === undefined) return false
  const checked = checkRelative(rel)
  if (!checked.ok || checked.path !== rel) return false
  const slash = rel.lastIndexOf('/')
  return rel.slice(0, Math.max(slash, 0)) === policy.dir && policy.name.test(rel.slice(slash + 1))
}

async function removeClaims(fs: FsPort, store: string, claims: readonly string[], policy: ClaimPolicy | undefined): Promise<string[]> {
  const removed: string[] = []
  for (const rel of claims) {
    if (!claimable(rel, policy)) continue
    // The claim's directory must be a real directory of the store: through a symlink the remover would leave it.
    if ((await fs.lstat(`${store}/${policy!.dir}`))?.kind !== 'dir') continue
    const path = `${store}/${rel}`
    if ((await fs.lstat(path)) === undefined) continue
    try {
      await removeTree(fs, path, { within: store })
    } catch (err) {
      // A mount in the way: left for check, which reports it (staging-leftover, orphan-mount) and unmounts with -y;
      // refusing the whole session here would keep that very fix from running.
      if (err instanceof LayerfsckError && err.refusal) continue
      throw err
    }
    await fs.fsync(dirname(path))
    removed.push(path)
  }
  return removed
}
