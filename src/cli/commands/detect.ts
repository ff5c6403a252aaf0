import { detect } from '../../detect/detect.js'
import type { CommandContext } from '../commands.js'
import { renderDetect } from '../render/detect.js'
import { ExitCode } from '../../errors.js'

export async function runDetect(args: Record<string, unknown>, ctx: CommandContext): Promise<number> {
  const store = String(args['store'])
  const workDir = typeof args['work-dir'] === 'string' ? args['work-dir'] : undefined
  const progress = ctx.errStyle.tty
    ? (e: { done: number; total: number }) => ctx.stderr.write(`\rscanning layers ${e.done}/${e.total}\x1b[K`)
    : undefined
  const report = await detect(ctx.fs, { store, ...(workDir ? { workDir } : {}), ...(progress ? { onProgress: progress } : {}) })
  if (progress) ctx.stderr.write('\r\x1b[K')
  ctx.stdout.write(args['json'] ? `${JSON.stringify(report, null, 2)}\n` : renderDetect(report, ctx.style))
  return ExitCode.ok
}
