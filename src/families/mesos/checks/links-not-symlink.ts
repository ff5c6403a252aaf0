import type { MesosData } from '../data.js'
import type { CheckSpec } from '../../../check/types.js'

export const linksNotSymlink: CheckSpec<MesosData> = {
  code: 'links-not-symlink',
  pass: 'containers',
  severity: 'error',
  title: 'an overlay scratch `links` that is not a symlink',
  explain:
    'The overlay backend makes scratch/<id>/links a symlink to a temp dir of short layer links, and removes it with ' +
    'the rootfs. Anything else there was not written by Mesos, and its destroy path cannot remove it.',
  fix: { by: 'operator', describe: 'look at what it is, then remove it by hand' },
  async run(ctx) {
    for (const c of await ctx.data.containers()) {
      for (const b of c.backends) {
        for (const s of b.scratch) {
          if (s.links !== undefined && s.links.kind !== 'symlink') ctx.report({ path: `${s.path}/links`, message: `a ${s.links.kind}, not a symlink` })
        }
      }
    }
  },
}
