import { runGc, type GcEvent, type GcOptions, type GcReport } from '../../gc/run.js'
import { changeOptions, familyOption, livenessArgs, pathArg, type Args } from '../args.js'
import type { CommandContext } from '../commands.js'
import { parseDuration } from '../duration.js'
import { duration, progressFor } from '../progress.js'
import { renderGc, renderGcPlanQuestion } from '../render/gc.js'
import { formatBytes } from '../../fs/tree-size.js'

/** What `gc`'s arguments ask of the library: all but the prompt, the signal and the events, which runGcCommand adds. */
export type GcCommandOptions = Omit<GcOptions, 'confirm' | 'onEvent' | 'signal' | 'procFilesystems' | 'procRoot' | 'now'>

export function gcOptions(args: Args): GcCommandOptions {
  return {
    store: pathArg(args, 'store')!,
    ...familyOption(args),
    ...changeOptions(args),
    pruneLayers: args['prune-layers'] === true,
    dryRun: args['dry-run'] === true,
    yes: args['yes'] === true,
    ...(typeof args['grace'] === 'string' ? { graceMs: parseDuration('grace', args['grace']) } : {}),
    ...livenessArgs(args),
  }
}

export async function runGcCommand(args: Args, ctx: CommandContext): Promise<number> {
  const options = gcOptions(args)
  const json = args['json'] === true
  const progress = json ? undefined : await progressFor(ctx, 'collecting')
  const started = Date.now()
  let total = 0
  const onEvent = (e: GcEvent): void => {
    // NDJSON while acting: one event a line; the report is the last line.
    if (json) {
      ctx.stdout.write(`${JSON.stringify(e)}\n`)
      return
    }
    if (e.event === 'plan') {
      total = e.bytes
      return
    }
    const done = e.index + 1
    const eta = done < e.total ? ` ETA ${duration(((Date.now() - started) / done) * (e.total - done))}` : ''
    progress?.update(done, e.total, `${formatBytes(e.freedSoFar).split(' (')[0]} of ${formatBytes(total).split(' (')[0]}${eta}`)
  }
  // Only a person at a terminal is asked; a script gets the plan and a word on --yes.
  const confirm =
    !options.yes && !options.dryRun && ctx.ask !== undefined && !json
      ? async (plan: GcReport): Promise<boolean> => {
          ctx.stdout.write(renderGc(plan, ctx.style))
          const answer = await ctx.ask!(renderGcPlanQuestion(plan))
          return /^\s*y(es)?\s*$/i.test(answer)
        }
      : undefined
  try {
    const report = await runGc(ctx.fs, {
      ...options,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      ...(confirm ? { confirm } : {}),
      onEvent,
    })
    progress?.stop()
    ctx.stdout.write(json ? `${JSON.stringify({ event: 'report', ...report })}\n` : renderGc(report, ctx.style))
    return report.exitCode
  } finally {
    progress?.stop()
  }
}
