/**
 * The process edge: argv in, exit code out. Only this module (and the bin
 * shim that calls it) knows about processes; everything below returns data
 * or throws. Exit codes follow e2fsck where they apply (docs/exit-codes.md).
 */
import yargs, { type Argv } from 'yargs'
import { ExitCode, isErrno, LayerfsckError, UsageError } from '../errors.js'
import { createNodeFs } from '../fs/node.js'
import type { FsPort } from '../fs/port.js'
import { VERSION } from '../version.js'
import { COMMANDS, type CommandSpec } from './commands.js'
import { styleFor, type OutputStream } from './style.js'

export interface CliEnvironment {
  stdout: OutputStream
  stderr: OutputStream
  env: NodeJS.ProcessEnv
  /** The filesystem to act on; the disk unless a test hands in another. */
  fs?: FsPort
}

const EPILOGUE =
  'Exit codes: 0 clean, 1 problems corrected, 4 problems left uncorrected,\n' +
  '8 operational error, 16 usage error, 32 cancelled. See docs/exit-codes.md.'

function errorDocument(err: LayerfsckError): string {
  return `${JSON.stringify({ schemaVersion: 1, error: { code: err.code, message: err.message, hint: err.hint ?? null, exitCode: err.exitCode } }, null, 2)}\n`
}

export async function main(argv: readonly string[], environment: CliEnvironment): Promise<number> {
  const { stdout, stderr, env } = environment
  const style = styleFor(stdout, env)
  const errStyle = styleFor(stderr, env)
  let exitCode: number = ExitCode.ok
  let ran = false
  const wantsJson = argv.includes('--json')

  const report = (err: unknown): number => {
    const e =
      err instanceof LayerfsckError
        ? err
        : isErrno(err)
          ? new LayerfsckError(`ERRNO_${err.code}`, err.message, { cause: err })
          : new LayerfsckError('INTERNAL', `internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, {
              hint: 'this is a bug in layerfsck; please report it with the command line and this message',
            })
    stderr.write(`${errStyle.c.red('layerfsck: error:')} ${e.message}\n`)
    if (e.hint) stderr.write(`${errStyle.c.dim('hint:')} ${e.hint}\n`)
    if (wantsJson) stdout.write(errorDocument(e))
    return e.exitCode
  }

  const toYargs = (parser: Argv, spec: CommandSpec): Argv =>
    parser.command(
      [spec.name, ...Object.keys(spec.positionals ?? {}).map((p) => `<${p}>`)].join(' '),
      `${spec.describe}`,
      (y) => {
        const usage = [spec.name, ...Object.keys(spec.positionals ?? {}).map((p) => `<${p}>`)].join(' ')
        let b = y.usage(`layerfsck ${usage} [options]\n\n${spec.describe}.\n\n${spec.details}`)
        for (const [name, p] of Object.entries(spec.positionals ?? {})) b = b.positional(name, p)
        for (const [name, o] of Object.entries(spec.options)) b = b.option(name, { ...o, requiresArg: o.type === 'string' })
        for (const [cmd, text] of spec.examples) b = b.example(cmd, text)
        return b
      },
      async (args) => {
        ran = true
        const fs = environment.fs ?? createNodeFs()
        try {
          exitCode = await spec.run(args as Record<string, unknown>, { fs, stdout, stderr, style, errStyle })
        } catch (err) {
          exitCode = report(err)
        }
      },
    )

  let parser = yargs([...argv])
    .scriptName('layerfsck')
    .usage('layerfsck <command> [options]\n\nKeeps container image layer stores healthy across upgrades and crashes.')
    .epilogue(EPILOGUE)
    .strict()
    .demandCommand(1, 'name a command; `layerfsck --help` lists them')
    .recommendCommands()
    .version(VERSION)
    .help()
    .alias('h', 'help')
    .wrap(Math.min(80, style.width))
    .exitProcess(false)
    .showHelpOnFail(false)
    .fail((message, err) => {
      throw err ?? new UsageError(message, 'run `layerfsck <command> --help` for the options')
    })
  for (const spec of COMMANDS) parser = toYargs(parser, spec)

  try {
    await parser.parseAsync()
  } catch (err) {
    return report(err)
  }
  // --help and --version print and return without running a command.
  return ran ? exitCode : ExitCode.ok
}
