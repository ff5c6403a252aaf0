import { layerDir, rootfsName, storedImagesPath } from '../../mesos/paths.js'
import { referenceKey } from '../../metadata/stored-images.js'
import type { CheckSpec } from '../types.js'

export const imageLayerMissing: CheckSpec = {
  code: 'image-layer-missing',
  pass: 'references',
  severity: 'warning',
  title: 'an image in storedImages names a layer missing for the backend in use',
  explain:
    'Mesos checks at launch that every layer of an image has the rootfs variant of the agent\'s backend and re-pulls ' +
    'the image if not. Without registry access that launch fails; after a backend switch every image is re-pulled.',
  fix: { by: 'operator', describe: 're-import the image (layerfsck import), or migrate the layers to this backend' },
  async run(ctx) {
    const s = await ctx.data.storedImages()
    if (s.state !== 'ok' && s.state !== 'damaged') return
    const variant = rootfsName(ctx.backend)
    for (const image of s.value) {
      const name = image.reference ? referenceKey(image.reference) : '(damaged record)'
      for (const id of image.layerIds) {
        const path = `${layerDir(ctx.store, id)}/${variant}`
        const inode = await ctx.data.lstat(path)
        if (inode !== 'unreadable' && inode?.kind !== 'dir') {
          ctx.report({ path, message: `${name} needs layer ${id}, which has no ${variant} (backend ${ctx.backend})`, detail: { image: name, storedImages: storedImagesPath(ctx.store) } })
        }
      }
    }
  },
}
