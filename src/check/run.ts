/**
 * `layerfsck check`: runs the passes in order, each check over the facts
 * its pass reads, then applies fixes as the mode allows (e2fsck's -n, -p,
 * -y), pass by pass, so that the contents fixed by one pass are what the
 * next one sees. Returns one typed report; the CLI renders it.
 */
import { ExitCode, LayerfsckError, UsageError } from '../errors.js'
import { requireStore } from '../detect/identify.js'
import type { Family, FamilyName } from '../family/types.js'
import type { FsPort } from '../fs/port.js'
import { resolveRoot } from '../fs/roots.js'
import { withListingsAhead } from '../fs/walk.js'
import { sessionOptions, type ChangeOptions } from '../steps/options.js'
import { withSession, type StoreSession } from '../steps/session.js'
import type { Step, StepOutcome } from '../steps/step.js'
import type { CheckData } from './data.js'
import { allChecks } from './registry.js'
import { PASSES, type CheckContext, type CheckSpec, type ContentDir, type Finding, type FixSpec, type PassName, type Severity } from './types.js'

/** 2: reports name the family; the Mesos-only pass became `containers`; `settings` replaced `backend`. */
export const CHECK_SCHEMA_VERSION = 2

export type CheckMode = 'no' | 'preen' | 'yes'

export interface CheckOptions extends ChangeOptions {
  store: string
  /** Only a store of this family is checked; detected when absent. */
  family?: FamilyName
  /** Mesos: the agent work dir, whose containers and mounts are checked with the store. */
  workDir?: string
  /** Where the runtime says what runs: Mesos' --runtime_dir, Docker's --exec-root. */
  runtimeDir?: string
  /** A file of live container ids, one a line. */
  knownContainers?: string
  /** Mesos: the backend references are checked for (overlay, aufs, copy, bind); detected when absent. */
  backend?: string
  /** -n (the default), -p, -y. */
  mode?: CheckMode
  only?: readonly string[]
  skip?: readonly string[]
  /** Where the kernel's filesystem list is read; /proc/filesystems by default. */
  procFilesystems?: string
  /** How long a leftover must be untouched before it is garbage; an hour by default, as for gc. */
  graceMs?: number
  signal?: AbortSignal
  onProgress?: (event: { pass: PassName; done: number; total: number; item: string }) => void
}

export interface FindingResult extends Finding {
  title: string
  /** `gc`: layerfsck gc collects it (with --prune-layers when the describe says so); check never does. */
  fix: { by: 'check' | 'operator' | 'gc'; describe: string; safe: boolean } | null
  status: 'open' | 'fixed' | 'fix-failed'
  /** Why a fix was not applied or did not land (busy, refused, no liveness source). */
  fixError?: string
}

export interface PassResult {
  name: PassName
  title: string
  ms: number
  findings: FindingResult[]
}

export interface CheckReport {
  schemaVersion: typeof CHECK_SCHEMA_VERSION
  store: string
  workDir: string | undefined
  adapter: 'disk' | 'memory'
  mode: CheckMode
  family: FamilyName
  /** How the store was read, in words: the backend or driver, the format, the liveness source. */
  settings: Record<string, string>
  liveness: 'known-containers' | 'runtime-dir' | 'unknown'
  passes: PassResult[]
  totals: Record<Severity, number> & { fixed: number; open: number }
  exitCode: number
  /** What to run next, in words an operator can paste. */
  next: string[]
  /** A layerfsck run that was interrupted before this check, as its journal tells. */
  interrupted: { command: string; pid: number; at: string; inProgress: string | undefined } | undefined
}

export class CancelledError extends LayerfsckError {
  constructor() {
    super('CANCELLED', 'check was cancelled; fixes already applied are complete, and a re-run continues', { exitCode: ExitCode.cancelled })
  }
}

function selectChecks(family: Family, options: CheckOptions): CheckSpec[] {
  const known = new Set(allChecks().map((c) => c.check.code))
  for (const code of [...(options.only ?? []), ...(options.skip ?? [])]) {
    if (!known.has(code)) throw new UsageError(`unknown check code ${code}`, 'docs/checks.md lists every code')
  }
  const only = options.only && options.only.length > 0 ? new Set(options.only) : undefined
  const skip = new Set(options.skip ?? [])
  return family.check.checks.filter((c) => (only === undefined || only.has(c.code)) && !skip.has(c.code))
}

const MODE_FLAG: Record<CheckMode, string> = { no: '-n', preen: '-p', yes: '-y' }

/** What check and gc read a store with: the store and work dir resolved, the family proved, the data ready. */
export interface OpenedStore {
  store: string
  workDir: string | undefined
  family: Family
  data: CheckData
}

export type ReadOptions = Pick<CheckOptions, 'store' | 'family' | 'workDir' | 'runtimeDir' | 'knownContainers' | 'backend' | 'procFilesystems' | 'procRoot'> & {
  graceMs?: number
  pruneLayers?: boolean
}

/**
 * Proves what the store is (the stamp first of all, so a store in a newer
 * format is refused before it is read) and makes its family's data, whose
 * liveness source is read at once: a source the operator named and that is
 * not there stops the command before the lock or any change.
 */
export async function openStore(fs: FsPort, options: ReadOptions, command: string): Promise<OpenedStore> {
  const store = await resolveRoot(fs, options.store, 'store')
  const { family } = await requireStore(fs, store, command, options.family === undefined ? {} : { family: options.family })
  const workDir = options.workDir === undefined ? undefined : await resolveRoot(fs, options.workDir, 'work dir')
  const data = await family.check.data(fs, store, {
    ...(workDir !== undefined ? { workDir } : {}),
    ...(options.knownContainers !== undefined ? { knownContainers: options.knownContainers } : {}),
    ...(options.runtimeDir !== undefined ? { runtimeDir: options.runtimeDir } : {}),
    ...(options.backend !== undefined ? { backend: options.backend } : {}),
    ...(options.procFilesystems !== undefined ? { procFilesystems: options.procFilesystems } : {}),
    ...(options.procRoot !== undefined ? { procRoot: options.procRoot } : {}),
    ...(options.graceMs !== undefined ? { graceMs: options.graceMs } : {}),
    ...(options.pruneLayers ? { pruneLayers: true } : {}),
  })
  await data.validateInputs()
  return { store, workDir, family, data }
}

/** The context a check runs in; each finding it reports goes to `sink`, with the check's code, severity and pass. */
export function checkContext(
  base: Pick<CheckContext, 'fs' | 'store' | 'data' | 'interrupted' | 'scratch'>,
  spec: CheckSpec,
  pass: PassName,
  sink: (finding: Finding) => void,
): CheckContext {
  return { ...base, roots: base.data.roots(), report: (f) => sink({ code: spec.code, severity: spec.severity, pass, ...f }) }
}

/** A check's fix of one finding as a step of the engine; check and gc name it alike, `<code>:<path>`, in the journal. */
export function fixStep(code: string, fix: Extract<FixSpec, { by: 'check' }>, ctx: CheckContext, finding: Finding, wrap: (applying: Promise<void>) => Promise<void> = (a) => a): Step {
  return {
    id: `${code}:${finding.path}`,
    describe: () => `${fix.describe}: ${finding.path}`,
    isDone: () => fix.isDone?.(ctx, finding) ?? Promise.resolve(false),
    apply: () => wrap(fix.apply(ctx, finding)),
  }
}

/** What a killed run claimed and recovery did not remove (a mount in the way, a claim that is no staging dir of this store). */
export async function interruptedOf(session: StoreSession, recovering: boolean): Promise<CheckContext['interrupted']> {
  const r = session.resumed
  if (r === undefined) return undefined
  const left: string[] = []
  for (const rel of r.claims) {
    const path = `${session.store}/${rel}`
    if (!session.recovered.includes(path) && (await session.fs.lstat(path).catch(() => undefined)) !== undefined) left.push(rel)
  }
  return { command: r.command, pid: r.pid, at: r.at, claims: r.claims, left, recovered: recovering }
}

export async function runCheck(fs: FsPort, options: CheckOptions): Promise<CheckReport> {
  const mode = options.mode ?? 'no'
  const { store, family, data, workDir } = await openStore(fs, options, 'check')
  const checks = selectChecks(family, options)
  return withSession(
    fs,
    {
      store,
      command: `check ${MODE_FLAG[mode]}`,
      intent: mode === 'no' ? 'read' : 'change',
      ...(family.guard ? { guard: (f: FsPort, procRoot: string | undefined) => family.guard!(f, store, procRoot) } : {}),
      ...(family.claims ? { claims: family.claims } : {}),
      ...sessionOptions(options),
    },
    (session) => checkInSession(session, family, data, checks, mode, store, workDir, options),
  )
}

async function checkInSession(
  session: StoreSession,
  family: Family,
  data: CheckData,
  checks: CheckSpec[],
  mode: CheckMode,
  store: string,
  workDir: string | undefined,
  options: CheckOptions,
): Promise<CheckReport> {
  const { fs } = session
  const scratch = new Map<string, unknown>()
  const cancelled = (): void => {
    if (options.signal?.aborted) throw new CancelledError()
  }

  const interrupted = await interruptedOf(session, mode !== 'no')

  const passes: PassResult[] = []
  let changed = false
  for (const pass of PASSES) {
    const inPass = checks.filter((c) => c.pass === pass.name)
    // hrtime, not performance.now(): the global `performance` loads perf_hooks (2 ms of a short run).
    const started = process.hrtime.bigint()
    const findings: { spec: CheckSpec; finding: Finding }[] = []
    const contextFor = (spec: CheckSpec): CheckContext =>
      checkContext({ fs, store, data, interrupted, scratch }, spec, pass.name, (finding) => findings.push({ spec, finding }))
    if (pass.name === 'contents') await contentsPass(fs, data, inPass, contextFor, cancelled, options.onProgress)
    else {
      for (const spec of inPass) {
        cancelled()
        if (spec.pass !== 'contents') await spec.run(contextFor(spec))
      }
    }

    const results: FindingResult[] = []
    const steps: { step: Step; result: FindingResult }[] = []
    for (const { spec, finding } of findings) {
      const byGc = spec.garbage === 'gc-only' || spec.garbage === 'prune-layers'
      const fix = spec.fix
        ? byGc
          ? { by: 'gc' as const, describe: `${spec.fix.describe} (layerfsck gc${spec.garbage === 'prune-layers' ? ' --prune-layers' : ''})`, safe: false }
          : { by: spec.fix.by, describe: spec.fix.describe, safe: spec.fix.by === 'check' && spec.fix.safe }
        : null
      const result: FindingResult = { ...finding, title: spec.title, fix, status: 'open' }
      results.push(result)
      if (!byGc && spec.fix?.by === 'check' && (mode === 'yes' || (mode === 'preen' && spec.fix.safe))) {
        steps.push({ result, step: fixStep(spec.code, spec.fix, contextFor(spec), finding) })
      }
    }
    if (steps.length > 0) {
      cancelled()
      // Fixes run pass by pass, so what one pass fixed is what the next one reads.
      const outcomes = await session.runSteps(steps.map((s) => s.step))
      for (const [i, { result }] of steps.entries()) applyOutcome(result, outcomes[i])
      // Refused and deferred fixes changed nothing: they are no reason to stamp.
      if (outcomes.some((o) => o.status === 'applied')) changed = true
    }
    passes.push({ name: pass.name, title: pass.title, ms: Math.round(Number(process.hrtime.bigint() - started) / 1e6), findings: results })
  }
  // Also after no fix of our own: a run this one found interrupted is finished only by a commit.
  if (changed || session.resumed !== undefined) await session.commit((await data.stampFormat()) ?? (await family.currentFormat(fs, store)))
  // Every fix refused or deferred: the store is as found, and a journal left behind would read as a killed run.
  else await session.abandon()

  const all = passes.flatMap((p) => p.findings)
  const open = all.filter((f) => f.status !== 'fixed' && f.severity !== 'info')
  const fixed = all.filter((f) => f.status === 'fixed').length
  const totals = {
    error: all.filter((f) => f.severity === 'error').length,
    warning: all.filter((f) => f.severity === 'warning').length,
    info: all.filter((f) => f.severity === 'info').length,
    fixed,
    open: open.length,
  }
  const exitCode = (fixed > 0 ? ExitCode.corrected : 0) | (open.length > 0 ? ExitCode.uncorrected : 0)
  const next: string[] = []
  const pending = all.filter((f) => f.status === 'open' && f.fix?.by === 'check')
  if (pending.some((f) => f.fix?.safe)) next.push('layerfsck check -p  (applies the safe fixes)')
  if (pending.some((f) => !f.fix?.safe)) next.push('layerfsck check -y  (applies every fix, including those not safe unattended: unmounts, removals)')
  if (all.some((f) => f.status === 'open' && f.fix?.by === 'gc')) {
    const prune = all.some((f) => f.status === 'open' && f.fix?.by === 'gc' && f.fix.describe.endsWith('--prune-layers)'))
    next.push(`layerfsck gc${prune ? ' [--prune-layers]' : ''}  (shows what it would collect; --yes collects it)`)
  }
  if (all.some((f) => f.status === 'fix-failed')) next.push('run the same check again once what blocked a fix is gone (each failed fix says why)')
  if (all.some((f) => f.status !== 'fixed' && f.fix?.by === 'operator' && f.severity !== 'info')) next.push('see each remaining finding\'s fix: it needs a person')
  const { source } = await data.liveness()
  const r = session.resumed
  return {
    schemaVersion: CHECK_SCHEMA_VERSION,
    store,
    workDir,
    adapter: fs.kind,
    mode,
    family: family.name,
    settings: await data.settings(),
    liveness: source,
    passes,
    totals,
    exitCode,
    next,
    interrupted: r ? { command: r.command, pid: r.pid, at: r.at, inProgress: r.inProgress?.describe } : undefined,
  }
}

/** A fix that was deferred (busy) or refused stays a problem; the finding says why. */
function applyOutcome(result: FindingResult, outcome: StepOutcome | undefined): void {
  if (outcome === undefined) return
  if (outcome.status === 'applied' || outcome.status === 'already-done') result.status = 'fixed'
  else {
    result.status = 'fix-failed'
    if (outcome.reason !== undefined) result.fixError = outcome.reason
  }
}

/**
 * One walk per layer variant, directory by directory, handing each listing
 * to every content check. Entry kinds come from readdir; checks stat only
 * char devices and read xattrs only of directories, and only where their
 * finding can be. Memory is a few listing parts (this tree's and the next
 * two trees' first), not the tree.
 */
async function contentsPass(
  fs: FsPort,
  data: CheckData,
  checks: CheckSpec[],
  contextFor: (spec: CheckSpec) => CheckContext,
  cancelled: () => void,
  onProgress: CheckOptions['onProgress'],
): Promise<void> {
  const content = checks.filter((c): c is Extract<CheckSpec, { pass: 'contents' }> => c.pass === 'contents')
  if (content.length === 0) return
  const contexts = content.map((c) => ({ spec: c, ctx: contextFor(c) }))
  const variants = await data.contentRoots()
  // Two trees' first listing parts are read ahead: with two cores, a thread lists each while the walk looks at this one.
  let done = 0
  for (const [v, first] of withListingsAhead(variants, (v) => data.startListing(v.root), 2)) {
    onProgress?.({ pass: 'contents', done, total: variants.length, item: `${v.layer}/${v.variant}` })
    // Once per directory (3,000 of them at 200k entries), which is too few for V8 to optimize before the pass
    // ends: interpreted, an iterator per loop, a destructuring per check and an object spread per directory
    // cost more than the checks' own work. Indexed loops, one literal and a listing part per hand-over made
    // the pass 0.78x as long (15 alternating runs).
    for await (const part of data.walk(v.root, { first })) {
      for (let d = 0; d < part.length; d++) {
        // Per directory: a check may read for each (xattrs, devices), and a part holds thousands.
        cancelled()
        const l = part[d]!
        const dir: ContentDir = { layer: v.layer, variant: v.variant, root: v.root, whiteouts: v.whiteouts, path: l.path, rel: l.rel, entries: l.entries, count: l.count }
        for (let c = 0; c < contexts.length; c++) {
          const pending = contexts[c]!.spec.onDir(contexts[c]!.ctx, dir)
          if (pending !== undefined) await pending
        }
      }
    }
    for (const { spec, ctx } of contexts) await spec.onLayerDone?.(ctx, v)
    done += 1
  }
  onProgress?.({ pass: 'contents', done: variants.length, total: variants.length, item: '' })
}
