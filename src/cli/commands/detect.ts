import { detect, type DetectOptions } from '../../detect/detect.js'
import { NotAStoreError } from '../../detect/identify.js'
import { ExitCode } from '../../errors.js'
import { changeOptions, familyOption, pathArg, type Args } from '../args.js'
import type { CommandContext } from '../commands.js'
import { renderDetect, renderNotAStore } from '../render/detect.js'

/** What `detect`'s arguments ask of the library: all of it but progress, which runDetect adds. */
export type DetectCommandOptions = Omit<DetectOptions, 'onProgress'>

export function detectOptions(args: Args): DetectCommandOptions {
  const workDir = pathArg(args, 'work-dir')
  const { waitSeconds } = changeOptions(args)
  return {
    store: pathArg(args, 'store')!,
    ...familyOption(args),
    ...(workDir !== undefined ? { workDir } : {}),
    ...(waitSeconds !== undefined ? { waitSeconds } : {}),
  }
}

export async function runDetect(args: Args, ctx: CommandContext): Promise<number> {
  const options = detectOptions(args)
  const progress = ctx.errStyle.tty
    ? (e: { done: number; total: number }) => ctx.stderr.write(`\rscanning layers ${e.done}/${e.total}\x1b[K`)
    : undefined
  let report
  try {
    report = await detect(ctx.fs, { ...options, ...(progress ? { onProgress: progress } : {}) })
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
