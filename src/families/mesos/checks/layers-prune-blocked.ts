import type { MesosData } from '../data.js'
import type { CheckSpec } from '../../../check/types.js'
import { judgePrune } from './layer-unreferenced.js'

export const layersPruneBlocked: CheckSpec<MesosData> = {
  code: 'layers-prune-blocked',
  pass: 'references',
  severity: 'info',
  title: 'which layers are unused cannot be told, so every layer is kept',
  garbage: 'keeps',
  explain:
    'Image prune (Mesos\' and gc --prune-layers) removes layers that no image and no live container uses. When ' +
    'storedImages cannot be read whole, or a live container has no layers checkpoint (made before Mesos 1.5.0, or ' +
    'damaged), what it uses cannot be told, and every layer is kept, as Mesos keeps them.',
  async run(ctx) {
    const judged = await judgePrune(ctx)
    if ('keepAll' in judged && judged.quiet !== true) ctx.report({ path: `${ctx.store}/layers`, message: `every layer is kept: ${judged.keepAll}` })
  },
}
