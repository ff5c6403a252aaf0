import { resolve } from 'node:path'
import { ExitCode, UsageError } from '../../errors.js'
import type { Backend } from '../../format/descriptor.js'
import { requireStore } from '../../detect/identify.js'
import { tempNameFor } from '../../fs/io.js'
import { resolveRoot } from '../../fs/roots.js'
import { dirname } from '../../fs/safe-path.js'
import { exportCompleteness, layerRootfs } from '../../layer/export.js'
import { exportLayerTar } from '../../tar/export-layer.js'
import { withSession } from '../../steps/session.js'
import { changeOptions } from '../args.js'
import type { CommandContext } from '../commands.js'

export async function runExport(args: Record<string, unknown>, ctx: CommandContext): Promise<number> {
  const store = await resolveRoot(ctx.fs, resolve(String(args['store'])), 'store')
  // Not a store, or a newer format that may lay layers out differently: refuse before reading a layer.
  await requireStore(ctx.fs, store, 'export')
  // The shared lock: an import or a fix never changes the layer while it is read.
  const { waitSeconds } = changeOptions(args)
  return withSession(ctx.fs, { store, command: 'export', intent: 'read', ...(waitSeconds !== undefined ? { waitSeconds } : {}) }, () => exportLocked(store, args, ctx))
}

async function exportLocked(store: string, args: Record<string, unknown>, ctx: CommandContext): Promise<number> {
  const rootfs = await layerRootfs(ctx.fs, store, String(args['layer']), args['backend'] as Backend | undefined)
  const incomplete = await exportCompleteness(ctx.fs, rootfs, { allowIncomplete: args['allow-incomplete'] === true })
  if (incomplete !== undefined) ctx.stderr.write(`${ctx.errStyle.c.yellow('layerfsck: warning:')} ${incomplete}\n`)
  const output = typeof args['output'] === 'string' && args['output'] !== '-' ? resolve(args['output']) : undefined

  if (output === undefined) {
    if (ctx.stdout.isTTY) throw new UsageError('refusing to write a tar to a terminal', 'give -o FILE or pipe the output')
    const out = ctx.stdout as typeof ctx.stdout & { once?: (event: 'drain', fn: () => void) => unknown }
    const report = await exportLayerTar(ctx.fs, rootfs, async (chunk) => {
      // Respect a slow reader (a pipe into ssh) instead of buffering the layer.
      if (out.write(chunk) === false && out.once) await new Promise<void>((r) => out.once!('drain', r))
    })
    ctx.stderr.write(`exported ${report.entries} entries of ${rootfs}\n`)
    return ExitCode.ok
  }
  // A half-written tar must never sit under the name asked for.
  const temp = tempNameFor(output)
  const handle = await ctx.fs.openWrite(temp, { exclusive: true, mode: 0o644 })
  let report
  try {
    report = await exportLayerTar(ctx.fs, rootfs, (chunk) => handle.write(chunk))
    await handle.sync()
  } catch (err) {
    await handle.close()
    await ctx.fs.unlink(temp)
    throw err
  }
  await handle.close()
  await ctx.fs.rename(temp, output)
  await ctx.fs.fsync(dirname(output))
  ctx.stdout.write(
    `wrote ${output}: ${report.entries} entries (${report.whiteouts} whiteouts, ${report.opaqueDirs} opaque dirs, ${report.hardLinks} hard links), ${report.bytes} bytes of file data from ${rootfs}\n`,
  )
  return ExitCode.ok
}
