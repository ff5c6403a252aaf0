/**
 * `--grace 90s | 30m | 1h | 2d | 0`: a duration as an operator writes it,
 * to milliseconds. A bare number is seconds, as sleep(1) reads it.
 */
import { UsageError } from '../errors.js'

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

export function parseDuration(option: string, text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text)
  if (m === null) throw new UsageError(`--${option} takes a duration such as 90s, 30m, 1h or 2d, not ${JSON.stringify(text)}`)
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 's']!)
}
