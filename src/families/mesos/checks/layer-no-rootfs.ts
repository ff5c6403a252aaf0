import type { MesosData } from '../data.js'
import { layerIdShape } from '../paths.js'
import { VARIANT_DIRS } from '../formats/index.js'
import type { CheckSpec } from '../../../check/types.js'

export const layerNoRootfs: CheckSpec<MesosData> = {
  code: 'layer-no-rootfs',
  pass: 'structure',
  severity: 'error',
  title: 'a layer directory with no rootfs variant',
  explain:
    'A layer serves a backend through layers/<id>/rootfs (aufs, copy, bind) or rootfs.overlay (overlay). With ' +
    'neither, the layer cannot be used; Mesos re-pulls it when an image needs it, if the registry still has it.',
  fix: { by: 'operator', describe: 'remove the layer dir, or re-import the image that holds it (layerfsck import)' },
  async run(ctx) {
    for (const e of await ctx.data.layers()) {
      if (e.kind !== 'dir' || layerIdShape(e.name) === undefined) continue
      const has = (e.children ?? []).some((c) => VARIANT_DIRS.includes(c.name) && c.kind === 'dir')
      if (!has) ctx.report({ path: e.path, message: `none of ${VARIANT_DIRS.join(', ')} is a directory here` })
    }
  },
}
