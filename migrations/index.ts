/**
 * Steps between store format versions, one file per step, applied in order
 * by `layerfsck migrate`. Each step is idempotent: `isDone` is asked before
 * `apply`, so a re-run after a crash skips what already landed, and `apply`
 * must be safe to run again after it was interrupted at any point. A new
 * format that changes what is on disk adds a file and a line here; the
 * migrator itself does not change.
 */
import type { FsPort } from '../src/fs/port.js'
import { convert_1_1_0_whiteouts } from './0001-convert-1.1.0-whiteouts.js'

export interface MigrationContext {
  fs: FsPort
  store: string
  workDir?: string
  /**
   * Layer trees this run built in the target format and compared with their
   * sources before they landed. What a step between formats would change is
   * already as the target has it there, so a step reads them no more: at a
   * 200k-entry store, the walk of every converted tree after the conversions
   * was 150 ms of a 3 s migrate.
   */
  verified?: ReadonlySet<string>
}

export interface MigrationStep {
  /** Stable id, also the file name: `0001-convert-1.1.0-whiteouts`. */
  id: string
  /** Format versions it moves a store between (semver of the mesos-docker family). */
  from: string
  to: string
  describe: string
  /** Needs CAP_MKNOD and CAP_SYS_ADMIN (whiteout devices, trusted.* xattrs) when it has anything to do. */
  privileged?: boolean
  isDone(ctx: MigrationContext): Promise<boolean>
  apply(ctx: MigrationContext): Promise<void>
}

/** Oldest first; migrate applies those whose from and to lie between a store's format and the target. */
export const MIGRATIONS: readonly MigrationStep[] = Object.freeze([convert_1_1_0_whiteouts])
