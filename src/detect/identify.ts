/**
 * What a directory named as `--store` is, decided before anything reads it
 * as a store. A wrong `--store` is the easiest mistake an operator makes,
 * and every rule a store check applies (a six-character file is a
 * checkpoint temp file, an overlay dir no record names is an orphan) is
 * destructive when applied to a directory that is not a store. So a store is
 * recognised only from positive evidence its family defines, never from the
 * absence of anything surprising; layerfsck's own stamp, read first of all,
 * is evidence too, and names the family.
 *
 * Anything else is "not a store", and says what it looks like instead, so
 * that an operator who pointed at a podman graphroot, at a Docker data root
 * of a driver layerfsck does not read, or at someone's home directory learns
 * that rather than a list of findings.
 */
import { ExitCode, isErrno, LayerfsckError } from '../errors.js'
import { FAMILIES, FOREIGN } from '../families/index.js'
import type { Family, FamilyName, Looks, StoreEvidence } from '../family/types.js'
import { familyOfLine } from '../format/registry.js'
import { readStamp, type StampState } from '../format/stamp.js'
import { escapeName } from '../fs/name-bytes.js'
import type { DirEntry, FsPort, InodeKind } from '../fs/port.js'
import { byName } from '../fs/walk.js'
import { stampPath } from '../steps/lock.js'

export type { StoreEvidence }

/** How many names an answer lists. */
const LISTED = 5

export type LooksLike = Looks &
  (
    | { kind: 'absent' }
    | { kind: 'not-a-directory'; inodeKind: InodeKind }
    | { kind: 'empty' }
    | { kind: 'unknown'; names: string[]; total: number }
    /** A store of another family than the one `--family` asked for. */
    | { kind: 'other-family'; family: FamilyName }
    /** What a family or a foreign layout says it is (an empty Mesos skeleton, a containers/storage graphroot). */
    | { kind: string }
  )

/** `title: a, b, c` with the names escaped. */
export const phrase = (title: string, shows: readonly string[], more = ''): string =>
  shows.length === 0 ? title : `${title}: ${shows.map(escapeName).join(', ')}${more}`

export type StoreIdentity =
  | { isStore: true; path: string; family: Family; evidence: StoreEvidence[]; stamp: StampState }
  | {
      isStore: false
      path: string
      /** looksLike.kind, at hand. */
      kind: string
      /** Whether import may make a store here: nothing there yet, or only an empty store skeleton. */
      canCreate: boolean
      looksLike: LooksLike
    }

const notAStore = (path: string, looksLike: LooksLike): StoreIdentity => ({
  isStore: false,
  path,
  kind: looksLike.kind,
  canCreate: looksLike.canCreate === true,
  looksLike,
})

/** A name in a list, with a slash after a directory; exact bytes (JSON carries them as they are). */
export const label = (e: DirEntry): string => `${e.name}${e.kind === 'dir' ? '/' : ''}`

export class UnreadableStoreError extends LayerfsckError {
  constructor(path: string, cause: unknown) {
    super('STORE_UNREADABLE', `cannot read ${escapeName(path)} (${isErrno(cause) ? cause.code : String(cause)}); cannot tell whether it is a store`, {
      cause,
      exitCode: ExitCode.operational,
      hint: 'run as a user who can read the store (root, as the agent or daemon runs)',
    })
  }
}

/** A sorted listing, or the refusal that says the directory cannot be judged. */
export async function listForIdentity(fs: FsPort, path: string): Promise<DirEntry[]> {
  try {
    return (await fs.readdir(path)).sort(byName)
  } catch (err) {
    if (isErrno(err, 'EACCES', 'EPERM')) throw new UnreadableStoreError(path, err)
    throw err
  }
}

async function looksLike(fs: FsPort, dir: string, entries: DirEntry[], among: readonly Family[]): Promise<LooksLike> {
  if (entries.length === 0) return { kind: 'empty', title: 'an empty directory', shows: [], describe: 'an empty directory', canCreate: true }
  // A store of a family the operator did not ask for.
  for (const family of FAMILIES) {
    if (among.includes(family)) continue
    if ((await family.recognise(fs, dir, entries)).length > 0) {
      const title = `${family.title}, not ${among.map((f) => f.title).join(' or ')}`
      return { kind: 'other-family', family: family.name, title, shows: [], describe: title, hint: `leave --family out, or pass --family ${family.name}` }
    }
  }
  for (const r of [...FAMILIES.map((f) => f.looksLike.bind(f)), ...FOREIGN]) {
    const known = await r(fs, dir, entries)
    if (known !== undefined) return known as LooksLike
  }
  const names = entries.slice(0, LISTED).map(label)
  const more = entries.length > LISTED ? `, … (${entries.length} entries)` : ''
  const title = 'a directory of something else (no evidence of any store layerfsck reads, no layerfsck stamp)'
  return { kind: 'unknown', names, total: entries.length, title, shows: names, describe: phrase(title, names, more) }
}

export interface IdentifyOptions {
  /** Only this family may claim the directory (`--family`). */
  family?: FamilyName
}

/** What `dir` is: a store with the evidence for it, or what it looks like instead. Reads only; changes nothing. */
export async function identifyStore(fs: FsPort, dir: string, options: IdentifyOptions = {}): Promise<StoreIdentity> {
  let inode
  try {
    inode = await fs.lstat(dir)
  } catch (err) {
    if (!isErrno(err, 'ENOTDIR')) throw err
  }
  if (inode === undefined) return notAStore(dir, { kind: 'absent', title: 'a path that does not exist', shows: [], describe: 'a path that does not exist', canCreate: true })
  if (inode.kind !== 'dir') {
    const title = `a ${inode.kind}, not a directory`
    return notAStore(dir, { kind: 'not-a-directory', inodeKind: inode.kind, title, shows: [], describe: title })
  }
  const among = options.family === undefined ? FAMILIES : FAMILIES.filter((f) => f.name === options.family)
  const entries = await listForIdentity(fs, dir)
  if (entries.length > 0) {
    // The stamp first: one from a newer major format throws here, before anything else is interpreted.
    const stamp = await readStamp(fs, dir)
    const stamped = stamp.state === 'ok' ? familyOfLine(stamp.stamp.family) : undefined
    for (const family of among) {
      const evidence = await family.recognise(fs, dir, entries)
      if (stamp.state === 'ok' && stamped === family) {
        evidence.unshift({ id: 'layerfsck-stamp', path: stampPath(dir), describe: `layerfsck stamp: ${stamp.stamp.family} ${stamp.stamp.version}` })
      }
      if (evidence.length > 0) return { isStore: true, path: dir, family, evidence, stamp }
    }
  }
  return notAStore(dir, await looksLike(fs, dir, entries, among))
}

function hintFor(l: LooksLike): string {
  if (l.hint !== undefined) return l.hint
  const stores = FAMILIES.map((f) => f.storeHint).join('; or ')
  switch (l.kind) {
    case 'absent':
    case 'empty':
      return `name ${stores}; layerfsck import creates a Mesos docker store in an empty or absent directory`
    default:
      return `name ${stores}`
  }
}

export class NotAStoreError extends LayerfsckError {
  constructor(
    readonly path: string,
    readonly command: string,
    readonly looksLike: LooksLike,
  ) {
    super('NOT_A_STORE', `${escapeName(path)} is not a store layerfsck reads; it looks like ${looksLike.describe}. ${command} read no further and changed nothing`, {
      exitCode: ExitCode.operational,
      hint: hintFor(looksLike),
    })
  }

  /** The machine-readable half of the answer, for --json. */
  toJSON(): { code: string; message: string; hint: string | null; exitCode: number; path: string; looksLike: LooksLike } {
    return { code: this.code, message: this.message, hint: this.hint ?? null, exitCode: this.exitCode, path: this.path, looksLike: this.looksLike }
  }
}

/** The refusal for a command given a directory that is no store. */
export function notAStoreError(identity: Extract<StoreIdentity, { isStore: false }>, command: string): NotAStoreError {
  return new NotAStoreError(identity.path, command, identity.looksLike)
}

/**
 * The gate every command that reads a store as a store passes first: the
 * store's identity, or a NotAStoreError (exit 8) that names what `dir` looks
 * like and says that `command` changed nothing.
 */
export async function requireStore(fs: FsPort, dir: string, command: string, options: IdentifyOptions = {}): Promise<Extract<StoreIdentity, { isStore: true }>> {
  const identity = await identifyStore(fs, dir, options)
  if (!identity.isStore) throw notAStoreError(identity, command)
  return identity
}
