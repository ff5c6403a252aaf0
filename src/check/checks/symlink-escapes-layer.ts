import { symlinkTarget } from '../../fs/safe-path.js'
import type { CheckSpec } from '../types.js'

export const symlinkEscapesLayer: CheckSpec = {
  code: 'symlink-escapes-layer',
  pass: 'contents',
  severity: 'info',
  title: 'a relative symlink that climbs out of its layer',
  explain:
    'Inside a container such a link stops at the container\'s root, so it is usually harmless; on the host it points ' +
    'outside the store, which is why layerfsck never follows links found in a store.',
  async onDir(ctx, dir) {
    for (const e of dir.entries) {
      if (e.kind !== 'symlink') continue
      const path = `${dir.path}/${e.name}`
      const target = await ctx.fs.readlink(path)
      if (target.startsWith('/')) continue
      if (!symlinkTarget(dir.root, path, target).inside) ctx.report({ path, message: `points to ${target}, above the layer root` })
    }
  },
}
