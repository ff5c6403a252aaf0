import { journalPath } from '../../steps/lock.js'
import type { CheckSpec } from '../types.js'
import { FixRefusedError } from './refuse.js'

export const interruptedRun: CheckSpec = {
  code: 'interrupted-run',
  pass: 'structure',
  severity: 'warning',
  title: 'a layerfsck command was killed before it finished',
  garbage: 'always',
  explain:
    'Every command that changes a store journals its steps in .layerfsck/journal and removes the journal when it ' +
    'finishes. A journal left behind means the command was killed, or the machine lost power, half-way. What it had ' +
    'committed is whole (each step is), and the temp dirs it claimed in staging/ hold nothing committed. The next ' +
    'command that may change the store (check -p, -y, or the same command again) removes those and closes the run.',
  fix: {
    by: 'check',
    describe: 'remove the staging dirs the killed run claimed and close its journal',
    safe: true,
    // The session that may change the store removed the claims as it opened, before any check ran.
    isDone: async (ctx) => ctx.interrupted?.recovered === true && ctx.interrupted.left.length === 0,
    apply: async (ctx) => {
      const left = ctx.interrupted?.left ?? []
      if (left.length > 0) throw new FixRefusedError(`left alone: ${left.join(', ')} (a mount in the way, or not a staging dir of this store)`)
    },
  },
  async run(ctx) {
    const i = ctx.interrupted
    if (i === undefined) return
    const claims = i.claims.length === 0 ? 'it had claimed no temp dir' : `it had claimed ${i.claims.join(', ')}`
    ctx.report({ path: journalPath(ctx.store), message: `layerfsck ${i.command} (pid ${i.pid}, started ${i.at}) did not finish; ${claims}` })
  },
}
