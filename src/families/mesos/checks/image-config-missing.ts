import type { MesosData } from '../data.js'
import { layerDir } from '../paths.js'
import { referenceKey } from '../metadata/stored-images.js'
import type { CheckSpec } from '../../../check/types.js'

export const imageConfigMissing: CheckSpec<MesosData> = {
  code: 'image-config-missing',
  pass: 'references',
  severity: 'warning',
  title: 'an image\'s config blob is missing from layers/',
  explain:
    'Schema 2 images keep their runtime config at layers/<config digest>; Mesos reads it at every launch and re-pulls ' +
    'the image when it is gone.',
  fix: { by: 'operator', describe: 're-import the image (layerfsck import)' },
  async run(ctx) {
    const s = await ctx.data.storedImages()
    if (s.state !== 'ok' && s.state !== 'damaged') return
    for (const image of s.value) {
      if (!image.configDigest) continue
      const path = layerDir(ctx.store, image.configDigest)
      const inode = await ctx.data.lstat(path)
      if (inode !== 'unreadable' && inode?.kind !== 'file') {
        ctx.report({ path, message: `${image.reference ? referenceKey(image.reference) : 'an image'} names config ${image.configDigest}, which is missing` })
      }
    }
  },
}
