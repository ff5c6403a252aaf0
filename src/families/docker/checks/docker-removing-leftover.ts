import type { CheckSpec } from '../../../check/types.js'
import { isRemoved } from '../../../steps/remove-leftover.js'
import type { DockerData } from '../data.js'
import { liveUsersOf, namedDir, removeRemovingRecord } from './removing.js'
import { viewOf } from './view.js'

export const dockerRemovingLeftover: CheckSpec<DockerData> = {
  code: 'docker-removing-leftover',
  pass: 'structure',
  severity: 'warning',
  title: 'a -removing layer record that names no dir: the rest of a deletion',
  garbage: 'always',
  explain:
    'A layer record renamed <chain id>-<random>-removing whose dir is already gone, or whose cache-id is missing or ' +
    "empty, is what a deletion leaves when it stops after removing the layer's dir, or half-way through removing " +
    "the record itself. dockerd's cleanup removes the first kind at shutdown and skips the second for good. Either " +
    'way only the record is left and removing it changes nothing else, so -p does it. It is also what a crash ' +
    'half-way through the docker-removing-hazard fix leaves.',
  fix: {
    by: 'check',
    describe: 'remove the -removing record dir',
    safe: true,
    isDone: (ctx, f) => isRemoved(ctx.fs, f.path),
    apply: removeRemovingRecord,
  },
  async run(ctx) {
    const v = await viewOf(ctx.data)
    for (const r of v.removing) {
      if (namedDir(v, r) !== undefined || liveUsersOf(v, r).length > 0) continue
      const of = r.chainId === undefined ? 'a layer' : `layer ${r.chainId}`
      const why = r.cacheId.state === 'ok' ? `its dir ${v.driverPath}/${r.cacheId.value} is already gone` : `its cache-id is ${r.cacheId.state}, so it names no dir`
      ctx.report({ path: r.path, message: `what is left of a deletion of ${of}: ${why}` })
    }
  },
}
