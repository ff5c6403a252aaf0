/**
 * What a check is and what it finds. A check is data (code, severity, what
 * it means, how it is fixed) plus one hook for the pass it belongs to; the
 * passes do the reading, so the content walk visits each directory once for
 * all checks. Codes are stable: scripts match on them, and docs/checks.md is
 * generated from the registry.
 */
import type { WhiteoutForm } from '../family/types.js'
import type { DirEntry, FsPort } from '../fs/port.js'
import type { CheckData } from './data.js'

export type Severity = 'error' | 'warning' | 'info'

export type PassName = 'structure' | 'contents' | 'references' | 'containers' | 'host'

export const PASSES: readonly { name: PassName; title: string }[] = [
  { name: 'structure', title: 'store structure' },
  { name: 'contents', title: 'layer contents' },
  { name: 'references', title: 'references' },
  { name: 'containers', title: 'containers and mounts' },
  { name: 'host', title: 'host' },
]

/** How a finding gets fixed: by check itself, or by another command it names, or by an operator. */
export type FixSpec<D extends CheckData = CheckData> =
  | {
      by: 'check'
      describe: string
      /** Safe fixes are applied by -p: they cannot lose data or disturb a running agent. */
      safe: boolean
      /** Whether the fix has already landed (a re-run after a crash); assumed not when absent, so apply must be idempotent. */
      isDone?(ctx: CheckContext<D>, finding: Finding): Promise<boolean>
      apply(ctx: CheckContext<D>, finding: Finding): Promise<void>
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
  /** What it keeps alive while it stays (the layers a dead container's mount reads): gc's plan shows it. */
  pins?: string[]
}

/**
 * Whether a check's findings are garbage, which `layerfsck gc` collects by
 * applying the check's fix: the one rule of what is garbage, so that check
 * and gc never disagree.
 * - 'always': gc takes it, and check -p/-y fix it as their mode allows;
 * - 'gc-only': gc takes it; check reports it and names gc (a removal too
 *   large or too final for a fsck pass);
 * - 'prune-layers': only `gc --prune-layers` takes it;
 * - 'keeps': never taken; its findings say what gc leaves and why (no
 *   liveness source, a directory it cannot read).
 */
export type Garbage = 'always' | 'gc-only' | 'prune-layers' | 'keeps'

/** One layer tree the contents pass walks, with the whiteout form its format says it holds. */
export interface ContentRoot {
  layer: string
  /** The family's name for this tree of the layer (a backend's variant, a driver's content dir). */
  variant: string
  /** The tree's top: the layer's root as a container sees it. */
  root: string
  whiteouts: WhiteoutForm
}

export interface ContentDir extends ContentRoot {
  path: string
  /** Relative to the layer root; '' for the root itself. */
  rel: string
  /**
   * What a contents check looks at: every entry of a directory that holds a
   * `.wh.` name; elsewhere every entry but its regular files (nearly all of
   * a layer, and nothing a whiteout, device, link or directory check needs).
   */
  entries: DirEntry[]
  /** How many entries the directory has, plain files included. */
  count: number
}

interface CheckBase<D extends CheckData> {
  code: string
  severity: Severity
  /** One line: what is wrong. */
  title: string
  /** Why it matters, for docs/checks.md and `--explain`-style output. */
  explain: string
  fix?: FixSpec<D>
  /** Set when the findings are garbage gc collects; the fix must then be by check. */
  garbage?: Garbage
}

/**
 * A check of one family reads that family's data (`D`); the checks every
 * family shares (contents, host, the journal) read only what CheckData has.
 */
export type CheckSpec<D extends CheckData = CheckData> =
  | (CheckBase<D> & { pass: Exclude<PassName, 'contents'>; run(ctx: CheckContext<D>): Promise<void> })
  | (CheckBase<D> & {
      pass: 'contents'
      /** Called once per directory of every layer tree. */
      /** Synchronous when it needs no IO: the pass awaits only a promise (thousands of directories, several checks each). */
      onDir(ctx: CheckContext<D>, dir: ContentDir): void | Promise<void>
      /** Called once per layer tree after its walk, to report what onDir counted. */
      onLayerDone?(ctx: CheckContext<D>, layer: ContentRoot): Promise<void>
    })

export interface CheckContext<D extends CheckData = CheckData> {
  fs: FsPort
  store: string
  data: D
  /** The store and the other dirs the family reads (a work dir): where host facts are asked. */
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
