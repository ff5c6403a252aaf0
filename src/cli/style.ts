/**
 * Colour and width for human output. Colour only on a terminal, and never
 * when NO_COLOR is set (no-color.org); FORCE_COLOR wins over both, for
 * people who pipe into `less -R`.
 */
import { Chalk, type ChalkInstance } from 'chalk'

export interface OutputStream {
  /** Text for reports; bytes only when a command's output is data (`export` to stdout). */
  write(chunk: string | Uint8Array): unknown
  isTTY?: boolean
  columns?: number
}

export interface Style {
  c: ChalkInstance
  /** Columns a line may use: the terminal's, or 80 for a pipe or file. */
  width: number
  tty: boolean
}

/** Narrower than this, a hanging indent leaves too little room for any text; the terminal wraps the rest. */
export const MIN_WIDTH = 40
/** For output that is not a terminal: what `less`, mail and a pasted ticket show without wrapping. */
export const PIPE_WIDTH = 80

export function styleFor(stream: OutputStream, env: NodeJS.ProcessEnv): Style {
  const tty = stream.isTTY === true
  let level: 0 | 1 | 2 | 3 = tty ? 2 : 0
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') level = 0
  const force = env['FORCE_COLOR']
  if (force !== undefined) level = force === '0' || force === 'false' ? 0 : 2
  // A terminal that reports no size (some serial consoles say 0) gets the pipe width.
  const columns = tty && stream.columns !== undefined && stream.columns > 0 ? stream.columns : PIPE_WIDTH
  return { c: new Chalk({ level }), width: Math.max(MIN_WIDTH, columns), tty }
}

export function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length)
}
