import type { CheckSpec } from '../../../check/types.js'
import { isRemoved } from '../../../steps/remove-leftover.js'
import type { DockerData } from '../data.js'
import { liveUsersOf, removeRemovingRecord } from './removing.js'
import { viewOf } from './view.js'

export const dockerRemovingHazard: CheckSpec<DockerData> = {
  code: 'docker-removing-hazard',
  pass: 'structure',
  severity: 'error',
  title: "a -removing layer record names a dir a live layer or container uses",
  garbage: 'always',
  explain:
    'dockerd renames a layer record to <chain id>-<random>-removing before it deletes the layer, and on start takes ' +
    'every such record for an unfinished deletion: at its next clean shutdown it removes the dir the record\'s ' +
    'cache-id names. When a live layer record or a container names the same dir (a record restored from a backup, ' +
    'a copy, a cache-id written by hand), that deletes a live layer\'s data. Removing the record, and only the ' +
    "record, takes the hazard away and changes nothing Docker would otherwise keep: the dir is the live layer's.",
  fix: {
    by: 'check',
    describe: 'remove the -removing record dir (never the layer dir, which a live layer uses)',
    safe: true,
    isDone: (ctx, f) => isRemoved(ctx.fs, f.path),
    apply: removeRemovingRecord,
  },
  async run(ctx) {
    const v = await viewOf(ctx.data)
    for (const r of v.removing) {
      const users = liveUsersOf(v, r)
      if (users.length === 0 || r.cacheId.state !== 'ok') continue
      const dir = `${v.driverPath}/${r.cacheId.value}`
      ctx.report({
        path: r.path,
        message: `an unfinished deletion whose cache-id names ${dir}, which ${users.join(', ')} uses: dockerd's next clean shutdown deletes that live layer's data`,
        detail: { dir },
      })
    }
  },
}
