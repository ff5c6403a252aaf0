import type { MesosData } from '../data.js'
import { layerIdShape } from '../paths.js'
import type { CheckSpec } from '../../../check/types.js'

export const layerUnreferenced: CheckSpec<MesosData> = {
  code: 'layer-unreferenced',
  pass: 'references',
  severity: 'info',
  title: 'a layer no image and no container uses',
  explain:
    'Nothing in storedImages and no container\'s layers checkpoint names it: Mesos\' image prune would remove it. ' +
    'Reported only when storedImages was read whole, since a damaged one may hide its users.',
  fix: { by: 'operator', describe: 'leave it for the agent\'s image prune' },
  async run(ctx) {
    const s = await ctx.data.storedImages()
    if (s.state === 'damaged' || s.state === 'unreadable') return
    const used = new Set<string>()
    if (s.state === 'ok') for (const i of s.value) for (const id of i.layerIds) used.add(id)
    for (const c of await ctx.data.containers()) {
      if (c.layers.state === 'damaged' || c.layers.state === 'unreadable') return
      if (c.layers.state === 'ok') for (const p of c.layers.value.paths) used.add(p.split('/').at(-2) ?? '')
    }
    for (const e of await ctx.data.layers()) {
      if (e.kind === 'dir' && layerIdShape(e.name) !== undefined && !used.has(e.name)) ctx.report({ path: e.path, message: 'not used by any image or container' })
    }
  },
}
