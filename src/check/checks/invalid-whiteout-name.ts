import { planAufsDir } from '../../layer/whiteout-codec.js'
import type { CheckSpec } from '../types.js'

export const invalidWhiteoutName: CheckSpec = {
  code: 'invalid-whiteout-name',
  pass: 'contents',
  severity: 'warning',
  title: 'a .wh. name that is no valid whiteout',
  explain:
    'Whiteouts are regular files named .wh.<name> with a non-empty name. `.wh.`, `.wh..` and a directory or symlink ' +
    'with a whiteout\'s name hide nothing, are never converted, and may be read differently by each backend.',
  fix: { by: 'operator', describe: 'find which image carries it and rebuild that layer' },
  onDir(ctx, dir) {
    for (const a of planAufsDir(dir.entries)) {
      if (a.op === 'leave' && a.code !== 'aufs-meta') ctx.report({ path: `${dir.path}/${a.name}`, message: a.reason })
    }
  },
}
