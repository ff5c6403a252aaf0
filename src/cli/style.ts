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
  width: number
  tty: boolean
}

export function styleFor(stream: OutputStream, env: NodeJS.ProcessEnv): Style {
  const tty = stream.isTTY === true
  let level: 0 | 1 | 2 | 3 = tty ? 2 : 0
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') level = 0
  const force = env['FORCE_COLOR']
  if (force !== undefined) level = force === '0' || force === 'false' ? 0 : 2
  const width = Math.max(40, Math.min(tty ? (stream.columns ?? 80) : 80, 80))
  return { c: new Chalk({ level }), width, tty }
}

/** Shortens the middle of a long name so a line fits: `sha256:0a3c41…2225`. */
export function elide(text: string, max: number): string {
  if (text.length <= max) return text
  if (max <= 1) return '…'
  const keep = max - 1
  const head = Math.ceil(keep * 0.6)
  return `${text.slice(0, head)}…${text.slice(text.length - (keep - head))}`
}

export function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length)
}
