/**
 * `layerfsck gc`: collects exactly the garbage the check rules name. The
 * checks a family marks `garbage` are the one rule of what is garbage (the
 * same grace, the same liveness); gc runs them, plans each finding as an
 * item with its reason, the space it really frees and what it pins, and,
 * once told to, applies each one's fix as a step of the one engine. So
 * `check -n` right after `gc --yes` finds nothing gc would take, and a crash
 * anywhere is finished by the next run.
 *
 * Acting is a second session: the plan an operator confirms was read under
 * a shared lock, and under the exclusive lock it is read again and only
 * what was confirmed (and is still garbage) is taken.
 */
import { ExitCode, isErrno, LayerfsckError } from '../errors.js'
import { FixRefusedError } from '../check/checks/refuse.js'
import { CrashError } from '../fs/crash.js'
import { escapeName } from '../fs/name-bytes.js'
import type { CheckData } from '../check/data.js'
import { checkContext, fixStep, interruptedOf, openStore, type ReadOptions } from '../check/run.js'
import { PASSES, type CheckContext, type CheckSpec, type Finding, type FixSpec } from '../check/types.js'
import type { FamilyName } from '../family/types.js'
import type { FsPort } from '../fs/port.js'
import { FreedLedger, treeSize } from '../fs/tree-size.js'
import { isInside } from '../fs/safe-path.js'
import { sessionOptions, type ChangeOptions } from '../steps/options.js'
import { withSession, type StoreSession } from '../steps/session.js'
import type { StepOutcome } from '../steps/step.js'

export const GC_SCHEMA_VERSION = 1

export interface GcOptions extends ReadOptions, ChangeOptions {
  family?: FamilyName
  /** Also remove layers no image and no live container uses (Mesos' image prune). */
  pruneLayers?: boolean
  /** Plan only, whatever else is said. */
  dryRun?: boolean
  /** Act on the plan without asking. */
  yes?: boolean
  /** Asked with the plan when `yes` is not set; acting happens only on true. Without it, gc plans only. */
  confirm?: (plan: GcReport) => Promise<boolean>
  /** Each item as it is done, and the plan before; for progress and NDJSON. */
  onEvent?: (event: GcEvent) => void
}

export type GcEvent =
  | { event: 'plan'; items: number; bytes: number }
  | { event: 'item'; index: number; total: number; item: GcItem; freedSoFar: number }

export type GcItemStatus = 'planned' | 'collected' | 'already-gone' | 'deferred' | 'refused' | 'not-confirmed'

export interface GcItem {
  /** The step's id: `<code>:<path>`, as the journal names it. */
  id: string
  /** The check whose rule makes it garbage. */
  code: string
  title: string
  path: string
  /** Why it is garbage, as the check says it. */
  reason: string
  /** What gc does with it. */
  action: string
  /** Taken only with --prune-layers. */
  prune: boolean
  /** Disk space removing it frees (st_blocks, each inode once, hard links shared with what stays count nothing, no mount crossed). */
  bytes: number
  /** Milliseconds since anything in it last changed; undefined for what holds no tree (a mount, a gone path). */
  ageMs: number | undefined
  /** What it keeps alive while it stays. */
  pins: string[]
  status: GcItemStatus
  /** Why it was left (busy, refused), for the next run. */
  error?: string
}

export interface GcReport {
  schemaVersion: typeof GC_SCHEMA_VERSION
  store: string
  workDir: string | undefined
  adapter: 'disk' | 'memory'
  family: FamilyName
  settings: Record<string, string>
  liveness: 'known-containers' | 'runtime-dir' | 'unknown'
  graceMs: number
  pruneLayers: boolean
  /** Whether gc acted; false for a plan (--dry-run, no --yes, or a no at the prompt). */
  acted: boolean
  items: GcItem[]
  /** What gc leaves on purpose and why (no liveness source, a container without a layers checkpoint). */
  kept: { code: string; path: string; why: string }[]
  totals: { items: number; bytes: number; collected: number; freed: number; left: number }
  exitCode: number
  next: string[]
}

export class GcCancelledError extends LayerfsckError {
  constructor() {
    super('CANCELLED', 'gc was cancelled; nothing was changed', { exitCode: ExitCode.cancelled })
  }
}

interface Planned {
  item: GcItem
  spec: CheckSpec
  fix: Extract<FixSpec, { by: 'check' }>
  finding: Finding
  ctx: CheckContext
}

/** The garbage checks gc runs: every one that is garbage, prune only when asked, and what explains what is kept. */
function gcChecks(checks: readonly CheckSpec[], pruneLayers: boolean): CheckSpec[] {
  return checks.filter((c) => c.pass !== 'contents' && c.garbage !== undefined && (c.garbage !== 'prune-layers' || pruneLayers))
}

export async function runGc(fs: FsPort, options: GcOptions): Promise<GcReport> {
  const pruneLayers = options.pruneLayers === true
  const acting = options.dryRun !== true && (options.yes === true || options.confirm !== undefined)
  // Without --yes the plan is read under a shared lock, as check -n reads: asking changes nothing.
  const first = await planIn(fs, options, pruneLayers, options.yes === true && acting ? 'change' : 'read', async (session, opened, plan) => {
    if (options.yes === true && acting) return act(session, opened, plan, undefined, options)
    const { planned: _planned, ledger: _ledger, ...bare } = plan
    return bare
  })
  if ('acted' in first && first.acted) return first
  const plan = first as GcReport
  options.onEvent?.({ event: 'plan', items: plan.items.length, bytes: plan.totals.bytes })
  if (!acting || plan.items.length === 0) return plan
  if (!(await options.confirm!(plan))) throw new GcCancelledError()
  const confirmed = new Set(plan.items.map((i) => i.id))
  return planIn(fs, options, pruneLayers, 'change', (session, opened, again) => act(session, opened, again, confirmed, options))
}

type Opened = Awaited<ReturnType<typeof openStore>>

async function planIn(
  fs: FsPort,
  options: GcOptions,
  pruneLayers: boolean,
  intent: 'read' | 'change',
  body: (session: StoreSession, opened: Opened, plan: GcReport & { planned: Planned[]; ledger: FreedLedger }) => Promise<GcReport>,
): Promise<GcReport> {
  const opened = await openStore(fs, options, 'gc')
  const { store, family } = opened
  return withSession(
    fs,
    {
      store,
      command: 'gc',
      intent,
      ...(family.guard ? { guard: (f: FsPort, procRoot: string | undefined) => family.guard!(f, store, procRoot) } : {}),
      ...(family.claims ? { claims: family.claims } : {}),
      ...sessionOptions(options),
    },
    async (session) => body(session, opened, await plan(session, opened, pruneLayers, intent === 'change')),
  )
}

async function plan(session: StoreSession, opened: Opened, pruneLayers: boolean, recovering: boolean): Promise<GcReport & { planned: Planned[]; ledger: FreedLedger }> {
  const { fs } = session
  const { store, family, data } = opened
  const interrupted = await interruptedOf(session, recovering)
  const scratch = new Map<string, unknown>()
  const planned: Planned[] = []
  const kept: GcReport['kept'] = []
  const checks = gcChecks(family.check.checks, pruneLayers)
  for (const pass of PASSES) {
    for (const spec of checks.filter((c) => c.pass === pass.name)) {
      if (spec.pass === 'contents') continue
      const found: Finding[] = []
      const ctx = checkContext({ fs, store, data, interrupted, scratch }, spec, pass.name, (f) => found.push(f))
      await spec.run(ctx)
      for (const finding of found) {
        // A `keeps` check's finding, or one of a garbage check without a fix of its own, says what stays and why.
        if (spec.garbage === 'keeps' || spec.fix?.by !== 'check') {
          kept.push({ code: spec.code, path: finding.path, why: finding.message })
          continue
        }
        planned.push({
          spec,
          fix: spec.fix,
          finding,
          ctx,
          item: {
            id: `${spec.code}:${finding.path}`,
            code: spec.code,
            title: spec.title,
            path: finding.path,
            reason: finding.message,
            action: spec.fix.describe,
            prune: spec.garbage === 'prune-layers',
            bytes: 0,
            ageMs: undefined,
            pins: finding.pins ?? [],
            status: 'planned',
          },
        })
      }
    }
  }
  // Mounts go first (children first), so that what they covered can be removed; layers go last, once no dead
  // container's mount reads them any more.
  const mountPoints = new Set((await data.mounts()).map((m) => m.mountPoint))
  const rank = (p: Planned): number => (p.item.prune ? 2 : mountPoints.has(p.item.path) ? 0 : 1)
  planned.sort((a, b) => rank(a) - rank(b) || (rank(a) === 0 ? b.item.path.length - a.item.path.length : 0))
  const ledger = await sizeItems(fs, data, planned, mountPoints)
  return report(session, opened, planned, ledger, kept, pruneLayers, false)
}

/** What each item frees, each inode once across the whole plan: a hard link shared with what stays frees nothing. */
async function sizeItems(fs: FsPort, data: CheckData, planned: Planned[], mountPoints: Set<string>): Promise<FreedLedger> {
  const ledger = new FreedLedger()
  const mounts = await data.mounts()
  const now = Date.now()
  for (const p of planned) {
    // Unmounting frees nothing on this filesystem.
    if (mountPoints.has(p.item.path)) continue
    // A tree another item already covers is counted there.
    if (planned.some((o) => o !== p && !mountPoints.has(o.item.path) && o.item.path !== p.item.path && isInside(o.item.path, p.item.path))) continue
    const trees = [p.item.path, ...String(p.finding.detail?.['frees'] ?? '').split('\n').filter((x) => x !== '')]
    for (const [i, tree] of trees.entries()) {
      const size = await treeSize(fs, tree, { mounts, ledger: { ledger, owner: p.item.id } })
      // The age is the item's own; what goes with it (a short link) is as new as whoever last touched it.
      if (i === 0 && size.newestMtimeNs > 0n) p.item.ageMs = Math.max(0, now - Number(size.newestMtimeNs / 1_000_000n))
    }
  }
  for (const p of planned) p.item.bytes = ledger.freedBy(p.item.id)
  return ledger
}

async function report(
  session: StoreSession,
  opened: Opened,
  planned: Planned[],
  ledger: FreedLedger,
  kept: GcReport['kept'],
  pruneLayers: boolean,
  acted: boolean,
): Promise<GcReport & { planned: Planned[]; ledger: FreedLedger }> {
  const { data, store, workDir } = opened
  const all = planned.map((p) => p.item)
  // What was not confirmed at the prompt is listed but is no part of this run.
  const items = all.filter((i) => i.status !== 'not-confirmed')
  const done = items.filter((i) => i.status === 'collected' || i.status === 'already-gone')
  const left = items.filter((i) => i.status === 'deferred' || i.status === 'refused')
  const next: string[] = []
  if (!acted && items.length > 0) next.push(`layerfsck gc --yes${pruneLayers ? ' --prune-layers' : ''}  (collects what is planned here)`)
  if (left.length > 0) next.push('run gc again once what blocked each item left behind is gone (each says why)')
  if (!pruneLayers) next.push('layerfsck gc --prune-layers  (also removes layers nothing uses, as the runtime\'s image prune would)')
  const { source } = await data.liveness()
  return {
    schemaVersion: GC_SCHEMA_VERSION,
    store,
    workDir,
    adapter: session.fs.kind,
    family: opened.family.name,
    settings: await data.settings(),
    liveness: source,
    graceMs: data.graceMs,
    pruneLayers,
    acted,
    items: all,
    kept,
    totals: {
      items: items.length,
      bytes: ledger.freedByAll(new Set(items.map((i) => i.id))),
      collected: done.length,
      // Over what was collected only: a hard link shared with an item left behind frees nothing.
      freed: ledger.freedByAll(new Set(items.filter((i) => i.status === 'collected').map((i) => i.id))),
      left: left.length,
    },
    exitCode: left.length > 0 ? ExitCode.uncorrected : ExitCode.ok,
    next,
    planned,
    ledger,
  }
}

async function act(
  session: StoreSession,
  opened: Opened,
  plan: GcReport & { planned: Planned[]; ledger: FreedLedger },
  confirmed: Set<string> | undefined,
  options: GcOptions,
): Promise<GcReport> {
  const { data, family, store } = opened
  const chosen = plan.planned.filter((p) => confirmed === undefined || confirmed.has(p.item.id))
  for (const p of plan.planned) if (!chosen.includes(p)) p.item.status = 'not-confirmed'
  if (confirmed === undefined) options.onEvent?.({ event: 'plan', items: plan.items.length, bytes: plan.totals.bytes })
  const steps = chosen.map(({ spec, fix, finding, ctx }) => fixStep(spec.code, fix, ctx, finding, (applying) => leaveOnErrno(applying, finding.path)))
  let freed = 0
  const outcomes = await session.runSteps(steps, ({ index, total, outcome }) => {
    const item = chosen[index]!.item
    settle(item, outcome)
    if (item.status === 'collected') freed += item.bytes
    options.onEvent?.({ event: 'item', index, total, item, freedSoFar: freed })
  })
  if (outcomes.some((o) => o.status === 'applied') || session.resumed !== undefined) {
    await session.commit((await data.stampFormat()) ?? (await family.currentFormat(session.fs, store)))
  } else await session.abandon()
  const { planned: _planned, ledger: _ledger, ...out } = await report(session, opened, plan.planned, plan.ledger, plan.kept, plan.pruneLayers, true)
  return out
}

/**
 * One item that cannot be collected (an immutable file, a read-only mount, a
 * dir someone filled meanwhile) is left with its reason, and gc goes on with
 * the rest: stopping would leave every later item for good, since each run
 * plans them in the same order. EBUSY still goes to the engine, which retries
 * it; a crash is a crash.
 */
async function leaveOnErrno(applying: Promise<void>, path: string): Promise<void> {
  try {
    await applying
  } catch (err) {
    if (err instanceof CrashError || !isErrno(err) || isErrno(err, 'EBUSY')) throw err
    throw new FixRefusedError(`left: ${escapeName(path)}: ${(err as Error).message}`)
  }
}

function settle(item: GcItem, outcome: StepOutcome): void {
  item.status = outcome.status === 'applied' ? 'collected' : outcome.status === 'already-done' ? 'already-gone' : outcome.status
  if (outcome.reason !== undefined) item.error = outcome.reason
}
