/**
 * A step is one change to a store, small enough to be judged done or not
 * from the store alone. The engine (`session.ts`) asks `isDone` before
 * `apply`, so a re-run after a crash skips what already landed and redoes
 * what did not; `apply` must therefore be safe to run again after it was
 * interrupted at any point.
 */
import type { FsPort } from '../fs/port.js'

export interface StepContext {
  fs: FsPort
  store: string
}

export interface Step {
  /** Stable across runs of the same plan: the journal and reports name steps by it. */
  id: string
  describe(): string
  isDone(ctx: StepContext): Promise<boolean>
  apply(ctx: StepContext): Promise<void>
}

/**
 * - applied: the step changed the store;
 * - already-done: isDone said so (a re-run, or nothing was wrong any more);
 * - deferred: the kernel said EBUSY every time; left for the next run;
 * - refused: the step declined to act (a mount below, a file it cannot prove
 *   is what it looks like); nothing was changed by it.
 */
export type StepStatus = 'applied' | 'already-done' | 'deferred' | 'refused'

export interface StepOutcome {
  id: string
  describe: string
  status: StepStatus
  /** Why a step was deferred or refused. */
  reason?: string
}
