/**
 * Arguments several commands share, turned from argv strings into the
 * library's typed options (the library never sees argv).
 */
import { UsageError } from '../errors.js'
import type { ChangeOptions } from '../steps/options.js'

export function changeOptions(args: Record<string, unknown>): ChangeOptions {
  const out: ChangeOptions = {}
  if (args['wait'] !== undefined) {
    const text = String(args['wait'])
    const seconds = Number(text)
    if (text.trim() === '' || !Number.isFinite(seconds) || seconds < 0) throw new UsageError(`--wait takes a number of seconds, not ${JSON.stringify(text)}`)
    out.waitSeconds = seconds
  }
  if (args['force'] === true) out.force = true
  return out
}
