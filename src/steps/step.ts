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
  /**
   * False for a step a re-run needs nothing but `isDone` to finish: every
   * change it makes but one is inside a path whose claim was durable before
   * the path existed (recovery removes it), and that one (a rename of a tree
   * already durable) either landed or did not. Its `begin` then becomes
   * durable with the next durable record, as a `done` does, instead of
   * costing an fsync of its own. After a power cut the journal may then say
   * no step, or an earlier or finished one, was in progress, and count fewer
   * steps done: what a report of the interrupted run says, nothing more.
   */
  beginDurable?: boolean
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
