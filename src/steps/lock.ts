/**
 * The store lock: flock(2) on `<store>/.layerfsck/lock`, exclusive for a
 * command that changes the store, shared for one that only reads it. flock
 * and not a pid file, because the kernel drops it when the holder dies, so a
 * SIGKILLed layerfsck never leaves a store locked and nobody has to judge
 * whether a recorded pid is stale.
 *
 * A read-only command never creates the lock file: if no layerfsck ever
 * changed the store there is nobody to exclude, and reading must change
 * nothing.
 */
import { ExitCode, isErrno, LayerfsckError } from '../errors.js'
import { readJournal, type JournalRecord } from './journal.js'
import type { FileLock, FsPort } from '../fs/port.js'
import { escapeName } from '../fs/name-bytes.js'

export const DEFAULT_LOCK_WAIT_SECONDS = 10
const POLL_MS = 100

export const ownDir = (store: string): string => `${store}/.layerfsck`
export const lockPath = (store: string): string => `${store}/.layerfsck/lock`
export const journalPath = (store: string): string => `${store}/.layerfsck/journal`
export const stampDir = ownDir
export const stampPath = (store: string): string => `${store}/.layerfsck/format.json`

export class StoreLockedError extends LayerfsckError {
  constructor(
    readonly store: string,
    readonly holders: number[],
    waited: number,
    /** What the holder is doing, when its journal says (a reader keeps none). */
    doing?: string,
  ) {
    const who = (holders.length === 0 ? 'another process' : `pid ${holders.join(', ')}`) + (doing ? ` (${doing})` : '')
    super('STORE_LOCKED', `store ${escapeName(store)} is locked by ${who}; waited ${waited} s`, {
      exitCode: ExitCode.operational,
      hint: 'let that command finish (or give --wait SECONDS); a killed holder releases the lock by itself',
    })
  }
}

export interface LockOptions {
  mode: 'shared' | 'exclusive'
  /** How long to wait for a holder to finish. */
  waitSeconds?: number
  signal?: AbortSignal
}

export async function lockStore(fs: FsPort, store: string, options: LockOptions): Promise<FileLock | undefined> {
  const path = lockPath(store)
  const wait = options.waitSeconds ?? DEFAULT_LOCK_WAIT_SECONDS
  const deadline = Date.now() + wait * 1000
  if (options.mode === 'exclusive') {
    try {
      await fs.mkdir(ownDir(store), 0o755)
      await fs.fsync(store)
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err
    }
  }
  // O_NOFOLLOW guards only the last component: a .layerfsck that is a
  // symlink would put the lock, the journal and the stamp outside the store.
  const own = await fs.lstat(ownDir(store))
  if (own !== undefined && own.kind !== 'dir') {
    throw new LayerfsckError('STORE_DAMAGED', `${escapeName(ownDir(store))} is a ${own.kind}, not layerfsck's directory; not using it`, {
      hint: 'move it aside; layerfsck keeps its lock, journal and stamp in a real directory there',
    })
  }
  if (own === undefined && options.mode === 'shared') return undefined
  for (;;) {
    let result
    try {
      result = await fs.tryLock(path, options.mode, { create: options.mode === 'exclusive' })
    } catch (err) {
      if (options.mode === 'shared' && isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined
      throw err
    }
    if (result.ok) return result.lock
    if (Date.now() >= deadline || options.signal?.aborted) throw new StoreLockedError(store, result.holders, wait, await holderCommand(fs, store, result.holders))
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}

/** The command a writer holding the lock announced in its journal, if the journal names one of the holders. */
async function holderCommand(fs: FsPort, store: string, holders: readonly number[]): Promise<string | undefined> {
  let records: JournalRecord[]
  try {
    records = await readJournal(fs, journalPath(store))
  } catch {
    // A damaged or foreign journal says nothing about who holds the lock.
    return undefined
  }
  const run = records.filter((r) => r.type === 'run' && holders.includes(r.pid)).at(-1)
  return run?.type === 'run' ? `layerfsck ${run.command}, since ${run.at}` : undefined
}
