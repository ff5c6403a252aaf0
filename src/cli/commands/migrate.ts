import { UsageError } from '../../errors.js'
import type { Backend } from '../../families/mesos/descriptor.js'
import { MESOS_FORMATS } from '../../families/mesos/formats/index.js'
import { migrate, type MigrateEvent, type MigrateOptions, type MigrateStrategy } from '../../families/mesos/migrate.js'
import { changeOptions, pathArg, type Args } from '../args.js'
import type { CommandContext } from '../commands.js'
import { duration, progressFor } from '../progress.js'
import { renderMigrate } from '../render/migrate.js'

/** What `migrate`'s arguments ask of the library: all of it but the signal and the events, which runMigrate adds. */
export type MigrateCommandOptions = Omit<MigrateOptions, 'signal' | 'onEvent' | 'procFilesystems' | 'procRoot' | 'now'>

export function migrateOptions(args: Args): MigrateCommandOptions {
  const strategy = (typeof args['strategy'] === 'string' ? args['strategy'] : 'convert') as MigrateStrategy
  const copy = args['copy'] === true
  const pruneSource = args['prune-source'] === true
  if (strategy === 'ignore' && (copy || pruneSource)) {
    throw new UsageError(`--${copy ? 'copy' : 'prune-source'} changes how layers are converted; --strategy ignore converts none`)
  }
  const toFormat = typeof args['to-format'] === 'string' ? args['to-format'] : undefined
  // Before the store is read: a format this build does not know is the command line's fault, whatever the store is.
  if (toFormat !== undefined && !MESOS_FORMATS.some((f) => f.version === toFormat)) {
    throw new UsageError(`--to-format ${toFormat} is no Mesos store format this build knows (${MESOS_FORMATS.map((f) => f.version).join(', ')})`)
  }
  const workDir = pathArg(args, 'work-dir')
  return {
    store: pathArg(args, 'store')!,
    toBackend: String(args['to-backend']) as Backend,
    strategy,
    copy,
    pruneSource,
    dryRun: args['dry-run'] === true,
    ...changeOptions(args),
    ...(workDir !== undefined ? { workDir } : {}),
    ...(toFormat !== undefined ? { toFormat } : {}),
  }
}

export async function runMigrate(args: Args, ctx: CommandContext): Promise<number> {
  const options = migrateOptions(args)
  const json = args['json'] === true
  const progress = json ? undefined : await progressFor(ctx, 'migrating')
  const started = Date.now()
  let entries = 0
  let layersDone = 0
  const onEvent = (e: MigrateEvent): void => {
    // NDJSON while acting: one event a line; the report is the last line.
    if (json) {
      ctx.stdout.write(`${JSON.stringify(e)}\n`)
      return
    }
    if (e.type === 'entries' || e.type === 'layer') {
      if (e.type === 'layer') {
        layersDone = e.index + 1
        entries += e.entries ?? 0
      }
      const seconds = (Date.now() - started) / 1000
      const seen = entries + (e.type === 'entries' ? e.entries : 0)
      const rate = seconds > 0 ? Math.round(seen / seconds) : 0
      const eta = layersDone > 0 ? ` ETA ${duration(((Date.now() - started) / layersDone) * (e.total - layersDone))}` : ''
      progress?.update(layersDone, e.total, `${e.id.slice(0, 19)} ${seen} entries, ${rate}/s${eta}`)
    }
  }
  try {
    const report = await migrate(ctx.fs, { ...options, ...(ctx.signal ? { signal: ctx.signal } : {}), onEvent })
    progress?.stop()
    ctx.stdout.write(json ? `${JSON.stringify(report)}\n` : renderMigrate(report, ctx.style))
    return report.exitCode
  } finally {
    progress?.stop()
  }
}
