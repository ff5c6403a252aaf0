import { resolve } from 'node:path'
import { ExitCode } from '../../errors.js'
import type { Backend } from '../../format/descriptor.js'
import { importImage } from '../../image/import.js'
import { parseImageArgument } from '../../image/source.js'
import { changeOptions } from '../args.js'
import type { CommandContext } from '../commands.js'
import { progressFor } from '../progress.js'
import { renderImport } from '../render/import.js'

export async function runImport(args: Record<string, unknown>, ctx: CommandContext): Promise<number> {
  // The port takes absolute paths; relative ones are the operator's, from their cwd.
  const arg = parseImageArgument(String(args['image']))
  const image = `${arg.kind ? `${arg.kind}:` : ''}${resolve(arg.path)}${arg.tag ? `:${arg.tag}` : ''}`
  const progress = progressFor(ctx, 'importing')
  try {
    const report = await importImage(ctx.fs, {
      store: resolve(String(args['store'])),
      backend: String(args['backend']) as Backend,
      image,
      createStore: true,
      ...changeOptions(args),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      allowDevices: args['allow-devices'] === true,
      // Owners can only be restored by root; anyone else gets their own files, as with tar.
      preserveOwners: process.getuid?.() === 0,
      ...(typeof args['reference'] === 'string' ? { reference: args['reference'] } : {}),
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
