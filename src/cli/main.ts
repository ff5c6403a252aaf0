/**
 * The process edge: argv in, exit code out. Only this module (and the bin
 * shim that calls it) knows about processes; everything below returns data
 * or throws. Exit codes follow e2fsck where they apply (docs/exit-codes.md).
 */
import yargs, { type Argv, type Options } from 'yargs'
import { ExitCode, isErrno, LayerfsckError, UsageError } from '../errors.js'
import { createNodeFs } from '../fs/node.js'
import { escapeName } from '../fs/name-bytes.js'
import type { FsPort } from '../fs/port.js'
import { VERSION } from '../version.js'
import type { Args } from './args.js'
import { COMMANDS, type CommandSpec, type OptionSpec } from './commands.js'
import { styleFor, type OutputStream } from './style.js'

export interface CliEnvironment {
  stdout: OutputStream
  stderr: OutputStream
  env: NodeJS.ProcessEnv
  /** The filesystem to act on; the disk unless a test hands in another. */
  fs?: FsPort
  /** Aborted when the operator asks to stop (the bin shim's first Ctrl-C). */
  signal?: AbortSignal
  /** Asks the operator a question on the terminal; absent when stdin or stderr is not a terminal. */
  ask?: (question: string) => Promise<string>
}

const EPILOGUE =
  'Exit codes: 0 clean, 1 problems corrected, 4 problems left uncorrected,\n' +
  '8 operational error, 16 usage error, 32 cancelled. See docs/exit-codes.md.'

/**
 * The error as JSON. An error that knows more about itself (toJSON, as
 * NotAStoreError has: the path and what it looks like) adds its fields, for
 * every command alike.
 */
function errorDocument(err: LayerfsckError): string {
  const own = (err as { toJSON?: () => unknown }).toJSON
  const extra = typeof own === 'function' ? own.call(err) : undefined
  const error = { code: err.code, message: err.message, hint: err.hint ?? null, exitCode: err.exitCode, ...(isRecord(extra) ? extra : {}) }
  return `${JSON.stringify({ schemaVersion: 1, error }, null, 2)}\n`
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Whether argv asks for JSON, as yargs reads a boolean flag (`--json`,
 * `--json=true`, `--json true`; `--no-json`, `--json=false`; the last one
 * wins). Only for errors raised before yargs hands over parsed arguments.
 */
export function argvWantsJson(argv: readonly string[]): boolean {
  let wants = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') break
    if (a === '--json') {
      const next = argv[i + 1]
      wants = next !== 'false'
      if (next === 'true' || next === 'false') i += 1
    } else if (a.startsWith('--json=')) wants = a.slice('--json='.length) === 'true'
    else if (a === '--no-json') wants = false
  }
  return wants
}

/** Characters that make text unsafe on a terminal, backslash aside (see `lineSafe`). */
// eslint-disable-next-line no-control-regex
const UNSAFE_BUT_BACKSLASH = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]/

/**
 * Error text made one printable line. Many messages already escape the names
 * they hold (escapeName), which leaves backslashes and nothing unsafe; those
 * print as they are, so `a\nb` does not become `a\\nb`. Any text that still
 * holds a control character, an escaped byte or a bidi override (a raw path
 * in an errno message, say) goes through escapeName whole.
 */
export function lineSafe(text: string): string {
  return UNSAFE_BUT_BACKSLASH.test(text) ? escapeName(text) : text
}

/**
 * The lines an error prints as. An internal error's stack keeps one frame a
 * line, each escaped on its own; everything else, the message of the error
 * the stack belongs to included, is escaped into one line, so no name in it
 * can start a line of its own.
 */
export function errorLines(e: LayerfsckError): string[] {
  const cause = e.cause
  if (e.code === 'LAYERFSCK_INTERNAL' && cause instanceof Error && typeof cause.stack === 'string') {
    // V8 starts a stack with String(error) as it was when thrown; the frames follow.
    const head = String(cause)
    const at = e.message.indexOf(cause.stack)
    if (at !== -1 && cause.stack.startsWith(head)) {
      const frames = cause.stack
        .slice(head.length)
        .split('\n')
        .filter((l) => l.trim() !== '')
      const message = e.message.slice(0, at) + head + e.message.slice(at + cause.stack.length)
      return [lineSafe(message), ...frames.map((f) => `    ${lineSafe(f.trim())}`)]
    }
  }
  return [lineSafe(e.message)]
}

function yargsOption(o: OptionSpec): Options {
  if (o.type !== 'number') return { ...o, requiresArg: o.type === 'string' }
  // Untyped: yargs still turns "10" into 10 but leaves "ten" (or "") as given, where a
  // number option would make it NaN (or 0) and the command could not say what was wrong.
  const { type: _number, ...rest } = o
  return { ...rest, requiresArg: true }
}

/** A command line as the CLI reads it: the command it names and that command's arguments as yargs parsed them. */
export interface ParsedArgs {
  command: CommandSpec
  args: Args
}

/**
 * argv read as `main` reads it, without running anything: the command and
 * its arguments, or undefined once --help or --version has printed. A
 * command line that makes no sense throws a UsageError (exit 16), as yargs
 * words it. With each command's pure `xOptions(args)`, this turns argv into
 * the library's typed options, which a test can compare with a table.
 */
export async function parseArgs(argv: readonly string[], helpWidth = 80): Promise<ParsedArgs | undefined> {
  let parsed: ParsedArgs | undefined
  const toYargs = (parser: Argv, spec: CommandSpec): Argv =>
    parser.command(
      [spec.name, ...Object.keys(spec.positionals ?? {}).map((p) => `<${p}>`)].join(' '),
      `${spec.describe}`,
      (y) => {
        const usage = [spec.name, ...Object.keys(spec.positionals ?? {}).map((p) => `<${p}>`)].join(' ')
        let b = y.usage(`layerfsck ${usage} [options]\n\n${spec.describe}.\n\n${spec.details}`)
        for (const [name, p] of Object.entries(spec.positionals ?? {})) b = b.positional(name, p)
        for (const [name, o] of Object.entries(spec.options)) b = b.option(name, yargsOption(o))
        // yargs puts an example's command and text in two columns and wraps a long command
        // mid-line; an example without text gets the whole width. So: purpose, then command.
        for (const [cmd, text] of spec.examples) b = b.example(`# ${text}`, '').example(cmd, '')
        return b.epilogue(EPILOGUE)
      },
      (args) => {
        parsed = { command: spec, args: args as Args }
        // Once a command's handler has run, yargs renders that command's whole help "for later" (50 ms of
        // string widths on every run); leaving by a throw skips it, and nothing later needs it.
        throw PARSED
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
    // Help is prose: past 80 columns its lines grow too long to read, whatever the terminal.
    .wrap(Math.min(80, helpWidth))
    .exitProcess(false)
    .showHelpOnFail(false)
    .fail((message, err) => {
      const hint = 'run `layerfsck <command> --help` for the options'
      // yargs' own parse errors ("Not enough arguments following: store") come as a YError: usage, not a bug.
      if ((err as unknown) === PARSED) throw PARSED
      if (err?.name === 'YError') throw new UsageError(err.message, hint)
      throw err ?? new UsageError(message, hint)
    })
  // A command line that names its command registers that one alone: yargs parses each registration's command
  // string and checks its arguments, ≈4 ms for the five that would go unused. The top level, and a name that
  // is no command (which yargs words as such), get them all.
  const named = COMMANDS.find((c) => c.name === argv[0])
  for (const spec of named ? [named] : COMMANDS) parser = toYargs(parser, spec)
  try {
    await parser.parseAsync()
  } catch (err) {
    if (err !== PARSED) throw err
  }
  return parsed
}

/** Thrown by a command's handler to leave yargs as soon as the arguments are parsed. */
const PARSED = Symbol('parsed')

export async function main(argv: readonly string[], environment: CliEnvironment): Promise<number> {
  const { stdout, stderr, env } = environment
  const style = styleFor(stdout, env)
  const errStyle = styleFor(stderr, env)
  // What yargs parsed, once it has; before that (a usage error), argv as yargs would read it.
  let json: boolean | undefined

  const report = (err: unknown): number => {
    const e =
      err instanceof LayerfsckError
        ? err
        : isErrno(err)
          ? new LayerfsckError(`ERRNO_${err.code}`, err.message, { cause: err })
          : new LayerfsckError('INTERNAL', `internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, {
              cause: err,
              hint: 'this is a bug in layerfsck; please report it with the command line and this message',
            })
    const [first, ...rest] = errorLines(e)
    stderr.write(`${errStyle.c.red('layerfsck: error:')} ${first}\n`)
    for (const line of rest) stderr.write(`${errStyle.c.dim(line)}\n`)
    if (e.hint) stderr.write(`${errStyle.c.dim('hint:')} ${lineSafe(e.hint)}\n`)
    // JSON carries the exact text: a name's bytes stay exact there (\udcXX for a byte that is not UTF-8).
    if (json ?? argvWantsJson(argv)) stdout.write(errorDocument(e))
    return e.exitCode
  }

  try {
    const parsed = await parseArgs(argv, style.width)
    // --help and --version print and return without running a command.
    if (parsed === undefined) return ExitCode.ok
    json = parsed.args['json'] === true
    const fs = environment.fs ?? createNodeFs()
    return await parsed.command.run(parsed.args, {
      fs,
      stdout,
      stderr,
      style,
      errStyle,
      ...(environment.signal ? { signal: environment.signal } : {}),
      ...(environment.ask ? { ask: environment.ask } : {}),
    })
  } catch (err) {
    return report(err)
  }
}
