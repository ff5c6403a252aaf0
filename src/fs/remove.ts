/**
 * rm -r through the port, never following a symlink: a symlink is unlinked,
 * not descended into. Missing paths are success, so a re-run after a crash
 * half-way through finishes the job.
 */
import { isErrno } from '../errors.js'
import type { FsPort } from './port.js'

export async function removeTree(fs: FsPort, path: string): Promise<void> {
  const inode = await fs.lstat(path)
  if (inode === undefined) return
  if (inode.kind !== 'dir') {
    await unlinkIfPresent(fs, path)
    return
  }
  // Depth-first with an explicit stack: deep trees must not overflow.
  const stack: { path: string; listed: boolean }[] = [{ path, listed: false }]
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!
    if (!top.listed) {
      top.listed = true
      for (const e of await fs.readdir(top.path)) {
        const child = `${top.path}/${e.name}`
        if (e.kind === 'dir') stack.push({ path: child, listed: false })
        else await unlinkIfPresent(fs, child)
      }
      continue
    }
    stack.pop()
    try {
      await fs.rmdir(top.path)
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err
    }
  }
}

async function unlinkIfPresent(fs: FsPort, path: string): Promise<void> {
  try {
    await fs.unlink(path)
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err
  }
}
