/**
 * What a check is and what it finds. A check is data (code, severity, what
 * it means, how it is fixed) plus one hook for the pass it belongs to; the
 * passes do the reading, so the content walk visits each directory once for
 * all checks. Codes are stable: scripts match on them, and docs/checks.md is
 * generated from the registry.
 */
import type { Backend } from '../format/descriptor.js'
import type { DirEntry, FsPort } from '../fs/port.js'
import type { CheckData } from './data.js'

export type Severity = 'error' | 'warning' | 'info'

export type PassName = 'structure' | 'contents' | 'references' | 'provisioner' | 'host'

export const PASSES: readonly { name: PassName; title: string }[] = [
  { name: 'structure', title: 'store structure' },
  { name: 'contents', title: 'layer contents' },
  { name: 'references', title: 'references' },
  { name: 'provisioner', title: 'provisioner and mounts' },
  { name: 'host', title: 'host' },
]

/** How a finding gets fixed: by check itself, or by another command it names, or by an operator. */
export type FixSpec =
  | {
      by: 'check'
      describe: string
      /** Safe fixes are applied by -p: they cannot lose data or disturb a running agent. */
      safe: boolean
      /** Whether the fix has already landed (a re-run after a crash); assumed not when absent, so apply must be idempotent. */
      isDone?(ctx: CheckContext, finding: Finding): Promise<boolean>
      apply(ctx: CheckContext, finding: Finding): Promise<void>
    }
  | { by: 'operator'; describe: string }

export interface Finding {
  code: string
  severity: Severity
  pass: PassName
  path: string
  message: string
  /** Data a fix needs (the layer variant, the mount point), beyond the path. */
  detail?: Record<string, string | number | boolean>
}

export interface ContentDir {
  layer: string
  variant: 'rootfs' | 'rootfs.overlay'
  /** The variant directory: the layer's root. */
  root: string
  path: string
  /** Relative to the layer root; '' for the root itself. */
  rel: string
  entries: DirEntry[]
}

interface CheckBase {
  code: string
  severity: Severity
  /** One line: what is wrong. */
  title: string
  /** Why it matters, for docs/checks.md and `--explain`-style output. */
  explain: string
  fix?: FixSpec
}

export type CheckSpec =
  | (CheckBase & { pass: Exclude<PassName, 'contents'>; run(ctx: CheckContext): Promise<void> })
  | (CheckBase & {
      pass: 'contents'
      /** Called once per directory of every layer variant. */
      onDir(ctx: CheckContext, dir: ContentDir): Promise<void>
      /** Called once per layer variant after its walk, to report what onDir counted. */
      onLayerDone?(ctx: CheckContext, layer: { layer: string; variant: 'rootfs' | 'rootfs.overlay'; root: string }): Promise<void>
    })

export interface CheckContext {
  fs: FsPort
  store: string
  provisioner: string | undefined
  /** The backend whose layer variant references must exist for. */
  backend: Backend
  data: CheckData
  /** The store and the provisioner dir (when given): where host facts are asked. */
  roots: string[]
  /**
   * A layerfsck run the journal shows was killed before it finished, and
   * whether this check's session already removed what it had claimed (it
   * does when it may change the store).
   */
  interrupted: { command: string; pid: number; at: string; claims: readonly string[]; left: readonly string[]; recovered: boolean } | undefined
  /** Per-check scratch space for counting across onDir calls. */
  scratch: Map<string, unknown>
  report(finding: Omit<Finding, 'code' | 'severity' | 'pass'> & { code?: string }): void
}
