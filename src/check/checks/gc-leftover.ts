import { gcDir } from '../../mesos/paths.js'
import { removeLeftover } from '../../steps/remove-leftover.js'
import type { CheckSpec } from '../types.js'

export const gcLeftover: CheckSpec = {
  code: 'gc-leftover',
  pass: 'structure',
  severity: 'warning',
  title: 'a layer marked for deletion but never swept',
  explain:
    'Image prune renames unreferenced layers into gc/ and then deletes them; a crash in between leaves them there ' +
    'until the next prune. Nothing references them any more.',
  fix: {
    by: 'check',
    describe: 'delete it, finishing the sweep',
    safe: true,
    apply: (ctx, f) => removeLeftover(ctx.fs, f.path),
  },
  async run(ctx) {
    for (const e of await ctx.data.gc()) ctx.report({ path: `${gcDir(ctx.store)}/${e.name}`, message: 'marked by prune and never swept' })
  },
}
