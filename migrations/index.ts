/**
 * Steps between store format versions, one file per step, applied in order
 * by `layerfsck migrate` (ROADMAP). Each step is idempotent: `isDone` is
 * asked before `apply`, so a re-run after a crash skips what already landed.
 * No step exists yet: the base (port, descriptors, detect) comes first.
 */
import type { FsPort } from '../src/fs/port.js'

export interface MigrationContext {
  fs: FsPort
  store: string
  workDir?: string
}

export interface MigrationStep {
  /** Stable id, also the file name: `0001-convert-1.1.0-whiteouts`. */
  id: string
  /** Format versions it moves a store between (semver of the mesos-docker family). */
  from: string
  to: string
  describe: string
  isDone(ctx: MigrationContext): Promise<boolean>
  apply(ctx: MigrationContext): Promise<void>
}

export const MIGRATIONS: readonly MigrationStep[] = []
