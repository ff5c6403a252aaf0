/**
 * `FsPort.listTree` from `readdir`, one directory at a time: the memory
 * adapter's, and the reference the disk adapter's native one is held to by
 * the contract suite.
 */
import { isErrno } from '../errors.js'
import type { DirEntry, FsPort, ListedDir, ListTreeOptions, TreeListing } from './port.js'

/** A listing without its plain files (`ListTreeOptions.skipPlainFiles`). */
export function withoutPlainFiles(entries: DirEntry[]): DirEntry[] {
  return entries.some((e) => e.name.startsWith('.wh.')) ? entries : entries.filter((e) => e.kind !== 'file')
}

export async function listTreeByReaddir(
  readdir: FsPort['readdir'],
  root: string,
  from: string[],
  maxEntries: number,
  options: ListTreeOptions = {},
): Promise<TreeListing> {
  const stack = [...from]
  const dirs: ListedDir[] = []
  let listed = 0
  while (stack.length > 0 && listed < maxEntries) {
    const rel = stack.pop()!
    const path = rel === '' ? root : root === '/' ? `/${rel}` : `${root}/${rel}`
    try {
      const entries = await readdir(path)
      dirs.push({ rel, count: entries.length, entries: options.skipPlainFiles ? withoutPlainFiles(entries) : entries })
      listed += entries.length
      for (const e of entries) if (e.kind === 'dir') stack.push(rel === '' ? e.name : `${rel}/${e.name}`)
    } catch (err) {
      if (!isErrno(err)) throw err
      dirs.push({ rel, errno: err.code })
    }
  }
  return { dirs, pending: stack }
}
