import type { CheckSpec } from '../types.js'

/** Filesystems overlayfs refuses as upper or lower layers, or misbehaves on (Mesos' overlay backend validation). */
const UNSUITABLE = new Set(['btrfs', 'aufs', 'overlay', 'zfs', 'ecryptfs'])

export const hostFsUnsupported: CheckSpec = {
  code: 'host-fs-unsupported',
  pass: 'host',
  severity: 'error',
  title: 'the store or provisioner dir is on a filesystem overlay cannot use',
  explain:
    'Mesos refuses the overlay backend when its dirs sit on btrfs, aufs, overlay, zfs or ecryptfs; the agent will not ' +
    'start with that backend. Checked when the backend in use is overlay.',
  fix: { by: 'operator', describe: 'move the store and work dir to ext4 or xfs (with ftype=1)' },
  async run(ctx) {
    if (ctx.backend !== 'overlay') return
    for (const path of ctx.roots) {
      if ((await ctx.fs.lstat(path))?.kind !== 'dir') continue
      const t = await ctx.fs.fsType(path)
      if (UNSUITABLE.has(t.name)) ctx.report({ path, message: `on ${t.name}, which overlay cannot use` })
    }
  },
}
