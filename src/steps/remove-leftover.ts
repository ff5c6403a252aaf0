/**
 * Removes something a crash left (a staging dir, a gc/ entry, a temp file)
 * and makes the removal durable. Idempotent: a path already gone is done.
 * Never removes through a mount point: a mount below the path stops it, as
 * deleting files of a mounted filesystem would reach outside the store.
 */
import { LayerfsckError } from '../errors.js'
import type { FsPort } from '../fs/port.js'
import { removeTree } from '../fs/remove.js'
import { dirname, isInside } from '../fs/safe-path.js'

export async function removeLeftover(fs: FsPort, path: string): Promise<void> {
  const mounted = (await fs.mounts()).find((m) => isInside(path, m.mountPoint))
  if (mounted) {
    throw new LayerfsckError('MOUNTED_BELOW', `${mounted.mountPoint} is mounted inside ${path}; not removing through a mount`, {
      hint: 'unmount it first (layerfsck check -y unmounts orphan mounts)',
    })
  }
  await removeTree(fs, path)
  await fs.fsync(dirname(path))
}
