import type { CheckSpec } from '../../../check/types.js'
import { formatBytes } from '../../../fs/tree-size.js'
import { isRemoved } from '../../../steps/remove-leftover.js'
import type { DockerData } from '../data.js'
import { finishRemoving, liveUsersOf, namedDir, shortLinkOf } from './removing.js'
import { reachedFrom } from './docker-layer-dir-orphan.js'
import { viewOf } from './view.js'

export const dockerRemovingRecord: CheckSpec<DockerData> = {
  code: 'docker-removing-record',
  pass: 'structure',
  severity: 'warning',
  title: 'a -removing layer record: a layer deletion (docker rmi) that did not finish',
  garbage: 'always',
  explain:
    'dockerd renames a layer record to <chain id>-<random>-removing, removes the layer\'s dir, then the record; a ' +
    'crash or kill in between leaves the record. dockerd finishes it at its next clean shutdown, but the lower ' +
    "layers of the image being removed leak for good. -y and gc finish the deletion in dockerd's order: the layer dir " +
    "(unless a kept dir's lower chain reaches it; then only the record goes), then the record. A record whose " +
    'dir a live layer also uses is docker-removing-hazard instead, and one that names no dir docker-removing-leftover.',
  fix: {
    by: 'check',
    describe: 'finish the deletion: the layer dir it names, then the record',
    safe: false,
    isDone: (ctx, f) => isRemoved(ctx.fs, f.path),
    apply: finishRemoving,
  },
  async run(ctx) {
    const v = await viewOf(ctx.data)
    // A dir a kept dir's lower chain reaches stays, whatever the record says.
    const reached = reachedFrom(v, [...v.dirs.values()].filter((d) => v.owners.has(d.name) || !v.removingByCacheId.has(d.name)))
    for (const r of v.removing) {
      const dir = namedDir(v, r)
      if (dir === undefined || liveUsersOf(v, r).length > 0) continue
      const of = r.chainId === undefined ? 'a layer' : `layer ${r.chainId}`
      const path = `${v.driverPath}/${dir}`
      const { size } = await ctx.data.age(path)
      const removeDir = reached !== undefined && !reached.has(dir)
      const link = removeDir ? await shortLinkOf(ctx, v, dir) : undefined
      ctx.report({
        path: r.path,
        message: `an unfinished deletion of ${of}; its dir ${path} (${formatBytes(size.bytes)}${size.unreadable !== undefined ? ' or more' : ''}) is left, which nothing else names${removeDir ? '' : ", but a kept dir's lower chain reaches it (or a chain could not be read), so only the record goes"}`,
        detail: { dir: path, bytes: size.bytes, removeDir, ...(removeDir ? { frees: [path, ...(link ? [link] : [])].join('\n') } : {}) },
      })
    }
  },
}
