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
import { readTextLimited } from '../fs/io.js'
import type { FileLock, FsPort } from '../fs/port.js'
import { escapeName } from '../fs/name-bytes.js'

export const DEFAULT_LOCK_WAIT_SECONDS = 10
const POLL_MS = 100

export const ownDir = (store: string): string => `${store}/.layerfsck`
export const lockPath = (store: string): string => `${store}/.layerfsck/lock`
export const journalPath = (store: string): string => `${store}/.layerfsck/journal`

export class StoreLockedError extends LayerfsckError {
  constructor(
    readonly store: string,
    readonly holders: number[],
    waited: number,
  ) {
    const who = holders.length === 0 ? 'another process' : `pid ${holders.join(', ')}`
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
  for (;;) {
    let result
    try {
      result = await fs.tryLock(path, options.mode, { create: options.mode === 'exclusive' })
    } catch (err) {
      if (options.mode === 'shared' && isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined
      throw err
    }
    if (result.ok) return result.lock
    if (Date.now() >= deadline || options.signal?.aborted) throw new StoreLockedError(store, result.holders, wait)
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}

/**
 * Processes that must not run while a store is changed under them (a Mesos
 * agent, dockerd): the family names them, this only looks. Reads
 * `<procRoot>/<pid>/comm`; a process that exits while we look is skipped.
 */
export async function findProcesses(fs: FsPort, names: readonly string[], procRoot = '/proc'): Promise<{ pid: number; name: string }[]> {
  if (names.length === 0) return []
  const wanted = new Set(names)
  let entries
  try {
    entries = await fs.readdir(procRoot)
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'EACCES')) return []
    throw err
  }
  const found: { pid: number; name: string }[] = []
  for (const e of entries) {
    if (!/^\d+$/.test(e.name)) continue
    let comm: string
    try {
      comm = (await readTextLimited(fs, `${procRoot}/${e.name}/comm`, 4096)).trim()
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ESRCH', 'EACCES', 'ENOTDIR')) continue
      throw err
    }
    if (wanted.has(comm)) found.push({ pid: Number(e.name), name: comm })
  }
  return found.sort((a, b) => a.pid - b.pid)
}
