import type { MesosData } from '../data.js'
import type { CheckSpec } from '../../../check/types.js'

export const containerLayersUnreadable: CheckSpec<MesosData> = {
  code: 'container-layers-unreadable',
  pass: 'references',
  severity: 'error',
  title: 'a container\'s layers checkpoint cannot be read',
  explain: 'The provisioner reads every container\'s layers checkpoint at recovery; one it cannot parse fails the recovery.',
  fix: { by: 'operator', describe: 'destroy the container; its checkpoint cannot be rebuilt from the store' },
  async run(ctx) {
    for (const c of await ctx.data.containers()) {
      const s = c.layers
      if (s.state === 'unreadable') ctx.report({ path: `${c.path}/layers`, message: s.reason })
      else if (s.state === 'damaged') ctx.report({ path: `${c.path}/layers`, message: s.problems[0]?.message ?? 'damaged' })
    }
  },
}
