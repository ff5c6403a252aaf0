import type { MesosData } from '../data.js'
import type { CheckSpec } from '../../../check/types.js'

export const linksDangling: CheckSpec<MesosData> = {
  code: 'links-dangling',
  pass: 'containers',
  severity: 'info',
  title: 'an overlay scratch `links` symlink whose target is gone',
  explain: 'Its target lives in a temp dir that a reboot empties; harmless on its own, and removed with the rootfs.',
  async run(ctx) {
    for (const c of await ctx.data.containers()) {
      for (const b of c.backends) {
        for (const s of b.scratch) {
          if (s.links?.kind !== 'symlink') continue
          const target = await ctx.fs.readlink(`${s.path}/links`)
          const abs = target.startsWith('/') ? target : `${s.path}/${target}`
          if ((await ctx.data.lstat(abs)) === undefined) ctx.report({ path: `${s.path}/links`, message: `points to ${target}, which is gone` })
        }
      }
    }
  },
}
