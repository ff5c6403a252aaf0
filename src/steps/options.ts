/**
 * What every command that changes a store takes, beyond its own options:
 * how long to wait for the store lock, whether to act while the family's
 * agent or daemon runs, where /proc is, and the clock for the stamp.
 */
import type { SessionOptions } from './session.js'

export interface ChangeOptions {
  /** Seconds to wait for another layerfsck holding the store lock; then exit 8. */
  waitSeconds?: number
  /** Change the store even while its agent or daemon runs on this host. */
  force?: boolean
  /** Where processes are looked up (a fake tree in tests); '/proc' by default. */
  procRoot?: string
  now?: () => Date
  signal?: AbortSignal
}

export function sessionOptions(options: ChangeOptions): Pick<SessionOptions, 'waitSeconds' | 'force' | 'procRoot' | 'now' | 'signal'> {
  return {
    ...(options.waitSeconds !== undefined ? { waitSeconds: options.waitSeconds } : {}),
    ...(options.force !== undefined ? { force: options.force } : {}),
    ...(options.procRoot !== undefined ? { procRoot: options.procRoot } : {}),
    ...(options.now !== undefined ? { now: options.now } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  }
}
