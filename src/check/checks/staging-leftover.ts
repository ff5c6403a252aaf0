import { stagingDir } from '../../mesos/paths.js'
import { removeLeftover } from '../../steps/remove-leftover.js'
import type { CheckSpec } from '../types.js'

export const stagingLeftover: CheckSpec = {
  code: 'staging-leftover',
  pass: 'structure',
  severity: 'warning',
  title: 'a pull\'s staging dir left behind',
  explain:
    'Each pull works in staging/XXXXXX and removes it when done, whatever the outcome; a crashed agent leaves it, ' +
    'and nothing else ever cleans staging/. It holds no committed data, but a pull running right now uses its own, ' +
    'so only -y removes these.',
  fix: {
    by: 'check',
    describe: 'remove the staging dir',
    safe: false,
    apply: (ctx, f) => removeLeftover(ctx.fs, f.path),
  },
  async run(ctx) {
    for (const e of await ctx.data.staging()) {
      ctx.report({ path: `${stagingDir(ctx.store)}/${e.name}`, message: `a ${e.kind} left in staging/ by an unfinished pull` })
    }
  },
}
