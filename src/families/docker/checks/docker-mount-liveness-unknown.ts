import type { CheckSpec } from '../../../check/types.js'
import type { DockerData } from '../data.js'
import { describeOwnership, judgeDriverMounts } from './docker-merged-stale-mount.js'

export const dockerMountLivenessUnknown: CheckSpec<DockerData> = {
  code: 'docker-mount-liveness-unknown',
  pass: 'containers',
  severity: 'warning',
  title: 'a mount under the driver dir whose container\'s liveness cannot be told',
  garbage: 'keeps',
  explain:
    'Whether a mount under the driver dir is stale depends on whether its container is live, which check learns ' +
    'from runc\'s state under dockerd\'s exec root (--runtime-dir; /var/run/docker by default) or from ' +
    '--known-containers. Without either, check does not guess: such mounts are reported here and never unmounted. ' +
    'An exec root or list that was named and cannot be read stops the check instead (exit 8). A mount that no ' +
    'readable mount record owns while some mount record cannot be read (EACCES) is reported here too: its owner ' +
    'might be that container, so it is never unmounted.',
  fix: {
    by: 'operator',
    describe: 'run check again with --runtime-dir (dockerd\'s --exec-root, /var/run/docker by default) or --known-containers FILE, as a user who can read the layerdb mount records',
  },
  async run(ctx) {
    for (const v of await judgeDriverMounts(ctx)) {
      if (v.kind === 'owner-unknown') {
        ctx.report({
          path: v.path,
          message: `${v.fsType} mount whose container cannot be told: ${v.unreadable} cannot be read (${v.code}); left mounted`,
          detail: { dir: v.dir, unreadable: v.unreadable, errno: v.code },
        })
      } else if (v.kind === 'liveness-unknown') {
        ctx.report({
          path: v.path,
          message: `${v.fsType} mount of ${describeOwnership(v)}, whose liveness is unknown; left mounted (${v.reason})`,
          detail: { dir: v.dir, container: v.owners.map((o) => o.id).join(',') },
        })
      }
    }
  },
}
