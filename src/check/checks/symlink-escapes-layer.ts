import { symlinkTarget } from '../../fs/safe-path.js'
import type { CheckContext, CheckSpec, ContentDir } from '../types.js'

export const symlinkEscapesLayer: CheckSpec = {
  code: 'symlink-escapes-layer',
  pass: 'contents',
  severity: 'info',
  title: 'a relative symlink that climbs out of its layer',
  explain:
    'Inside a container such a link stops at the container\'s root, so it is usually harmless; on the host it points ' +
    'outside the store, which is why layerfsck never follows links found in a store.',
  // Not async: a directory without a symlink (nearly every one) costs no promise.
  onDir(ctx, dir) {
    if (dir.entries.some((e) => e.kind === 'symlink')) return judgeLinks(ctx, dir)
  },
}

async function judgeLinks(ctx: CheckContext, dir: ContentDir): Promise<void> {
  for (const e of dir.entries) {
    if (e.kind !== 'symlink') continue
    const path = `${dir.path}/${e.name}`
    const target = await ctx.fs.readlink(path)
    if (target.startsWith('/')) continue
    if (!symlinkTarget(dir.root, path, target).inside) ctx.report({ path, message: `points to ${target}, above the layer root` })
  }
}
