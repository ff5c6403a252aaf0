import type { MesosData } from '../data.js'
import type { CheckSpec } from '../../../check/types.js'

export const containerLayersMissing: CheckSpec<MesosData> = {
  code: 'container-layers-missing',
  pass: 'references',
  severity: 'warning',
  title: 'a provisioned container without its layers checkpoint',
  explain:
    'Since Mesos 1.5.0 the provisioner checkpoints the layer paths of each container rootfs (containers/<id>/layers) ' +
    'and image prune keeps those layers alive. Without it, prune may delete layers this container still mounts. ' +
    'Reported only when other containers of this agent have the file, so stores of older agents stay clean.',
  fix: { by: 'operator', describe: 'destroy and relaunch the container, or leave prune off until it is gone' },
  async run(ctx) {
    const containers = await ctx.data.containers()
    if (!containers.some((c) => c.layers.state !== 'absent')) return
    for (const c of containers) {
      const provisioned = c.backends.some((b) => b.rootfses.length > 0)
      if (provisioned && c.layers.state === 'absent') ctx.report({ path: `${c.path}/layers`, message: `${c.key} has rootfses but no layers checkpoint` })
    }
  },
}
