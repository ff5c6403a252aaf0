/**
 * `layerfsck migrate`: moves a Mesos docker store to another backend's
 * layout (and forward to a newer format) without pulling a single image
 * again. Mesos itself ignores every layer of the old backend and pulls all
 * of them anew (MESOS-6360); this builds each missing variant from the one
 * the layer has, at metadata speed.
 *
 * Preflight, plan, act. For every layer lacking the variant the target
 * backend reads in the target format (asked of the descriptor), one step:
 * clone the variant it has into `staging/XXXXXX/<n>/` (regular files hard
 * linked, everything else made fresh with its metadata), converting aufs
 * whiteouts to overlay ones on the way (overlay to aufs: in place after the
 * clone), compare the overlay view of the copy
 * with the source's, and only then make it durable and rename it into
 * `layers/<id>/`. The layers after it are built ahead into the same staging
 * dir and made durable by the same syncfs (ConvertBatches); each is renamed
 * by its own step. A mismatch throws the copy away and keeps the layer as it
 * was (exit 4). Then the format steps of migrations/ between the store's
 * format and the target; then, with --prune-source and only once every
 * format step holds (the target variant is then in the target form), one
 * step per variant the target setup does not read and no container or mount
 * does; the stamp last.
 *
 * Crash story: everything before a rename lives in a staging dir claimed in
 * the journal, which the next session removes; a variant under its real
 * name is whole (syncfs before the rename), so a re-run plans it as present.
 * A pruned variant is renamed into a claimed staging dir before it is
 * removed, so it is never half-deleted under its real name.
 * Hard links are safe because layers are read-only and nothing here changes
 * a shared inode: the codec only unlinks names, creates new inodes and
 * edits directories the clone made fresh, and reads a source marker it
 * converts.
 */
import { semver } from '../../format/semver.js'
import { ExitCode, LayerfsckError, UsageError } from '../../errors.js'
import { requireStore } from '../../detect/identify.js'
import { readStamp } from '../../format/stamp.js'
import { escapeName } from '../../fs/name-bytes.js'
import type { FsPort } from '../../fs/port.js'
import { withListingsAhead } from '../../fs/walk.js'
import { resolveRoot } from '../../fs/roots.js'
import { cloneTree, compareLayerTrees, planListing, planTree, type CloneReport, type TreePlan } from '../../layer/clone.js'
import type { WhiteoutCounts } from './detect.js'
import { convertLayer, type ConvertReport } from '../../layer/whiteout-codec.js'
import { readMetadata } from '../../metadata/read.js'
import { scanLayerUsers, type ContainerScan, type OldBackendContainer } from './layer-users.js'
import { sessionOptions, type ChangeOptions } from '../../steps/options.js'
import { withSession, type StoreSession } from '../../steps/session.js'
import type { Step, StepOutcome } from '../../steps/step.js'
import { MIGRATIONS, type MigrationContext, type MigrationStep } from '../../../migrations/index.js'
import { currentMesosFormatDetected } from './current-format.js'
import { BACKENDS, rootfsDirFor, type Backend, type FormatDescriptor, type WhiteoutForm } from './descriptor.js'
import { knownVariant, latestMesosFormat, MESOS_FORMATS, VARIANT_DIRS } from './formats/index.js'
import { requireWorkDir } from './identify.js'
import { decodeStoredImages, referenceKey } from './metadata/stored-images.js'
import { runPreflight, type Preflight } from './migrate-preflight.js'
import { AGENT_PROCESSES, layerDir, layerIdShape, layersDir, STAGING_CLAIMS, storedImagesPath } from './paths.js'
import { makeStagingDir, removeStage } from './staging.js'

export type { Preflight, PreflightCheck, PreflightCheckId } from './migrate-preflight.js'

export const MIGRATE_SCHEMA_VERSION = 1

export type MigrateStrategy = 'convert' | 'ignore'
export const MIGRATE_STRATEGIES: readonly MigrateStrategy[] = ['convert', 'ignore']

export interface MigrateOptions extends ChangeOptions {
  store: string
  /** The agent work dir: its containers provisioned under another backend are reported. */
  workDir?: string
  toBackend: Backend
  /** convert (the default) builds the missing variants; ignore changes nothing and reports what the agent will pull again. */
  strategy?: MigrateStrategy
  /** A Mesos format version not older than the store's; the newest this build knows by default. */
  toFormat?: string
  /** Copy file data instead of hard-linking it. */
  copy?: boolean
  /**
   * Remove, once a layer has the target variant and every format step holds, the variants the target
   * setup does not read. Needs workDir: without the containers' checkpoints nothing says what they read.
   */
  pruneSource?: boolean
  /** Plan, preflight and report; change nothing. */
  dryRun?: boolean
  /** Where the kernel's filesystem list is read; /proc/filesystems by default. */
  procFilesystems?: string
  signal?: AbortSignal
  onEvent?: (event: MigrateEvent) => void
}

export type LayerAction = 'convert' | 'present' | 'no-source'

/**
 * - planned: a dry run would convert it;
 * - converted: this run built the target variant;
 * - present: the layer had it already;
 * - no-source: the layer has no variant to build it from (the agent pulls it again);
 * - verify-failed: the built copy did not match its source, so it was thrown away;
 * - refused: the layer could not be converted safely and was left as it was (the reason says why);
 * - deferred: busy every time it was tried; a re-run continues.
 */
export type LayerStatus = 'planned' | 'converted' | 'present' | 'no-source' | 'verify-failed' | 'refused' | 'deferred'

export interface VariantRef {
  variant: string
  whiteouts: WhiteoutForm
}

export interface LayerCounts {
  entries: number
  files: number
  dirs: number
  whiteouts: number
  opaqueDirs: number
  /** Bytes of file data in the source; what --copy copies. */
  bytes: number
  /** Regular files the new variant shares with the source (0 with --copy; a dry run's is an estimate). */
  hardLinked: number
  /** Bytes actually copied (0 without --copy). */
  copiedBytes: number
}

export interface MigrateLayer {
  id: string
  action: LayerAction
  from: VariantRef | undefined
  to: VariantRef
  status: LayerStatus
  /** For a dry run, what the conversion would do; after a conversion, what it did. */
  counts: LayerCounts | undefined
  /** Variant dirs --prune-source removes once the target variant stands (a dry run: would remove). */
  prune: string[]
  /** Variant dirs this run removed. */
  pruned: string[]
  /** Variant dirs --prune-source leaves (a container may read them, or removing one was refused), and why. */
  kept: { variant: string; reason: string }[]
  /** Why the layer was not converted. */
  reason?: string
  /** The first differences verification found. */
  mismatches?: { path: string; what: string }[]
}

export interface MigrationReport {
  id: string
  from: string
  to: string
  describe: string
  status: 'pending' | 'done' | 'applied' | 'refused' | 'deferred'
  reason?: string
}

export interface ImageRepull {
  reference: string | undefined
  /** Layers of the image. */
  layers: number
  /** Layers the agent will pull again: those without the variant the target backend reads. */
  pullAgain: { id: string; bytes: number | undefined }[]
  /** Bytes of the layers pulled again, as stored (uncompressed); a lower bound when some are unknown. */
  bytes: number
}

export type { OldBackendContainer }

export interface MigrateReport {
  schemaVersion: typeof MIGRATE_SCHEMA_VERSION
  store: string
  workDir: string | undefined
  adapter: 'disk' | 'memory'
  from: { version: string }
  to: { version: string; variant: string; whiteouts: WhiteoutForm }
  toBackend: Backend
  strategy: MigrateStrategy
  dryRun: boolean
  copy: boolean
  pruneSource: boolean
  preflight: Preflight
  layers: MigrateLayer[]
  migrations: MigrationReport[]
  /** With strategy ignore: per image, what the agent will pull again. */
  images: ImageRepull[]
  /** Containers provisioned under a backend other than the target (only with a work dir). */
  containers: OldBackendContainer[]
  /** The format the store was stamped with by this run; undefined when the stamp was not written. */
  stamped: string | undefined
  /** Nothing was (or, in a dry run, would be) changed: every layer is as the target needs, the format is the target. */
  nothingToDo: boolean
  totals: { layers: number; convert: number; converted: number; present: number; noSource: number; failed: number; pruned: number; hardLinked: number; copiedBytes: number }
  resumed: { command: string; pid: number; at: string } | undefined
  exitCode: number
  next: string[]
}

/** What a new directory costs at least, on the filesystems overlay sits on. */
const DIR_BLOCK = 4096

export type MigrateEvent =
  | { type: 'plan'; layers: number; convert: number; prune: boolean; migrations: number }
  | { type: 'entries'; index: number; total: number; id: string; entries: number }
  | { type: 'layer'; index: number; total: number; id: string; status: LayerStatus; entries?: number }
  | { type: 'prune'; index: number; total: number; id: string; variant: string; status: 'pruned' | 'kept' }
  | { type: 'migration'; id: string; status: MigrationReport['status'] }

/** A preflight blocker, thrown before any change; the error document carries the checks. */
export class MigratePreflightError extends LayerfsckError {
  constructor(
    readonly store: string,
    readonly preflight: Preflight,
  ) {
    super('MIGRATE_PREFLIGHT', `not migrating ${escapeName(store)}: ${preflight.blockers.join('; ')}; nothing was changed`, {
      exitCode: ExitCode.operational,
      hint: 'fix what is named, or migrate to another backend; --dry-run shows every preflight check',
    })
  }

  toJSON(): Record<string, unknown> {
    return { preflight: this.preflight }
  }
}

/** Verification found the built variant differs from its source: the layer stays as it was. */
class VerifyFailedError extends LayerfsckError {
  constructor(id: string, mismatches: { path: string; what: string }[]) {
    const first = mismatches
      .slice(0, 3)
      .map((m) => `${escapeName(m.path)}: ${m.what}`)
      .join('; ')
    super('VERIFY_FAILED', `layer ${escapeName(id)}: the converted copy does not match its source (${first}); the layer is left as it was`, {
      exitCode: ExitCode.uncorrected,
      refusal: true,
    })
  }
}

const isDir = async (fs: FsPort, path: string): Promise<boolean> => (await fs.lstat(path))?.kind === 'dir'

/** A run that changes nothing: it plans and reports. */
const isReadOnly = (options: MigrateOptions, strategy: MigrateStrategy): boolean => options.dryRun === true || strategy === 'ignore'

function targetFormatFor(options: MigrateOptions): Readonly<FormatDescriptor> {
  if (options.toFormat === undefined) return latestMesosFormat()
  const found = MESOS_FORMATS.find((f) => f.version === options.toFormat)
  if (found === undefined) {
    throw new UsageError(`--to-format ${options.toFormat} is no Mesos store format this build knows (${MESOS_FORMATS.map((f) => f.version).join(', ')})`)
  }
  return found
}

/** The whiteout form a variant dir holds in the store's current format (a 1.1.0 store's overlay variant holds aufs whiteouts). */
function formIn(format: Readonly<FormatDescriptor>, dir: string): WhiteoutForm | undefined {
  return format.rootfsVariants.find((v) => v.dir === dir)?.whiteouts ?? knownVariant(dir)?.whiteouts
}

interface PlannedLayer {
  report: MigrateLayer
  dir: string
  variants: string[]
}

/** A census without sizes from what detection counted of the same variant: the same walk, not made twice. */
const censusOf = (c: WhiteoutCounts): TreePlan => ({
  // Detection counts below the variant's root; a census counts the root too.
  entries: c.entries + 1,
  files: c.files,
  dirs: c.dirs + 1,
  bytes: 0,
  aufsWhiteouts: c.aufsWhiteouts,
  aufsOpaque: c.aufsOpaque,
  overlayWhiteouts: c.overlayWhiteouts,
  overlayOpaque: c.overlayOpaque,
})

/** Layer dirs and the variant dirs each holds; anything that is no layer dir is check's business. */
async function planLayers(fs: FsPort, store: string, current: Readonly<FormatDescriptor>, to: VariantRef): Promise<PlannedLayer[]> {
  const root = layersDir(store)
  if (!(await isDir(fs, root))) return []
  const out: PlannedLayer[] = []
  const ids = (await fs.readdir(root)).filter((e) => e.kind === 'dir' && layerIdShape(e.name) !== undefined).map((e) => e.name)
  for (const id of ids.sort()) {
    const dir = layerDir(store, id)
    const children = await fs.readdir(dir)
    const variants = VARIANT_DIRS.filter((v) => children.some((c) => c.name === v && c.kind === 'dir'))
    const base: MigrateLayer = { id, action: 'present', from: undefined, to, status: 'present', counts: undefined, prune: [], pruned: [], kept: [] }
    if (variants.includes(to.variant)) {
      out.push({ report: base, dir, variants })
      continue
    }
    // Of the variants the layer has, one in the target's form needs no conversion.
    const sources = variants
      .map((v) => ({ variant: v, whiteouts: formIn(current, v) }))
      .filter((v): v is VariantRef => v.whiteouts !== undefined)
      .sort((a, b) => Number(a.whiteouts !== to.whiteouts) - Number(b.whiteouts !== to.whiteouts))
    const from = sources[0]
    out.push({
      report: from === undefined ? { ...base, action: 'no-source', status: 'no-source' } : { ...base, action: 'convert', from, status: 'planned' },
      dir,
      variants,
    })
  }
  return out
}

async function imagesToPullAgain(fs: FsPort, store: string, layers: PlannedLayer[]): Promise<ImageRepull[]> {
  const stored = await readMetadata(fs, storedImagesPath(store), decodeStoredImages)
  if (stored.state === 'absent') return []
  if (stored.state === 'unreadable') {
    throw new LayerfsckError('STORED_IMAGES_UNREADABLE', `${escapeName(storedImagesPath(store))} cannot be read (${stored.reason})`, { hint: 'run `layerfsck check` on the store first' })
  }
  const byId = new Map(layers.map((l) => [l.report.id, l]))
  const sizes = new Map<string, number | undefined>()
  const sizeOf = async (id: string): Promise<number | undefined> => {
    if (sizes.has(id)) return sizes.get(id)
    const l = byId.get(id)
    const from = l?.report.from ?? (l?.variants[0] !== undefined ? { variant: l.variants[0] } : undefined)
    const bytes = l === undefined || from === undefined ? undefined : (await planTree(fs, `${l.dir}/${from.variant}`)).bytes
    sizes.set(id, bytes)
    return bytes
  }
  const out: ImageRepull[] = []
  for (const image of stored.value) {
    const pullAgain: ImageRepull['pullAgain'] = []
    for (const id of image.layerIds) {
      if (byId.get(id)?.report.action === 'present') continue
      pullAgain.push({ id, bytes: await sizeOf(id) })
    }
    out.push({
      reference: image.reference ? referenceKey(image.reference) : undefined,
      layers: image.layerIds.length,
      pullAgain,
      bytes: pullAgain.reduce((n, l) => n + (l.bytes ?? 0), 0),
    })
  }
  return out
}

export async function migrate(fs: FsPort, options: MigrateOptions): Promise<MigrateReport> {
  if (!(BACKENDS as readonly string[]).includes(options.toBackend)) throw new UsageError(`--to-backend must be one of ${BACKENDS.join(', ')}, not ${options.toBackend}`)
  const strategy = options.strategy ?? 'convert'
  if (!MIGRATE_STRATEGIES.includes(strategy)) throw new UsageError(`--strategy must be one of ${MIGRATE_STRATEGIES.join(', ')}, not ${strategy}`)
  const target = targetFormatFor(options)
  const store = await resolveRoot(fs, options.store, 'store')
  await requireStore(fs, store, 'migrate', { family: 'mesos' })
  if (options.pruneSource === true && options.workDir === undefined) {
    throw new UsageError(
      '--prune-source needs --work-dir: only the containers\' layer checkpoints in the agent\'s work dir say which variants a container still reads, and pruning one a container reads breaks it; nothing was changed',
      "name the agent's --work_dir, or leave --prune-source out (the old variants then stay)",
    )
  }
  const workDir = options.workDir === undefined ? undefined : await resolveRoot(fs, options.workDir, 'work dir')
  const provisioner = workDir === undefined ? undefined : await requireWorkDir(fs, workDir)
  const readOnly = isReadOnly(options, strategy)
  return withSession(
    fs,
    {
      store,
      command: strategy === 'ignore' ? 'migrate --strategy ignore' : readOnly ? 'migrate --dry-run' : 'migrate',
      intent: readOnly ? 'read' : 'change',
      guardProcesses: AGENT_PROCESSES,
      claims: STAGING_CLAIMS,
      ...sessionOptions(options),
    },
    (session) => migrateInSession(session, options, strategy, target, workDir, provisioner),
  )
}

async function migrateInSession(
  session: StoreSession,
  options: MigrateOptions,
  strategy: MigrateStrategy,
  target: Readonly<FormatDescriptor>,
  workDir: string | undefined,
  provisioner: string | undefined,
): Promise<MigrateReport> {
  const { fs, store } = session
  const emit = (e: MigrateEvent): void => options.onEvent?.(e)
  const dryRun = options.dryRun === true
  const copy = options.copy === true
  const pruneSource = options.pruneSource === true

  // Under the lock: the format is the store's as found, before this run adds anything.
  const { format: current, detected } = await currentMesosFormatDetected(fs, store)
  if (semver.lt(target.version, current.version)) {
    throw new LayerfsckError('FORMAT_DOWNGRADE', `${escapeName(store)} is in format ${current.version}; migrate moves a store forward only, not to ${target.version}; nothing was changed`, {
      exitCode: ExitCode.operational,
      hint: `leave --to-format out (the newest, ${latestMesosFormat().version}) or name ${current.version} or newer`,
    })
  }
  const v = rootfsDirFor(target, options.toBackend)
  const to: VariantRef = { variant: v.dir, whiteouts: v.whiteouts }
  const planned = await planLayers(fs, store, current, to)
  const layers = planned.map((p) => p.report)
  const convert = planned.filter((p) => p.report.action === 'convert')
  const scan = await scanLayerUsers(fs, store, provisioner, current, options.toBackend, pruneSource && strategy === 'convert')

  const ctx = { fs, store, ...(workDir !== undefined ? { workDir } : {}) }
  // Without a stamp the format is detect's lower bound, which a run that stopped half-way moves (half its whiteouts
  // converted read as the next format; a step that failed ends the session cleanly, so no journal says so): then,
  // and after a crash, every step up to the target is asked whether it is done.
  const stamp = await readStamp(fs, store)
  const unsure = session.resumed !== undefined || stamp.state !== 'ok'
  const pendingMigrations = MIGRATIONS.filter((m) => semver.lte(m.to, target.version) && (semver.gte(m.from, current.version) || unsure))
  const migrations: MigrationReport[] = []
  for (const m of pendingMigrations) {
    migrations.push({ id: m.id, from: m.from, to: m.to, describe: m.describe, status: (await m.isDone(ctx)) ? 'done' : 'pending' })
  }
  // What --prune-source removes: every other variant of a layer that has (or gets) the target's, but one a container may read.
  const prunable = (p: PlannedLayer): string[] => (pruneSource && p.report.action !== 'no-source' ? p.variants.filter((x) => x !== to.variant) : [])
  for (const p of planned) {
    for (const x of prunable(p)) {
      const kept = keepReason(p, x, scan)
      if (kept === undefined) p.report.prune.push(x)
      else p.report.kept.push(kept)
    }
  }
  const stampIsTarget = stamp.state === 'ok' ? stamp.stamp.version === target.version : current.version === target.version
  const nothingPlanned =
    convert.length === 0 && planned.every((p) => p.report.prune.length === 0) && migrations.every((m) => m.status === 'done') && stampIsTarget

  // Census of what would be converted: a dry run shows it, and preflight weighs it against the free space and inodes;
  // a real run recounts as it clones. A hard-linking run writes no file data, so its census sizes no file: a
  // converted layer's bytes come from its comparison, which reads every inode anyway, an unconverted one's from a
  // census after the steps.
  const sized = copy || isReadOnly(options, strategy)
  {
    // An unstamped store's detection walked every variant already: its entries, files and dirs are the census's. Its
    // aufs counts are of `.wh.` names, where the census asks the codec's plan (a marker beside the name it hides is
    // no whiteout); they only stand, as estimates, for a layer this run does not convert.
    const detectedCounts = new Map<string, WhiteoutCounts>()
    for (const l of sized ? [] : (detected?.layers ?? [])) for (const v of l.variants) detectedCounts.set(`${l.id}/${v.dir}`, v.whiteouts)
    const censuses = new Map<PlannedLayer, TreePlan>()
    for (const p of convert) {
      const c = detectedCounts.get(`${p.report.id}/${p.report.from!.variant}`)
      if (c !== undefined) censuses.set(p, censusOf(c))
    }
    // The others are walked, the next one's listing read ahead while this one is counted.
    const walks = convert.filter((p) => !censuses.has(p))
    const tree = (p: PlannedLayer): string => `${p.dir}/${p.report.from!.variant}`
    for (const [p, first] of withListingsAhead(walks, (p) => planListing(fs, tree(p), { sizes: sized }))) {
      censuses.set(p, await planTree(fs, tree(p), { sizes: sized, first }))
    }
    for (const p of convert) {
      const t = censuses.get(p)!
      const fromAufs = p.report.from!.whiteouts === 'aufs'
      p.report.counts = {
        entries: t.entries,
        files: t.files,
        dirs: t.dirs,
        whiteouts: fromAufs ? t.aufsWhiteouts : t.overlayWhiteouts,
        opaqueDirs: fromAufs ? t.aufsOpaque : t.overlayOpaque,
        bytes: t.bytes,
        // Whiteout markers are made fresh, never linked: an estimate, as a marker may also be a note the codec leaves.
        hardLinked: copy ? 0 : Math.max(0, t.files - (fromAufs ? t.aufsWhiteouts + t.aufsOpaque : 0)),
        copiedBytes: copy ? t.bytes : 0,
      }
    }
  }
  const overlayForm = (r: VariantRef | undefined): boolean => r?.whiteouts === 'overlay'
  const privileged =
    convert.some((p) => overlayForm(p.report.from) || overlayForm(p.report.to)) ||
    pendingMigrations.some((m, i) => m.privileged === true && migrations[i]!.status === 'pending')
  const need =
    strategy === 'convert'
      ? convert.reduce(
          (n, p) => ({
            inodes: n.inodes + (p.report.counts!.entries - (copy ? 0 : p.report.counts!.files)),
            // A directory takes at least a block wherever it lives; file data only when copied.
            bytes: n.bytes + p.report.counts!.dirs * DIR_BLOCK + (copy ? p.report.counts!.bytes : 0),
          }),
          { inodes: 0, bytes: 0 },
        )
      : undefined
  const preflight = await runPreflight(fs, {
    store,
    toBackend: options.toBackend,
    privileged: strategy === 'convert' && privileged,
    need,
    usesStaging: strategy === 'convert' && (convert.length > 0 || planned.some((p) => p.report.prune.length > 0)),
    ...(options.procFilesystems !== undefined ? { procFilesystems: options.procFilesystems } : {}),
  })

  const report: MigrateReport = {
    schemaVersion: MIGRATE_SCHEMA_VERSION,
    store,
    workDir,
    adapter: fs.kind,
    from: { version: current.version },
    to: { version: target.version, ...to },
    toBackend: options.toBackend,
    strategy,
    dryRun,
    copy,
    pruneSource,
    preflight,
    layers,
    migrations,
    images: [],
    containers: scan.containers,
    stamped: undefined,
    nothingToDo: nothingPlanned,
    totals: { layers: 0, convert: 0, converted: 0, present: 0, noSource: 0, failed: 0, pruned: 0, hardLinked: 0, copiedBytes: 0 },
    resumed: session.resumed ? { command: session.resumed.command, pid: session.resumed.pid, at: session.resumed.at } : undefined,
    exitCode: 0,
    next: [],
  }

  if (strategy === 'ignore') {
    report.images = await imagesToPullAgain(fs, store, planned)
    report.nothingToDo = report.images.every((i) => i.pullAgain.length === 0)
    return finish(report)
  }
  if (dryRun) return finish(report)
  if (preflight.blockers.length > 0) throw new MigratePreflightError(store, preflight)

  emit({ type: 'plan', layers: planned.length, convert: convert.length, prune: pruneSource, migrations: migrations.filter((m) => m.status === 'pending').length })
  if (nothingPlanned && session.resumed === undefined) return finish(report)

  // 1. One step per layer to convert.
  const batches = new ConvertBatches(session, convert, options, emit)
  await session.runSteps(
    convert.map((_, index) => batches.step(index)),
    ({ index, outcome }) => {
      const l = convert[index]!.report
      if (outcome.status === 'already-done') l.status = 'present'
      else if (outcome.status === 'deferred') Object.assign(l, { status: 'deferred', reason: outcome.reason })
      else if (outcome.status === 'refused' && l.status !== 'verify-failed') Object.assign(l, { status: 'refused', reason: outcome.reason })
      emit({ type: 'layer', index, total: convert.length, id: l.id, status: l.status, ...(l.counts ? { entries: l.counts.entries } : {}) })
    },
  )
  // Layers built ahead whose steps found them done meanwhile.
  await batches.dispose()
  if (!sized) {
    for (const p of convert) {
      const counts = p.report.counts
      if (p.report.status === 'converted' || counts === undefined) continue
      // What the census would have said; a tree that cannot be read now keeps 0 (its step said why).
      counts.bytes = (await planTree(fs, `${p.dir}/${p.report.from!.variant}`).catch(() => undefined))?.bytes ?? 0
    }
  }

  // 2. The format steps, then the stamp: the store claims the target format only once every one of them holds.
  const verified = new Set(planned.filter((p) => p.report.status === 'converted').map((p) => `${p.dir}/${to.variant}`))
  const formatSteps: Step[] = pendingMigrations.map((m) => migrationStep(m, { ...ctx, verified }))
  if (!stampIsTarget) {
    formatSteps.push({
      id: `stamp:${target.version}`,
      describe: () => `stamp the store as format ${target.version}`,
      isDone: async () => false,
      // The session's commit writes the stamp, after a syncfs, as the very last change.
      apply: async () => undefined,
    })
  }
  const outcomes: StepOutcome[] = await session.runSteps(formatSteps, ({ index, outcome }) => {
    const m = migrations[index]
    if (m === undefined) return
    m.status = outcome.status === 'applied' ? 'applied' : outcome.status === 'already-done' ? 'done' : outcome.status
    if (outcome.reason !== undefined) m.reason = outcome.reason
    emit({ type: 'migration', id: m.id, status: m.status })
  })
  const formatReached = outcomes.every((o) => o.status === 'applied' || o.status === 'already-done')

  // 3. --prune-source: only where the target variant stands, and only once it is in the target form (a 1.1.0
  // store's rootfs.overlay holds aufs whiteouts until 0001 converts them: its rootfs is the only sound tree till then).
  if (pruneSource) {
    const prunes: { p: PlannedLayer; variant: string }[] = []
    for (const p of planned) {
      if (p.report.action === 'no-source' || !(await isDir(fs, `${p.dir}/${to.variant}`))) continue
      for (const x of p.report.prune) {
        if (!(await isDir(fs, `${p.dir}/${x}`))) continue
        if (formatReached) prunes.push({ p, variant: x })
        else p.report.kept.push({ variant: x, reason: `a format step did not complete, so ${to.variant} may not be in the target form yet` })
      }
    }
    const steps = prunes.map(({ p, variant }) => pruneStep(session, p, variant, to, scan))
    await session.runSteps(steps, ({ index, total, outcome }) => {
      const { p, variant } = prunes[index]!
      if (outcome.status === 'applied') p.report.pruned.push(variant)
      else if (outcome.status === 'refused' || outcome.status === 'deferred') p.report.kept.push({ variant, reason: outcome.reason ?? outcome.status })
      emit({ type: 'prune', index, total, id: p.report.id, variant, status: outcome.status === 'applied' ? 'pruned' : 'kept' })
    })
  }

  const stampWith = formatReached ? target : current
  await session.commit(stampWith)
  report.stamped = stampWith.version
  return finish(report)
}

/** Why a variant must stay although the target setup does not read it: a container may still. */
function keepReason(p: PlannedLayer, variant: string, scan: ContainerScan): { variant: string; reason: string } | undefined {
  const reason = scan.protectedPaths.get(`${p.dir}/${variant}`) ?? scan.protectedDirs.get(variant)
  return reason === undefined ? undefined : { variant, reason }
}

/** A layer's clone reports its progress at its first entry and then after at least this many more (its `layer` event ends it). */
const ENTRIES_EVENT_EVERY = 32

/**
 * How many entries (by the census) the layers built ahead into one staging
 * dir may hold together: the syncfs, the claim and the staging dir's own
 * fsyncs are paid once for them all, not per layer (a syncfs per
 * 1000-entry layer cost a migrate more than the comparisons). A layer
 * larger than this is built alone.
 */
const BUILD_AHEAD_ENTRIES = 32_768

/** A layer's tree cloned and converted in the batch's staging dir, not compared yet. */
type Made = { staged: string; cloned: CloneReport; conversion: ConvertReport | undefined }
/** A layer's tree built, converted, verified and (after the batch's syncfs) durable, waiting for its step's rename; or what its build met. */
type Built = (Made & { bytes: number }) | { error: unknown }

/**
 * The convert steps' staging: the step of the first layer not built yet
 * builds it and the layers after it (up to BUILD_AHEAD_ENTRIES) into one
 * claimed staging dir, verifies each and makes them all durable in one
 * syncfs; each layer's own step then renames its tree into place, or throws
 * what its build met, so every outcome still belongs to its layer's step.
 * The staging dir goes once nothing in it waits; whatever a crash or a
 * cancel leaves there is a claim the session removes.
 */
class ConvertBatches {
  private stage: string | undefined
  private readonly built = new Map<number, Built>()

  constructor(
    private readonly session: StoreSession,
    private readonly convert: readonly PlannedLayer[],
    private readonly options: MigrateOptions,
    private readonly emit: (e: MigrateEvent) => void,
  ) {}

  step(index: number): Step {
    const { fs } = this.session
    const p = this.convert[index]!
    const l = p.report
    const from = l.from!
    const to = l.to
    const destination = `${p.dir}/${to.variant}`
    return {
      id: `convert:${l.id}/${to.variant}`,
      describe: () => `build ${to.variant} of layer ${l.id} from ${from.variant} (${from.whiteouts} to ${to.whiteouts} whiteouts)`,
      isDone: () => isDir(fs, destination),
      // Its change is one rename of a tree made durable in a claimed stage (the claim is durable before the stage
      // exists): it landed or it did not, which isDone tells. An fsync per layer was ~0.7 ms of an ext4 journal commit.
      beginDurable: false,
      apply: async () => {
        await this.refuseInTheWay(destination)
        if (!this.built.has(index)) await this.buildFrom(index)
        const built = this.built.get(index)!
        this.built.delete(index)
        try {
          if ('error' in built) throw built.error
          // No fsync of p.dir per layer: the commit's syncfs (or a failed run's, before its journal goes) makes the
          // rename durable. One lost to a power cut before that leaves the tree in the claimed stage, which the next
          // run removes, or lost with the stage; either way the journal is there and no stamp, and the next run builds
          // the layer again (isDone reads the destination). A prune of the source fsyncs p.dir before it moves anything.
          await fs.rename(built.staged, destination)
          l.status = 'converted'
          l.counts = {
            entries: built.cloned.entries,
            files: built.cloned.files,
            dirs: built.cloned.dirs,
            whiteouts: built.conversion?.whiteouts ?? 0,
            opaqueDirs: built.conversion?.opaqueDirs ?? 0,
            // The clone does not count bytes; its comparison did.
            bytes: built.bytes,
            hardLinked: built.cloned.hardLinked,
            copiedBytes: built.cloned.copiedBytes,
          }
        } finally {
          if (this.built.size === 0) await this.dispose()
        }
      },
    }
  }

  /** Removes the staging dir and what waits in it (layers whose steps did not run): after the steps, or before a new batch. */
  async dispose(): Promise<void> {
    this.built.clear()
    if (this.stage === undefined) return
    const stage = this.stage
    this.stage = undefined
    await removeStage(this.session.fs, stage)
    await this.session.release(stage)
  }

  private async refuseInTheWay(destination: string): Promise<void> {
    const there = await this.session.fs.lstat(destination)
    if (there !== undefined) {
      throw new LayerfsckError('MIGRATE_IN_THE_WAY', `${escapeName(destination)} is a ${there.kind}, not a layer tree; left alone`, { refusal: true, hint: 'layerfsck check reports it' })
    }
  }

  /**
   * Builds layer `first` and the layers after it that fit, then one syncfs.
   * What `first` meets is thrown here, as its step's own; what a later
   * layer meets ends the batch there and waits for that layer's step.
   * A layer is compared with its source while the next one is cloned: the
   * comparison waits mostly on the threadpool's reads and the clone on its
   * links, so the two go on at once instead of one after the other.
   */
  private async buildFrom(first: number): Promise<void> {
    const { fs } = this.session
    // A batch left over (a step retried after its rename failed) is built again from here.
    await this.dispose()
    this.stage = await makeStagingDir(this.session)
    let entries = 0
    let verifying: { index: number; built: Promise<Built> } | undefined
    /** Waits for the comparison in flight and records its layer: false when the batch ends there. */
    const settle = async (): Promise<boolean> => {
      if (verifying === undefined) return true
      const { index, built } = verifying
      verifying = undefined
      const outcome = await built
      if ('error' in outcome && index === first) {
        await this.dispose()
        throw outcome.error
      }
      this.built.set(index, outcome)
      return !('error' in outcome)
    }
    try {
      for (let index = first; index < this.convert.length; index++) {
        const p = this.convert[index]!
        const census = p.report.counts?.entries ?? 0
        if (index > first && entries + census > BUILD_AHEAD_ENTRIES) break
        // Its step decides about a destination already there (done, or in the way).
        if (index > first && (await fs.lstat(`${p.dir}/${p.report.to.variant}`)) !== undefined) continue
        entries += census
        let made: Made
        try {
          made = await this.make(index, `${this.stage}/${index}`)
        } catch (err) {
          // The layer before it is still being compared: its outcome comes first.
          const before = await settle()
          if (index === first) {
            await this.dispose()
            throw err
          }
          if (before) this.built.set(index, { error: err })
          break
        }
        // A layer that failed its comparison ends the batch; this one's tree waits unused in the stage, which goes with it.
        if (!(await settle())) break
        verifying = { index, built: this.verify(index, made).catch((error: unknown) => ({ error })) }
      }
    } catch (err) {
      // A comparison still reading would outlive the batch its caller is about to remove.
      await verifying?.built
      throw err
    }
    // One syncfs makes every tree of the batch durable before any gets its real name: a variant under its name is never
    // partial. It waits for the disk while the last layer is compared, which only reads. The stage's filesystem, which
    // preflight proved is the layers': the store root may be another.
    // Neither is left running when the other fails; what the last comparison met is thrown before what the syncfs met.
    for (const outcome of await Promise.allSettled([settle(), fs.syncfs(this.stage)])) {
      if (outcome.status === 'rejected') throw outcome.reason
    }
  }

  /** Clones a layer's tree into `dir` and converts its whiteouts: everything but the comparison. */
  private async make(index: number, dir: string): Promise<Made> {
    const { fs } = this.session
    const p = this.convert[index]!
    const l = p.report
    const from = l.from!
    const to = l.to
    const source = `${p.dir}/${from.variant}`
    if (from.whiteouts === 'overlay' && to.whiteouts === 'aufs') {
      // A file named like an aufs whiteout is a plain file in the overlay form, but the aufs
      // form would read it as a whiteout: no tree in that form says what this one does.
      const census = await planTree(fs, source, { sizes: false })
      if (census.aufsWhiteouts + census.aufsOpaque > 0) {
        throw new LayerfsckError(
          'MIGRATE_AMBIGUOUS',
          `layer ${escapeName(l.id)}: ${escapeName(from.variant)} holds ${census.aufsWhiteouts + census.aufsOpaque} files named like aufs whiteouts, which the aufs form cannot tell from whiteouts; left as it was`,
          { refusal: true },
        )
      }
    }
    await fs.mkdir(dir, 0o700)
    const staged = `${dir}/${to.variant}`
    const total = this.convert.length
    let told: number | undefined
    // aufs to overlay, the way this migration goes, is converted as the clone is made; the other way round, after.
    const toOverlay = from.whiteouts === 'aufs' && to.whiteouts === 'overlay'
    const cloned = await cloneTree(fs, source, staged, {
      copy: this.options.copy === true,
      // The overlay form's codec only reads a marker and removes it: the source's inode is never written through it.
      linkMarkers: to.whiteouts === 'overlay',
      ...(toOverlay ? { toOverlay: {} } : {}),
      ...(this.options.signal ? { signal: this.options.signal } : {}),
      onProgress: (e) => {
        // An event per entry was a JSON line per entry with --json: more than the clone's own work.
        if (told !== undefined && e.entries - told < ENTRIES_EVENT_EVERY) return
        told = e.entries
        this.emit({ type: 'entries', index, total, id: l.id, entries: e.entries })
      },
    })
    // The batch's syncfs makes the staged tree durable whole; nothing reads it before.
    const conversion = toOverlay ? cloned.conversion : from.whiteouts === to.whiteouts ? undefined : await convertLayer(fs, staged, to.whiteouts, { syncDirs: false })
    // A device or directory with a whiteout's name the codec left as it was: the target form cannot say what it says.
    const unexpressed = conversion?.notes.filter((n) => n.code === 'whiteout-not-file') ?? []
    if (unexpressed.length > 0) {
      throw new LayerfsckError(
        'MIGRATE_INEXPRESSIBLE',
        `layer ${escapeName(l.id)}: ${unexpressed.length} entries of ${escapeName(from.variant)} have no ${to.whiteouts} form (${unexpressed
          .slice(0, 3)
          .map((n) => `${escapeName(n.path.startsWith(`${staged}/`) ? n.path.slice(staged.length + 1) : n.path)}: ${n.message}`)
          .join('; ')}); left as it was`,
        { refusal: true, hint: 'layerfsck check reports them' },
      )
    }
    return { staged, cloned, conversion }
  }

  /** Compares a made layer with its source, entry by entry: a mismatch keeps the layer as it was. */
  private async verify(index: number, made: Made): Promise<Built> {
    const p = this.convert[index]!
    const l = p.report
    const from = l.from!
    const tally = { bytes: 0 }
    const mismatches = await compareLayerTrees(this.session.fs, `${p.dir}/${from.variant}`, from.whiteouts, made.staged, l.to.whiteouts, {
      limit: 10,
      // Reads bytes only where the two sides are not one inode: the copied files, the markers, a tampered file.
      data: true,
      tally,
      ...(this.options.signal ? { signal: this.options.signal } : {}),
    })
    if (mismatches.length > 0) {
      l.status = 'verify-failed'
      l.mismatches = mismatches
      const err = new VerifyFailedError(l.id, mismatches)
      l.reason = err.message
      throw err
    }
    return { ...made, bytes: tally.bytes }
  }
}

function pruneStep(session: StoreSession, p: PlannedLayer, variant: string, to: VariantRef, scan: ContainerScan): Step {
  const path = `${p.dir}/${variant}`
  return {
    id: `prune:${p.report.id}/${variant}`,
    describe: () => `remove ${variant} of layer ${p.report.id}, which the target setup does not read`,
    isDone: async ({ fs }) => (await fs.lstat(path)) === undefined,
    apply: async ({ fs }) => {
      // Never the layer's only tree.
      if (!(await isDir(fs, `${p.dir}/${to.variant}`))) {
        throw new LayerfsckError('MIGRATE_PRUNE', `layer ${escapeName(p.report.id)} has no ${to.variant}; ${variant} stays`, { refusal: true })
      }
      const kept = keepReason(p, variant, scan)
      if (kept !== undefined) throw new LayerfsckError('MIGRATE_PRUNE', `${escapeName(path)} stays: ${kept.reason}`, { refusal: true })
      // The target's name durable before the other tree leaves: its convert step renamed it here without an fsync,
      // and a power cut that kept this rename but lost that one would leave the layer no tree at all.
      await fs.fsync(p.dir)
      // Out of its real name in one rename, into a claimed dir: a crash mid-removal leaves a staging dir the next
      // session removes, never a half-deleted variant a re-run or an agent would take for a whole one.
      const stage = await makeStagingDir(session)
      await fs.rename(path, `${stage}/${variant}`)
      await fs.fsync(stage)
      await fs.fsync(p.dir)
      // A removal that fails keeps the claim, so the next session finishes it.
      await removeStage(fs, stage)
      await session.release(stage)
    },
  }
}

function migrationStep(m: MigrationStep, ctx: MigrationContext): Step {
  return {
    id: `migration:${m.id}`,
    describe: () => m.describe,
    isDone: () => m.isDone(ctx),
    apply: () => m.apply(ctx),
  }
}

function finish(r: MigrateReport): MigrateReport {
  const count = (s: LayerStatus): number => r.layers.filter((l) => l.status === s).length
  const failed = r.layers.filter((l) => l.status === 'verify-failed' || l.status === 'refused' || l.status === 'deferred')
  r.totals = {
    layers: r.layers.length,
    convert: r.layers.filter((l) => l.action === 'convert').length,
    converted: count('converted'),
    present: count('present'),
    noSource: count('no-source'),
    failed: failed.length,
    pruned: r.layers.reduce((n, l) => n + l.pruned.length, 0),
    // What this run made: a layer it did not convert keeps its census's estimate, which nothing linked or copied.
    hardLinked: r.layers.reduce((n, l) => n + (l.status === 'converted' ? (l.counts?.hardLinked ?? 0) : 0), 0),
    copiedBytes: r.layers.reduce((n, l) => n + (l.status === 'converted' ? (l.counts?.copiedBytes ?? 0) : 0), 0),
  }
  const migrationsBlocked = r.migrations.some((m) => m.status === 'refused' || m.status === 'deferred')
  r.exitCode =
    r.preflight.blockers.length > 0 && (r.dryRun || r.strategy === 'ignore')
      ? ExitCode.operational
      : failed.length > 0 || r.totals.noSource > 0 || migrationsBlocked
        ? ExitCode.uncorrected
        : ExitCode.ok
  const s = escapeName(r.store)
  const w = r.workDir === undefined ? undefined : escapeName(r.workDir)
  const next: string[] = []
  if (r.preflight.blockers.length > 0) next.push('fix what preflight names before migrating (each blocker says what)')
  if (r.dryRun && !r.nothingToDo && r.preflight.blockers.length === 0) {
    next.push(`layerfsck migrate --store ${s} --to-backend ${r.toBackend} --to-format ${r.to.version}${r.copy ? ' --copy' : ''}${r.pruneSource ? ' --prune-source' : ''}  (does what is planned)`)
  }
  if (r.strategy === 'ignore' && !r.nothingToDo) {
    next.push(`layerfsck migrate --store ${s} --to-backend ${r.toBackend}  (converts the layers instead of pulling them again)`)
  }
  if (failed.length > 0) next.push(`layerfsck check --store ${s}  (each layer left as it was says why; run the same migrate again once fixed)`)
  if (r.totals.noSource > 0) next.push(`layerfsck check --store ${s}  (layers without any rootfs: the agent pulls them again)`)
  if (r.containers.length > 0) {
    next.push(`layerfsck gc --store ${s} --work-dir ${w ?? '…'}  (removes the ${r.containers.length} containers provisioned under another backend, once the agent is stopped)`)
  }
  if (!r.dryRun && r.strategy === 'convert' && r.exitCode === ExitCode.ok) {
    next.push(`start the agent with --image_provisioner_backend=${r.toBackend}`)
    if (!r.pruneSource && r.layers.some((l) => l.status === 'converted')) next.push('the old variants stay, so migrating back is instant; --prune-source removes them')
  }
  if (r.migrations.some((m) => m.status === 'refused' || m.status === 'deferred')) next.push('a format step did not complete (it says why); the stamp keeps the old format until it does')
  r.next = next
  return r
}
