import type { MesosData } from '../data.js'
import { stagingDir } from '../paths.js'
import type { CheckSpec } from '../../../check/types.js'
import { isStagingDir } from './staging-leftover.js'

export const stagingUnknownEntry: CheckSpec<MesosData> = {
  code: 'staging-unknown-entry',
  pass: 'structure',
  severity: 'warning',
  title: 'an entry in staging/ that no pull made',
  explain:
    'Pulls make only directories named like os::mkdtemp\'s XXXXXX in staging/. Anything else there was put there by a ' +
    'person or another tool; layerfsck leaves it alone.',
  fix: { by: 'operator', describe: 'move it out of the store if it is wanted, or delete it' },
  async run(ctx) {
    for (const e of await ctx.data.staging()) {
      if (!isStagingDir(e.name, e.kind)) ctx.report({ path: `${stagingDir(ctx.store)}/${e.name}`, message: `a ${e.kind} that no pull made` })
    }
  },
}
