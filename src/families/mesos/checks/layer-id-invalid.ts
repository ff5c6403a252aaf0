import type { MesosData } from '../data.js'
import { layerIdShape } from '../paths.js'
import type { CheckSpec } from '../../../check/types.js'

export const layerIdInvalid: CheckSpec<MesosData> = {
  code: 'layer-id-invalid',
  pass: 'structure',
  severity: 'warning',
  title: 'a layer directory whose name is not a layer id',
  explain:
    'Layer ids are 64 hex digits (v1 ids, docker save archives, schema 1) or sha256:<64 hex> (schema 2). No image can ' +
    'reference another name, so the directory is dead weight or a half-finished manual copy.',
  fix: { by: 'operator', describe: 'remove it, or rename it to the id it was meant to have' },
  async run(ctx) {
    for (const e of await ctx.data.layers()) {
      if (e.kind === 'dir' && layerIdShape(e.name) === undefined) {
        ctx.report({ path: e.path, message: `${e.name} is neither 64 hex digits nor sha256:<64 hex>` })
      }
    }
  },
}
