import { layerIdShape } from '../../mesos/paths.js'
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
    'see opaque markers in rootfs (overlay-whiteout-in-rootfs) or in rootfs.overlay, and cannot write or remove them ' +
    '(the fixes that convert whiteouts). The checks run as far as they can and this finding says which are ' +
    'incomplete.',
  fix: { by: 'operator', describe: 'run check as root (with CAP_SYS_ADMIN), as the agent runs' },
  async run(ctx) {
    const creds = await ctx.data.credentials()
    if (creds.capSysAdmin) return
    let rootfs = 0
    let overlay = 0
    for (const l of await ctx.data.layers()) {
      if (l.kind !== 'dir' || layerIdShape(l.name) === undefined) continue
      for (const c of l.children ?? []) {
        if (c.kind !== 'dir') continue
        if (c.name === 'rootfs') rootfs += 1
        if (c.name === 'rootfs.overlay') overlay += 1
      }
    }
    if (rootfs + overlay === 0) return
    const plural = (n: number, what: string): string => `${n} ${what} variant${n === 1 ? '' : 's'}`
    const blind: string[] = []
    if (rootfs > 0) blind.push(`${overlayWhiteoutInRootfs.code} could not look for opaque directories in ${plural(rootfs, 'rootfs')}`)
    if (overlay > 0) blind.push(`the opaque directories of ${plural(overlay, 'rootfs.overlay')} are invisible (export refuses them)`)
    blind.push(`the fixes of ${aufsWhiteoutInOverlay.code} and ${overlayWhiteoutInRootfs.code} cannot be applied`)
    ctx.report({
      path: ctx.store,
      message: `uid ${creds.uid} without CAP_SYS_ADMIN cannot read trusted.* xattrs: ${blind.join('; ')}`,
      detail: { uid: creds.uid, incomplete: [overlayWhiteoutInRootfs.code, aufsWhiteoutInOverlay.code].join(',') },
    })
  },
}
