import { allChecks } from '../../check/registry.js'
import { runCheck, type CheckMode, type CheckOptions } from '../../check/run.js'
import { UsageError } from '../../errors.js'
import { changeOptions, familyOption, livenessArgs, pathArg, type Args } from '../args.js'
import type { CommandContext } from '../commands.js'
import { parseDuration } from '../duration.js'
import { progressFor } from '../progress.js'
import { renderCheck } from '../render/check.js'

/** What `check`'s arguments ask of the library: all of it but the signal and progress, which runCheckCommand adds. */
export type CheckCommandOptions = Omit<CheckOptions, 'signal' | 'onProgress'>

const codes = (v: unknown): string[] =>
  typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
    : []

export function checkOptions(args: Args): CheckCommandOptions {
  const chosen = (['n', 'preen', 'yes'] as const).filter((m) => args[m] === true)
  if (chosen.length > 1) throw new UsageError('choose one of -n, -p and -y')
  const mode: CheckMode = chosen[0] === 'preen' ? 'preen' : chosen[0] === 'yes' ? 'yes' : 'no'
  const only = codes(args['only'])
  const skip = codes(args['skip'])
  // Before the store is read: a mistyped code is the command line's fault, whatever the store is.
  const known = new Set(allChecks().map((c) => c.check.code))
  for (const code of [...only, ...skip]) if (!known.has(code)) throw new UsageError(`unknown check code ${code}`, 'docs/checks.md lists every code')
  return {
    store: pathArg(args, 'store')!,
    ...familyOption(args),
    mode,
    ...changeOptions(args),
    only,
    skip,
    ...livenessArgs(args),
    ...(typeof args['backend'] === 'string' ? { backend: args['backend'] } : {}),
    ...(typeof args['grace'] === 'string' ? { graceMs: parseDuration('grace', args['grace']) } : {}),
  }
}

export async function runCheckCommand(args: Args, ctx: CommandContext): Promise<number> {
  const options = checkOptions(args)
  const progress = await progressFor(ctx, 'checking layers')
  try {
    const report = await runCheck(ctx.fs, {
      ...options,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onProgress: (e) => progress.update(e.done, e.total, e.item.slice(0, 30)),
    })
    progress.stop()
    ctx.stdout.write(args['json'] ? `${JSON.stringify(report, null, 2)}\n` : renderCheck(report, ctx.style))
    return report.exitCode
  } finally {
    progress.stop()
  }
}
