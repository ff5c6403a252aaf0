/**
 * A listed device's number: from the listing when the adapter gave it, else
 * from an lstat of the entry. Undefined when the entry is no longer a device
 * (it changed or vanished since it was listed).
 */
import type { DevNo, DirEntry, FsPort } from './port.js'

export async function deviceNumber(fs: FsPort, dir: string, entry: DirEntry): Promise<DevNo | undefined> {
  if (entry.rdev !== undefined) return entry.rdev
  const inode = await fs.lstat(dir === '/' ? `/${entry.name}` : `${dir}/${entry.name}`)
  return inode?.kind === 'char' || inode?.kind === 'block' ? inode.rdev : undefined
}
