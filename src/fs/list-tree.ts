/**
 * `FsPort.listTree` from `readdir`, one directory at a time: the memory
 * adapter's, and the reference the disk adapter's native one is held to by
 * the contract suite.
 */
import { isErrno } from '../errors.js'
import type { FsPort, ListedDir, TreeListing } from './port.js'

export async function listTreeByReaddir(readdir: FsPort['readdir'], root: string, from: string[], maxEntries: number): Promise<TreeListing> {
  const stack = [...from]
  const dirs: ListedDir[] = []
  let listed = 0
  while (stack.length > 0 && listed < maxEntries) {
    const rel = stack.pop()!
    const path = rel === '' ? root : root === '/' ? `/${rel}` : `${root}/${rel}`
    try {
      const entries = await readdir(path)
      dirs.push({ rel, entries })
      listed += entries.length
      for (const e of entries) if (e.kind === 'dir') stack.push(rel === '' ? e.name : `${rel}/${e.name}`)
    } catch (err) {
      if (!isErrno(err)) throw err
      dirs.push({ rel, errno: err.code })
    }
  }
  return { dirs, pending: stack }
}
