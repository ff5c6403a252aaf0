import { describeError, ExitCode, isErrno, LayerfsckError, UsageError } from '../../errors.js'
import { tempNameFor } from '../../fs/io.js'
import { escapeName } from '../../fs/name-bytes.js'
import { inodeKey, type FsPort, type WriteHandle } from '../../fs/port.js'
import { resolveRoot } from '../../fs/roots.js'
import { basename, dirname, isInside } from '../../fs/safe-path.js'
import { exportLayer, type ExportLayerOptions, type ExportLayerReport } from '../../layer/export.js'
import type { LayerExportReport } from '../../tar/export-layer.js'
import { changeOptions, familyOption, pathArg, type Args } from '../args.js'
import type { CommandContext } from '../commands.js'
import { hang, name } from '../render/wrap.js'

/** What `export -o FILE --json` prints: the tar's counts and where it went. */
export interface ExportDocument {
  schemaVersion: 1
  layer: string
  rootfs: string
  output: string
  entries: number
  whiteouts: number
  opaqueDirs: number
  hardLinks: number
  /** Bytes of file data in the tar (regular files' contents, not headers). */
  bytes: number
  skipped: LayerExportReport['skipped']
  /** Why the tar is not the whole layer (--allow-incomplete), or null. */
  incomplete: string | null
}

export class ExportOutputError extends LayerfsckError {
  constructor(output: string, why: string, hint?: string) {
    super('EXPORT_OUTPUT', `cannot write the tar to ${escapeName(output)}: ${why}; nothing was written`, {
      exitCode: ExitCode.operational,
      ...(hint ? { hint } : {}),
    })
  }
}

const A_KIND: Record<string, string> = {
  dir: 'a directory',
  symlink: 'a symlink',
  char: 'a char device',
  block: 'a block device',
  fifo: 'a fifo',
  socket: 'a socket',
}

/** What `export`'s arguments ask for: the library's options but the signal, and where the tar goes (stdout when left out). */
export type ExportCommandOptions = Omit<ExportLayerOptions, 'signal'> & { output?: string }

export function exportOptions(args: Args): ExportCommandOptions {
  const toStdout = typeof args['output'] !== 'string' || args['output'] === '-'
  // Usage first: nothing is read before the command line is known to make sense.
  if (toStdout && args['json'] === true) {
    throw new UsageError('--json needs -o FILE: without it, stdout carries the tar and has no room for a JSON document', 'give -o FILE with --json')
  }
  const { waitSeconds } = changeOptions(args)
  return {
    store: pathArg(args, 'store')!,
    layer: String(args['layer']),
    ...familyOption(args),
    ...(typeof args['backend'] === 'string' ? { backend: args['backend'] } : {}),
    ...(toStdout ? {} : { output: pathArg(args, 'output')! }),
    allowIncomplete: args['allow-incomplete'] === true,
    ...(waitSeconds !== undefined ? { waitSeconds } : {}),
  }
}

export async function runExport(args: Args, ctx: CommandContext): Promise<number> {
  const { output: asked, ...options } = exportOptions(args)
  if (asked === undefined && ctx.stdout.isTTY) throw new UsageError('refusing to write a tar to a terminal', 'give -o FILE or pipe the output')
  const layer = { ...options, ...(ctx.signal ? { signal: ctx.signal } : {}) }
  const warn = (found: { incomplete: string | undefined }): void => {
    if (found.incomplete !== undefined) ctx.stderr.write(`${ctx.errStyle.c.yellow('layerfsck: warning:')} ${found.incomplete}\n`)
  }
  if (asked === undefined) {
    const out = ctx.stdout as typeof ctx.stdout & { once?: (event: 'drain', fn: () => void) => unknown }
    const report = await exportLayer(
      ctx.fs,
      layer,
      async (chunk) => {
        // Respect a slow reader (a pipe into ssh) instead of buffering the layer.
        if (out.write(chunk) === false && out.once) await new Promise<void>((r) => out.once!('drain', r))
      },
      warn,
    )
    ctx.stderr.write(`${hang('', [{ text: `exported ${report.entries} entries of ` }, name(escapeName(report.tree.root))], ctx.errStyle.width, 2).join('\n')}\n`)
    return ExitCode.ok
  }
  const store = await resolveRoot(ctx.fs, options.store, 'store')
  const output = await outputPath(ctx.fs, asked, store)
  const report = await writeTar(ctx.fs, layer, output, warn)
  if (args['json'] === true) {
    const doc: ExportDocument = {
      schemaVersion: 1,
      layer: report.layer,
      rootfs: report.tree.root,
      output,
      entries: report.entries,
      whiteouts: report.whiteouts,
      opaqueDirs: report.opaqueDirs,
      hardLinks: report.hardLinks,
      bytes: report.bytes,
      skipped: report.skipped,
      incomplete: report.incomplete ?? null,
    }
    ctx.stdout.write(`${JSON.stringify(doc, null, 2)}\n`)
  } else {
    const counts = `${report.entries} entries (${report.whiteouts} whiteouts, ${report.opaqueDirs} opaque dirs, ${report.hardLinks} hard links), ${report.bytes} bytes of file data`
    const spans = [{ text: 'wrote ' }, name(escapeName(output)), { text: `: ${counts} from ` }, name(escapeName(report.tree.root))]
    ctx.stdout.write(`${hang('', spans, ctx.style.width, 2).join('\n')}\n`)
  }
  return ExitCode.ok
}

/**
 * Where the tar goes, with its directory's symlinks resolved, or the reason
 * it may not go there. The tar is renamed over the name, so only a regular
 * file may be there already: a rename would swap a device, fifo or symlink
 * for a plain file (`-o /dev/null` would replace the device node).
 */
async function outputPath(fs: FsPort, output: string, store: string): Promise<string> {
  const dir = dirname(output)
  let realDir: string
  try {
    realDir = await fs.realpath(dir)
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new ExportOutputError(output, `its directory ${escapeName(dir)} does not exist`)
    if (isErrno(err, 'ENOTDIR')) throw new ExportOutputError(output, `${escapeName(dir)} is not a directory`)
    if (isErrno(err, 'EACCES', 'ELOOP')) throw new ExportOutputError(output, `cannot resolve its directory ${escapeName(dir)} (${err.code})`)
    throw err
  }
  const dirKind = (await fs.lstat(realDir))?.kind
  if (dirKind !== 'dir') throw new ExportOutputError(output, `${escapeName(dir)} is not a directory`)
  const real = realDir === '/' ? `/${basename(output)}` : `${realDir}/${basename(output)}`
  if (isInside(store, real) || (await sameDirAbove(fs, realDir, store))) {
    throw new ExportOutputError(output, `it is inside the store ${escapeName(store)} being exported`, 'write the tar outside the store')
  }
  const there = await fs.lstat(real)
  if (there !== undefined && there.kind !== 'file') {
    throw new ExportOutputError(
      output,
      `it is ${A_KIND[there.kind] ?? there.kind}, and export replaces only a regular file`,
      there.kind === 'symlink' ? 'name the file the symlink points to, or another name' : 'to write into it, send the tar to stdout: layerfsck export ... > FILE',
    )
  }
  return real
}

/**
 * Writes the tar under a temp name beside `output` and renames it there; on
 * any failure the temp name is gone again. The temp file is made only once
 * the layer is found, so a wrong id leaves nothing behind.
 */
async function writeTar(
  fs: FsPort,
  options: ExportLayerOptions,
  output: string,
  warn: (found: { incomplete: string | undefined }) => void,
): Promise<ExportLayerReport> {
  // A half-written tar must never sit under the name asked for.
  const temp = tempNameFor(output)
  let handle: WriteHandle | undefined
  let open = false
  try {
    const report = await exportLayer(
      fs,
      options,
      (chunk) => handle!.write(chunk),
      async (found) => {
        warn(found)
        try {
          handle = await fs.openWrite(temp, { exclusive: true, mode: 0o644 })
        } catch (err) {
          if (isErrno(err)) throw new ExportOutputError(output, `cannot create a file in ${escapeName(dirname(output))} (${err.code})`)
          throw err
        }
        open = true
      },
    )
    await handle!.sync()
    open = false
    await handle!.close()
    try {
      await fs.rename(temp, output)
    } catch (err) {
      // Checked before the export began; something took the name since.
      if (isErrno(err)) throw new ExportOutputError(output, `renaming the finished tar onto it failed (${err.code})`)
      throw err
    }
    await fs.fsync(dirname(output))
    return report
  } catch (err) {
    if (open) await handle!.close().catch(() => undefined)
    if (handle !== undefined) {
      try {
        await fs.unlink(temp)
      } catch (e) {
        // After a successful rename the temp name is already gone.
        if (!isErrno(e, 'ENOENT')) {
          throw new LayerfsckError('EXPORT_TEMP_LEFT', `${describeError(err)}; the temp file ${escapeName(temp)} could not be removed either (${isErrno(e) ? e.code : describeError(e)})`, {
            cause: err,
            hint: 'remove the temp file by hand',
          })
        }
      }
    }
    throw err
  }
}

/**
 * Whether `store` is `dir` or one of its ancestors by identity (dev and
 * inode), which a path comparison misses when the store is reached through a
 * bind mount.
 */
async function sameDirAbove(fs: FsPort, dir: string, store: string): Promise<boolean> {
  const target = await fs.lstat(store)
  if (target === undefined) return false
  for (let cur = dir; ; cur = dirname(cur)) {
    const inode = await fs.lstat(cur)
    if (inode !== undefined && inodeKey(inode) === inodeKey(target)) return true
    if (cur === '/') return false
  }
}
