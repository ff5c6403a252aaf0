import { detect } from '../../detect/detect.js'
import { NotAStoreError } from '../../detect/identify.js'
import { changeOptions } from '../args.js'
import type { CommandContext } from '../commands.js'
import { renderDetect, renderNotAStore } from '../render/detect.js'
import { ExitCode } from '../../errors.js'

export async function runDetect(args: Record<string, unknown>, ctx: CommandContext): Promise<number> {
  const store = String(args['store'])
  const workDir = typeof args['work-dir'] === 'string' ? args['work-dir'] : undefined
  const progress = ctx.errStyle.tty
    ? (e: { done: number; total: number }) => ctx.stderr.write(`\rscanning layers ${e.done}/${e.total}\x1b[K`)
    : undefined
  let report
  try {
    report = await detect(ctx.fs, { store, ...changeOptions(args), ...(workDir ? { workDir } : {}), ...(progress ? { onProgress: progress } : {}) })
  } catch (err) {
    if (!(err instanceof NotAStoreError)) throw err
    // The answer to "what is this directory": on stdout like a report, the error itself on stderr.
    ctx.stderr.write(`${ctx.errStyle.c.red('layerfsck: error:')} ${err.message}\n`)
    ctx.stdout.write(
      args['json']
        ? `${JSON.stringify({ schemaVersion: 1, error: err.toJSON() }, null, 2)}\n`
        : renderNotAStore(err.path, err.looksLike, err.hint, ctx.style),
    )
    return err.exitCode
  }
  if (progress) ctx.stderr.write('\r\x1b[K')
  ctx.stdout.write(args['json'] ? `${JSON.stringify(report, null, 2)}\n` : renderDetect(report, ctx.style))
  return ExitCode.ok
}
