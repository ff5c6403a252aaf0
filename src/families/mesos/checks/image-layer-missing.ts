import type { MesosData } from '../data.js'
import { layerDir, storedImagesPath } from '../paths.js'
import { referenceKey } from '../metadata/stored-images.js'
import type { CheckSpec } from '../../../check/types.js'

export const imageLayerMissing: CheckSpec<MesosData> = {
  code: 'image-layer-missing',
  pass: 'references',
  severity: 'warning',
  title: 'an image in storedImages names a layer missing for the backend in use',
  explain:
    'Mesos checks at launch that every layer of an image has the variant the agent\'s backend reads in the store\'s format and re-pulls ' +
    'the image if not. Without registry access that launch fails; after a backend switch every image is re-pulled.',
  fix: { by: 'operator', describe: 're-import the image (layerfsck import), or migrate the layers to this backend' },
  async run(ctx) {
    const s = await ctx.data.storedImages()
    if (s.state !== 'ok' && s.state !== 'damaged') return
    const backend = (await ctx.data.backend()).name
    const variant = (await ctx.data.variantFor(backend)).dir
    for (const image of s.value) {
      const name = image.reference ? referenceKey(image.reference) : '(damaged record)'
      for (const id of image.layerIds) {
        const path = `${layerDir(ctx.store, id)}/${variant}`
        const inode = await ctx.data.lstat(path)
        if (inode !== 'unreadable' && inode?.kind !== 'dir') {
          ctx.report({ path, message: `${name} needs layer ${id}, which has no ${variant} (backend ${backend})`, detail: { image: name, storedImages: storedImagesPath(ctx.store) } })
        }
      }
    }
  },
}
