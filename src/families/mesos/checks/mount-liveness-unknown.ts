import type { MesosData } from '../data.js'
import type { CheckSpec } from '../../../check/types.js'
import { judgeMounts } from './orphan-mount.js'

export const mountLivenessUnknown: CheckSpec<MesosData> = {
  code: 'mount-liveness-unknown',
  pass: 'containers',
  severity: 'warning',
  title: 'a container\'s rootfs mount whose liveness cannot be told',
  garbage: 'keeps',
  explain:
    'Whether a rootfs mount is an orphan depends on whether its container is live, which check learns from the ' +
    'agent\'s runtime dir (/var/run/mesos by default) or from --known-containers. Without either, check does not ' +
    'guess: such mounts are reported here and never unmounted. A runtime dir or list that was named and cannot be ' +
    'read stops the check instead (exit 8). A mount below a directory check cannot list (EACCES) is reported here ' +
    'too: whether its container is still there cannot be told, so it is never unmounted.',
  fix: { by: 'operator', describe: 'run check again with --runtime-dir (the agent\'s --runtime_dir) or --known-containers FILE, as a user who can list the provisioner dir' },
  async run(ctx) {
    const { reason } = await ctx.data.liveness()
    for (const v of await judgeMounts(ctx)) {
      if (v.kind === 'dir-unreadable') {
        ctx.report({
          path: v.path,
          message: `${v.fsType} mount whose container cannot be told: ${v.dir} cannot be listed (${v.code}); left mounted`,
          detail: { unreadable: v.dir, errno: v.code },
        })
        continue
      }
      if (v.kind !== 'liveness-unknown') continue
      ctx.report({ path: v.path, message: `${v.fsType} mount of a container whose liveness is unknown; left mounted (${reason ?? 'no liveness source'})` })
    }
  },
}
