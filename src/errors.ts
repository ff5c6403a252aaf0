/**
 * Errors are control flow; findings are data. A LayerfsckError means the
 * command could not do its job (exit 8), a UsageError means it was asked
 * wrongly (exit 16). Problems found in a store are never thrown: they are
 * returned as findings in a report.
 */

export const ExitCode = {
  ok: 0,
  corrected: 1,
  uncorrected: 4,
  operational: 8,
  usage: 16,
  cancelled: 32,
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

export interface LayerfsckErrorOptions {
  /** What the operator can do about it, one sentence. */
  hint?: string
  cause?: unknown
  exitCode?: ExitCode
  /**
   * The code declined to act and changed nothing (a mount below, a file that
   * is not what its name says): the step engine records such a step as
   * refused and goes on with the plan, where any other error stops it.
   */
  refusal?: boolean
}

export class LayerfsckError extends Error {
  readonly code: string
  readonly hint: string | undefined
  readonly exitCode: ExitCode
  readonly refusal: boolean

  constructor(code: string, message: string, options: LayerfsckErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code.startsWith('LAYERFSCK_') ? code : `LAYERFSCK_${code}`
    this.hint = options.hint
    this.exitCode = options.exitCode ?? ExitCode.operational
    this.refusal = options.refusal ?? false
  }

  override get name(): string {
    return 'LayerfsckError'
  }
}

export class UsageError extends LayerfsckError {
  constructor(message: string, hint?: string) {
    super('USAGE', message, { hint, exitCode: ExitCode.usage })
  }

  override get name(): string {
    return 'UsageError'
  }
}

/** An errno-shaped error, as node:fs throws them; the memory adapter builds the same. */
export interface ErrnoError extends Error {
  code: string
  errno?: number
  syscall?: string
  path?: string
  dest?: string
}

export function isErrno(err: unknown, ...codes: string[]): err is ErrnoError {
  if (typeof err !== 'object' || err === null) return false
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' && (codes.length === 0 || codes.includes(code))
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  ENOTEMPTY: 'directory not empty',
  EINVAL: 'invalid argument',
  EPERM: 'operation not permitted',
  EACCES: 'permission denied',
  EXDEV: 'cross-device link not permitted',
  ELOOP: 'too many symbolic links encountered',
  EBUSY: 'resource busy or locked',
  ENODATA: 'no data available',
  ENOTSUP: 'operation not supported on socket',
  E2BIG: 'argument list too long',
  ERANGE: 'result too large',
  ENAMETOOLONG: 'name too long',
  EIO: 'i/o error',
  ENXIO: 'no such device or address',
  EAGAIN: 'resource temporarily unavailable',
}

/** Builds an error with node:fs's message format, so callers cannot tell the adapters apart. */
export function errnoError(code: string, syscall: string, path?: string, dest?: string): ErrnoError {
  const where = path === undefined ? '' : dest === undefined ? ` '${path}'` : ` '${path}' -> '${dest}'`
  const err = new Error(`${code}: ${ERRNO_TEXT[code] ?? 'error'}, ${syscall}${where}`) as ErrnoError
  err.code = code
  err.syscall = syscall
  if (path !== undefined) err.path = path
  if (dest !== undefined) err.dest = dest
  return err
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}
