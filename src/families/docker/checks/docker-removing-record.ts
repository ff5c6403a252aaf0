import type { CheckSpec } from '../../../check/types.js'
import { formatBytes, treeSize } from '../../../fs/tree-size.js'
import { isRemoved } from '../../../steps/remove-leftover.js'
import type { DockerData } from '../data.js'
import { liveUsersOf, namedDir, removeRemovingRecord } from './removing.js'
import { viewOf } from './view.js'

export const dockerRemovingRecord: CheckSpec<DockerData> = {
  code: 'docker-removing-record',
  pass: 'structure',
  severity: 'warning',
  title: 'a -removing layer record: a layer deletion (docker rmi) that did not finish',
  explain:
    'dockerd renames a layer record to <chain id>-<random>-removing, removes the layer\'s dir, then the record; a ' +
    'crash or kill in between leaves the record. dockerd finishes it at its next clean shutdown, but the lower ' +
    "layers of the image being removed leak for good. -y removes the record, as dockerd's cleanup would, and never " +
    'the layer dir it names: that dir is then an orphan (docker-layer-dir-orphan) that gc reclaims. A record whose ' +
    'dir a live layer also uses is docker-removing-hazard instead, and one that names no dir docker-removing-leftover.',
  fix: {
    by: 'check',
    describe: 'remove the -removing record dir, leaving the layer dir it names for gc',
    safe: false,
    isDone: (ctx, f) => isRemoved(ctx.fs, f.path),
    apply: removeRemovingRecord,
  },
  async run(ctx) {
    const v = await viewOf(ctx.data)
    const mounts = await ctx.data.mounts()
    for (const r of v.removing) {
      const dir = namedDir(v, r)
      if (dir === undefined || liveUsersOf(v, r).length > 0) continue
      const of = r.chainId === undefined ? 'a layer' : `layer ${r.chainId}`
      const path = `${v.driverPath}/${dir}`
      const size = await treeSize(ctx.fs, path, { mounts })
      ctx.report({
        path: r.path,
        message: `an unfinished deletion of ${of}; its dir ${path} (${formatBytes(size.bytes)}${size.unreadable !== undefined ? ' or more' : ''}) is left, which nothing else names: gc reclaims it once the record is gone`,
        detail: { dir: path, bytes: size.bytes },
      })
    }
  },
}
