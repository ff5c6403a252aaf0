import { resolve } from 'node:path'
import { runCheck, type CheckMode } from '../../check/run.js'
import { UsageError } from '../../errors.js'
import { changeOptions } from '../args.js'
import type { Backend } from '../../format/descriptor.js'
import type { CommandContext } from '../commands.js'
import { progressFor } from '../progress.js'
import { renderCheck } from '../render/check.js'

const codes = (v: unknown): string[] =>
  typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
    : []

export async function runCheckCommand(args: Record<string, unknown>, ctx: CommandContext): Promise<number> {
  const chosen = (['n', 'preen', 'yes'] as const).filter((m) => args[m] === true)
  if (chosen.length > 1) throw new UsageError('choose one of -n, -p and -y')
  const mode: CheckMode = chosen[0] === 'preen' ? 'preen' : chosen[0] === 'yes' ? 'yes' : 'no'
  const path = (name: string): string | undefined => (typeof args[name] === 'string' ? resolve(String(args[name])) : undefined)
  const workDir = path('work-dir')
  const runtimeDir = path('runtime-dir')
  const knownContainers = path('known-containers')
  const progress = progressFor(ctx, 'checking layers')
  try {
    const report = await runCheck(ctx.fs, {
      store: resolve(String(args['store'])),
      mode,
      ...changeOptions(args),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      only: codes(args['only']),
      skip: codes(args['skip']),
      ...(workDir ? { workDir } : {}),
      ...(runtimeDir ? { runtimeDir } : {}),
      ...(knownContainers ? { knownContainers } : {}),
      ...(typeof args['backend'] === 'string' ? { backend: args['backend'] as Backend } : {}),
      onProgress: (e) => progress.update(e.done, e.total, e.item.slice(0, 30)),
    })
    progress.stop()
    ctx.stdout.write(args['json'] ? `${JSON.stringify(report, null, 2)}\n` : renderCheck(report, ctx.style))
    return report.exitCode
  } finally {
    progress.stop()
  }
}
