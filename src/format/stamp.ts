/**
 * layerfsck's own stamp, `<store>/.layerfsck/format.json`: the format
 * layerfsck last left the store in. Only commands that change a store write
 * it. It is read before anything else, so that a store left by a newer major
 * format is refused before a single byte of it is interpreted by rules that
 * no longer hold.
 */
import { semver } from './semver.js'
import { ExitCode, LayerfsckError } from '../errors.js'
import { ensureDir, readTextLimited, writeFileDurable } from '../fs/io.js'
import type { FsPort } from '../fs/port.js'
import type { FormatInfo } from '../family/types.js'
import { stampDir, stampPath } from '../steps/lock.js'
import { VERSION } from '../version.js'
import { closestFormat, formatsOf, isFormatLine, latestFormat } from './registry.js'

export const STAMP_SCHEMA_VERSION = 1
const STAMP_LIMIT = 64 * 1024

export interface Stamp {
  schemaVersion: number
  family: string
  version: string
  writtenBy: string
  writtenAt: string
}

export type StampState =
  | { state: 'absent' }
  | { state: 'ok'; stamp: Stamp; format: FormatInfo }
  | { state: 'garbled'; reason: string }

export class FormatTooNewError extends LayerfsckError {
  constructor(
    readonly store: string,
    readonly stamp: Stamp,
    message: string,
  ) {
    super('FORMAT_TOO_NEW', message, {
      exitCode: ExitCode.operational,
      hint: `use layerfsck ${stamp.writtenBy.replace(/^layerfsck /, '')} or newer on this store; nothing was read or changed`,
    })
  }
}

function parseStamp(text: string): Stamp | string {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    return `not JSON: ${(err as Error).message}`
  }
  if (typeof raw !== 'object' || raw === null) return 'not a JSON object'
  const o = raw as Record<string, unknown>
  if (typeof o['schemaVersion'] !== 'number' || !Number.isInteger(o['schemaVersion'])) return 'schemaVersion is missing'
  if (typeof o['family'] !== 'string' || o['family'] === '') return 'family is missing'
  if (typeof o['version'] !== 'string' || semver.valid(o['version']) === null) return 'version is not a semver version'
  return {
    schemaVersion: o['schemaVersion'],
    family: o['family'],
    version: o['version'],
    writtenBy: typeof o['writtenBy'] === 'string' ? o['writtenBy'] : 'an unknown layerfsck',
    writtenAt: typeof o['writtenAt'] === 'string' ? o['writtenAt'] : '',
  }
}

/**
 * Reads and judges the stamp. Throws FormatTooNewError for a stamp this build
 * must not interpret (a newer major, an unknown family, a newer stamp
 * schema); a garbled stamp is reported, not thrown, since detection can
 * still tell the format from the store itself.
 */
export async function readStamp(fs: FsPort, store: string): Promise<StampState> {
  const path = stampPath(store)
  const inode = await fs.lstat(path)
  if (inode === undefined) return { state: 'absent' }
  if (inode.kind !== 'file') return { state: 'garbled', reason: `${path} is a ${inode.kind}, not a file` }
  let text: string
  try {
    text = await readTextLimited(fs, path, STAMP_LIMIT)
  } catch (err) {
    return { state: 'garbled', reason: (err as Error).message }
  }
  const parsed = parseStamp(text)
  if (typeof parsed === 'string') return { state: 'garbled', reason: `${path}: ${parsed}` }
  const stamp = parsed
  const me = `layerfsck ${VERSION}`
  if (stamp.schemaVersion > STAMP_SCHEMA_VERSION) {
    throw new FormatTooNewError(
      store,
      stamp,
      `store ${store} carries a stamp of schema ${stamp.schemaVersion}, written by ${stamp.writtenBy}; ${me} reads stamp schema ${STAMP_SCHEMA_VERSION} only`,
    )
  }
  if (!isFormatLine(stamp.family)) {
    throw new FormatTooNewError(
      store,
      stamp,
      `store ${store} was left in format ${stamp.family} ${stamp.version} by ${stamp.writtenBy}; ${me} does not know the ${stamp.family} family`,
    )
  }
  const latest = latestFormat(stamp.family)!
  if (semver.major(stamp.version) > semver.major(latest.version)) {
    throw new FormatTooNewError(
      store,
      stamp,
      `store ${store} was left in format ${stamp.family} ${stamp.version} by ${stamp.writtenBy}; ` +
        `${me} reads ${stamp.family} formats up to ${semver.major(latest.version)}.x (newest ${latest.version})`,
    )
  }
  // A newer minor of a known major is readable by promise; interpret it with
  // the newest rules this build has for that major.
  const format = closestFormat(stamp.family, stamp.version) ?? formatsOf(stamp.family)[0]!
  return { state: 'ok', stamp, format }
}

export async function writeStamp(fs: FsPort, store: string, format: FormatInfo, now = new Date()): Promise<Stamp> {
  const stamp: Stamp = {
    schemaVersion: STAMP_SCHEMA_VERSION,
    family: format.family,
    version: format.version,
    writtenBy: `layerfsck ${VERSION}`,
    writtenAt: now.toISOString(),
  }
  await ensureDir(fs, stampDir(store), 0o755)
  await writeFileDurable(fs, stampPath(store), Buffer.from(`${JSON.stringify(stamp, null, 2)}\n`))
  return stamp
}
