import type { MesosData } from '../data.js'
import type { CheckSpec } from '../../../check/types.js'
import { BACKEND_KERNEL_FS, BACKENDS, type Backend } from '../descriptor.js'


export const backendUnsupported: CheckSpec<MesosData> = {
  code: 'backend-unsupported',
  pass: 'containers',
  severity: 'error',
  title: 'a container has rootfses of a backend this host cannot run',
  explain:
    'At recovery the provisioner hands each container\'s rootfses to its backend; a backend this kernel lacks (aufs ' +
    'on most kernels since 5.x) or one Mesos does not know makes the agent\'s recovery fail.',
  fix: { by: 'operator', describe: 'recover on a host with that backend, or remove the container\'s dir while the agent is stopped' },
  async run(ctx) {
    const filesystems = await ctx.data.filesystems()
    for (const c of await ctx.data.containers()) {
      for (const b of c.backends) {
        if (!(BACKENDS as readonly string[]).includes(b.name)) {
          ctx.report({ path: b.path, message: `${b.name} is not a Mesos provisioner backend` })
          continue
        }
        const need = BACKEND_KERNEL_FS[b.name as Backend]
        if (need !== undefined && filesystems !== undefined && !filesystems.has(need)) {
          ctx.report({ path: b.path, message: `${c.key} has ${b.name} rootfses, and this kernel has no ${need} filesystem` })
        }
      }
    }
  },
}
