import { writeFileAll } from '../../fs/io.js'
import { dirname } from '../../fs/safe-path.js'
import { OPAQUE_MARKER_MODE, planAufsDir } from '../../layer/whiteout-codec.js'
import { OPAQUE_MARKER } from '../../layer/whiteout-names.js'
import type { CheckSpec } from '../types.js'

export const whiteoutConflict: CheckSpec = {
  code: 'whiteout-conflict',
  pass: 'contents',
  severity: 'warning',
  title: 'a whiteout and an entry of the same name in one layer',
  explain:
    'By the OCI layer spec a whiteout hides only lower layers: the entry of the same layer wins, and a directory ' +
    'that replaces a whited-out one must hide the lower one entirely. aufs reads .wh.X next to X differently, so the ' +
    'merged tree depends on the backend. The fix writes the spec\'s meaning: drop the whiteout, and make a ' +
    'replacing directory opaque.',
  fix: {
    by: 'check',
    describe: 'remove the whiteout; a directory it named gets an opaque marker',
    safe: false,
    apply: async (ctx, f) => {
      if (f.detail?.['targetKind'] === 'dir') {
        const marker = `${String(f.detail['target'])}/${OPAQUE_MARKER}`
        await writeFileAll(ctx.fs, marker, new Uint8Array(0), OPAQUE_MARKER_MODE)
        await ctx.fs.fsync(String(f.detail['target']))
      }
      if ((await ctx.fs.lstat(f.path)) !== undefined) await ctx.fs.unlink(f.path)
      await ctx.fs.fsync(dirname(f.path))
    },
  },
  onDir(ctx, dir) {
    if (dir.whiteouts !== 'aufs') return
    for (const a of planAufsDir(dir.entries)) {
      if (a.op !== 'shadowed') continue
      ctx.report({
        path: `${dir.path}/${a.marker}`,
        message: `${a.target} (a ${a.targetKind}) is in the same layer as its whiteout`,
        detail: { target: `${dir.path}/${a.target}`, targetKind: a.targetKind },
      })
    }
  },
}
