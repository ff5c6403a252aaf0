/**
 * The filesystems the running kernel offers, as /proc/filesystems lists
 * them (`nodev\toverlay`, `\text4`): what a backend that mounts one needs.
 */
import { isErrno } from '../errors.js'
import { readTextLimited } from './io.js'
import type { FsPort } from './port.js'

export const PROC_FILESYSTEMS = '/proc/filesystems'

/** The names listed, or the reason the list cannot be read (absent, not permitted). */
export async function readKernelFilesystems(fs: FsPort, path = PROC_FILESYSTEMS): Promise<Set<string> | { unreadable: string }> {
  try {
    const text = await readTextLimited(fs, path, 1024 * 1024)
    return new Set(text.split('\n').map((l) => l.trim().split(/\s+/).pop() ?? '').filter((n) => n !== ''))
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'EACCES', 'EPERM', 'ENOTDIR')) return { unreadable: (err as Error).message }
    throw err
  }
}
