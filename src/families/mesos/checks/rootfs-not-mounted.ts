import type { MesosData } from '../data.js'
import type { CheckSpec } from '../../../check/types.js'

const MOUNTING = new Set(['overlay', 'aufs', 'bind'])

export const rootfsNotMounted: CheckSpec<MesosData> = {
  code: 'rootfs-not-mounted',
  pass: 'containers',
  severity: 'error',
  title: 'a live container\'s rootfs is not mounted',
  explain:
    'The overlay, aufs and bind backends mount each rootfs; a live container whose rootfs is a plain directory runs ' +
    'on an empty root or was unmounted under it. Checked only when liveness is known.',
  fix: { by: 'operator', describe: 'restart the container' },
  async run(ctx) {
    const { source, live } = await ctx.data.liveness()
    if (source === 'unknown') return
    const mountPoints = new Set((await ctx.data.mounts()).map((m) => m.mountPoint))
    for (const c of await ctx.data.containers()) {
      if (!live.has(c.key)) continue
      for (const b of c.backends) {
        if (!MOUNTING.has(b.name)) continue
        for (const id of b.rootfses) {
          const path = `${b.path}/rootfses/${id}`
          if (!mountPoints.has(path)) ctx.report({ path, message: `${c.key} is live but its ${b.name} rootfs is not a mount point` })
        }
      }
    }
  },
}
