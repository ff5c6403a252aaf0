import type { MesosData } from '../data.js'
import { gcDir } from '../paths.js'
import type { CheckSpec } from '../../../check/types.js'
import { judgeGcEntry } from './gc-leftover.js'

export const gcUnknownEntry: CheckSpec<MesosData> = {
  code: 'gc-unknown-entry',
  pass: 'structure',
  severity: 'warning',
  title: 'an entry in gc/ that image prune did not put there',
  explain:
    'Prune moves only layer dirs and config blobs into gc/, named <id>.<nanoseconds>, and its sweep deletes ' +
    'everything in gc/. Anything else there (a backup, a file copied in by hand) was put there by a person or another ' +
    'tool; layerfsck leaves it alone, but the next Mesos prune sweep will delete it.',
  fix: { by: 'operator', describe: 'move it out of gc/ if it is wanted: the next prune deletes it' },
  async run(ctx) {
    for (const e of await ctx.data.gc()) {
      const verdict = judgeGcEntry(e.name, e.kind)
      if (!verdict.ok) ctx.report({ path: `${gcDir(ctx.store)}/${e.name}`, message: `a ${e.kind} that prune did not make: ${verdict.reason}` })
    }
  },
}
