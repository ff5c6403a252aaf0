import { planAufsDir } from '../../layer/whiteout-codec.js'
import { removeLeftover } from '../../steps/remove-leftover.js'
import type { CheckSpec } from '../types.js'

export const aufsMetaLeftover: CheckSpec = {
  code: 'aufs-meta-leftover',
  pass: 'contents',
  severity: 'warning',
  title: 'aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs, ...) inside a layer',
  explain:
    'Images built on an aufs host can carry aufs\'s own .wh..wh.* entries. They are no whiteouts and belong to no ' +
    'container: Docker skips them when applying a layer, and overlay would show them.',
  fix: { by: 'check', describe: 'remove the entry', safe: true, apply: (ctx, f) => removeLeftover(ctx.fs, f.path, ctx.roots) },
  onDir(ctx, dir) {
    for (const a of planAufsDir(dir.entries)) {
      if (a.op === 'leave' && a.code === 'aufs-meta') ctx.report({ path: `${dir.path}/${a.name}`, message: 'aufs bookkeeping, not part of the image' })
    }
  },
}
