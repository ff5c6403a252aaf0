import type { CheckSpec } from '../types.js'

export const hostNoDtype: CheckSpec = {
  code: 'host-no-dtype',
  pass: 'host',
  severity: 'error',
  title: 'the filesystem does not report entry types (d_type)',
  explain:
    'overlayfs needs d_type (xfs must be made with ftype=1); Mesos probes for it at start-up and refuses the overlay ' +
    'backend without it, and Docker refuses its overlay drivers. layerfsck\'s walk trusts entry types too.',
  fix: { by: 'operator', describe: 'recreate the filesystem with d_type support (mkfs.xfs -n ftype=1)' },
  async run(ctx) {
    if (!(await ctx.data.usesOverlay())) return
    for (const path of ctx.data.roots()) {
      if ((await ctx.fs.lstat(path))?.kind !== 'dir') continue
      const t = await ctx.fs.fsType(path)
      if (!t.dtype) ctx.report({ path, message: `${t.name} here reports no entry types` })
    }
  },
}
