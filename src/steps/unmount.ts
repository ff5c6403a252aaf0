/**
 * Unmounts a mount point, children first, with MNT_DETACH as the fallback
 * for a busy one (Mesos' overlay destroy does the same since 1.8.0). "Not
 * mounted" counts as done, so a re-run after a crash is harmless.
 */
import { isErrno } from '../errors.js'
import type { FsPort } from '../fs/port.js'
import { mountsAtOrBelow } from '../fs/remove.js'

export async function unmountTree(fs: FsPort, mountPoint: string): Promise<void> {
  for (const m of mountsAtOrBelow(await fs.mounts(), mountPoint)) {
    try {
      await fs.unmount(m.mountPoint)
    } catch (err) {
      if (isErrno(err, 'EINVAL', 'ENOENT')) continue
      if (!isErrno(err, 'EBUSY')) throw err
      await fs.unmount(m.mountPoint, { detach: true })
    }
  }
}
