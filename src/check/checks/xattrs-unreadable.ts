import type { CheckSpec } from '../types.js'
import { aufsWhiteoutInOverlay } from './aufs-whiteout-in-overlay.js'
import { overlayWhiteoutInRootfs } from './overlay-whiteout-in-rootfs.js'

export const xattrsUnreadable: CheckSpec = {
  code: 'xattrs-unreadable',
  pass: 'host',
  severity: 'warning',
  title: 'this process cannot read trusted.* xattrs, so opaque directories are invisible to it',
  explain:
    'overlayfs marks an opaque directory with trusted.overlay.opaque=y, and Linux shows trusted.* attributes only to ' +
    'a process with CAP_SYS_ADMIN: to anyone else such a directory looks like a plain one. Run that way, check cannot ' +
    'see opaque markers where they do not belong (overlay-whiteout-in-rootfs) nor the ones an overlay-form layer ' +
    'needs, and cannot write or remove them (the fixes that convert whiteouts). The checks run as far as they can ' +
    'and this finding says which are incomplete.',
  fix: { by: 'operator', describe: 'run check as root (with CAP_SYS_ADMIN), as the agent or daemon runs' },
  async run(ctx) {
    const creds = await ctx.data.credentials()
    if (creds.capSysAdmin) return
    const roots = await ctx.data.contentRoots()
    if (roots.length === 0) return
    const overlay = roots.filter((r) => r.whiteouts === 'overlay').length
    const other = roots.length - overlay
    const plural = (n: number, what: string): string => `${n} ${what} layer tree${n === 1 ? '' : 's'}`
    const blind: string[] = []
    if (other > 0) blind.push(`${overlayWhiteoutInRootfs.code} could not look for opaque directories in ${plural(other, 'aufs-form or flattened')}`)
    if (overlay > 0) blind.push(`the opaque directories of ${plural(overlay, 'overlay-form')} are invisible (export refuses them)`)
    blind.push(`the fixes of ${aufsWhiteoutInOverlay.code} and ${overlayWhiteoutInRootfs.code} cannot be applied`)
    ctx.report({
      path: ctx.store,
      message: `uid ${creds.uid} without CAP_SYS_ADMIN cannot read trusted.* xattrs: ${blind.join('; ')}`,
      detail: { uid: creds.uid, incomplete: [overlayWhiteoutInRootfs.code, aufsWhiteoutInOverlay.code].join(',') },
    })
  },
}
