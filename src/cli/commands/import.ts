import { resolve } from 'node:path'
import { ExitCode } from '../../errors.js'
import type { Backend } from '../../families/mesos/descriptor.js'
import { importImage, type ImportOptions } from '../../families/mesos/import.js'
import { parseImageArgument } from '../../families/mesos/image-source.js'
import { changeOptions, pathArg, type Args } from '../args.js'
import type { CommandContext } from '../commands.js'
import { progressFor } from '../progress.js'
import { renderImport } from '../render/import.js'

/**
 * What `import`'s arguments ask of the library. Whether owners are restored
 * is no argument (it follows from running as root), nor is progress, so
 * runImport adds both.
 */
export type ImportCommandOptions = Omit<ImportOptions, 'preserveOwners' | 'onProgress' | 'signal'>

export function importOptions(args: Args): ImportCommandOptions {
  // The port takes absolute paths; relative ones are the operator's, from their cwd.
  const arg = parseImageArgument(String(args['image']))
  const image = `${arg.kind ? `${arg.kind}:` : ''}${resolve(arg.path)}${arg.tag ? `:${arg.tag}` : ''}`
  return {
    store: pathArg(args, 'store')!,
    backend: String(args['backend']) as Backend,
    image,
    createStore: true,
    ...changeOptions(args),
    allowDevices: args['allow-devices'] === true,
    ...(typeof args['reference'] === 'string' ? { reference: args['reference'] } : {}),
  }
}

export async function runImport(args: Args, ctx: CommandContext): Promise<number> {
  const options = importOptions(args)
  const progress = await progressFor(ctx, 'importing')
  try {
    const report = await importImage(ctx.fs, {
      ...options,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      // Owners can only be restored by root; anyone else gets their own files, as with tar.
      preserveOwners: process.getuid?.() === 0,
      onProgress: (p) => {
        if (p.phase === 'layer') progress.update(p.index, p.total, `${p.id.slice(0, 19)} ${p.entries} entries`)
        else progress.update(0, 1, `unpacking archive, ${p.entries} entries`)
      },
    })
    progress.stop()
    ctx.stdout.write(args['json'] ? `${JSON.stringify(report, null, 2)}\n` : renderImport(report, ctx.style))
    return ExitCode.ok
  } finally {
    progress.stop()
  }
}
