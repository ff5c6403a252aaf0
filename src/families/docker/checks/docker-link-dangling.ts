import { FixRefusedError } from '../../../check/checks/refuse.js'
import type { CheckSpec } from '../../../check/types.js'
import { isRemoved, removeLeftover } from '../../../steps/remove-leftover.js'
import type { DockerData } from '../data.js'
import { linkStates } from './links.js'
import { dirname } from '../../../fs/safe-path.js'
import { isRealDir, viewOf } from './view.js'

export const dockerLinkDangling: CheckSpec<DockerData> = {
  code: 'docker-link-dangling',
  pass: 'structure',
  severity: 'warning',
  title: 'an overlay2 short link whose layer dir is gone',
  garbage: 'always',
  explain:
    'A short link l/<name> -> ../<id>/diff outlives its layer when the dir was removed by hand or a prune was ' +
    'interrupted. No layer dir holds its name, so no lower chain can need it; it only hides what happened. A link ' +
    "whose name a layer dir's link file holds is never taken for dangling (docker-link-mismatch re-points it).",
  fix: {
    by: 'check',
    describe: 'remove the link',
    safe: true,
    isDone: (ctx, f) => isRemoved(ctx.fs, f.path),
    apply: async (ctx, f) => {
      const inode = await ctx.fs.lstat(f.path)
      if (inode === undefined) return
      if (inode.kind !== 'symlink' || (await ctx.fs.readlink(f.path)) !== f.detail?.['target']) throw new FixRefusedError('not removed: the link changed since it was checked')
      const content = String(f.detail?.['content'])
      if ((await isRealDir(ctx.fs, dirname(content))) && (await isRealDir(ctx.fs, content))) throw new FixRefusedError(`not removed: ${content} is there again`)
      await removeLeftover(ctx.fs, f.path, ctx.data.roots())
    },
  },
  async run(ctx) {
    const v = await viewOf(ctx.data)
    for (const d of linkStates(v).dangling) {
      const content = `${v.driverPath}/${d.dir}/${v.format.shortLinks!.target}`
      ctx.report({ path: d.path, message: `points to ${d.target}, and ${content} is gone; no layer dir holds this name`, detail: { target: d.target, content } })
    }
  },
}
