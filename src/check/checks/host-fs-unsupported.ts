import type { CheckSpec } from '../types.js'

/** Filesystems overlayfs refuses as upper or lower layers, or misbehaves on (Mesos' overlay backend validation). */
export const OVERLAY_UNSUITABLE_FS: ReadonlySet<string> = new Set(['btrfs', 'aufs', 'overlay', 'zfs', 'ecryptfs'])

export const hostFsUnsupported: CheckSpec = {
  code: 'host-fs-unsupported',
  pass: 'host',
  severity: 'error',
  title: 'the store (or a dir the family reads with it) is on a filesystem overlayfs cannot use',
  explain:
    'overlayfs cannot use btrfs, aufs, overlay, zfs or ecryptfs as a layer\'s filesystem: Mesos refuses its overlay ' +
    'backend there and the agent will not start with it, and Docker\'s overlay drivers fail every mount. Checked when ' +
    'the store is read through overlayfs.',
  fix: { by: 'operator', describe: 'move the store and work dir to ext4 or xfs (with ftype=1)' },
  async run(ctx) {
    if (!(await ctx.data.usesOverlay())) return
    for (const path of ctx.data.roots()) {
      if ((await ctx.fs.lstat(path))?.kind !== 'dir') continue
      const t = await ctx.fs.fsType(path)
      if (OVERLAY_UNSUITABLE_FS.has(t.name)) ctx.report({ path, message: `on ${t.name}, which overlay cannot use` })
    }
  },
}
