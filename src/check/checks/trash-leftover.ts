import type { CheckSpec } from '../types.js'
import { ownDir } from '../../steps/lock.js'
import { isRemoved, sweepTrashEntry, trashDir } from '../../steps/remove-leftover.js'
import { FixRefusedError } from './refuse.js'

export const trashLeftover: CheckSpec = {
  code: 'trash-leftover',
  pass: 'structure',
  severity: 'warning',
  title: 'a removal by layerfsck that a crash interrupted',
  explain:
    'layerfsck removes a directory by renaming it into .layerfsck/trash/ of the store (or of the work dir) and ' +
    'deleting it there, so that a crash never leaves a half-deleted tree under a name the runtime reads. What is ' +
    'still in the trash was already judged garbage and taken out of the store; nothing else is ever put there. The ' +
    'next check -p or gc finishes deleting it.',
  garbage: 'always',
  fix: {
    by: 'check',
    describe: 'finish deleting it',
    safe: true,
    isDone: (ctx, f) => isRemoved(ctx.fs, f.path),
    apply: async (ctx, f) => {
      const root = String(f.detail?.['root'])
      if (!ctx.data.roots().includes(root)) throw new FixRefusedError(`not removed: ${root} is not a root of this check`)
      await sweepTrashEntry(ctx.fs, f.path, root)
    },
  },
  async run(ctx) {
    for (const root of ctx.data.roots()) {
      // A work dir's .layerfsck holds only a trash: made, and killed before the trash was, it is all there is.
      if (root !== ctx.store && (await ctx.data.listIfDir(ownDir(root)))?.length === 0) {
        ctx.report({ path: ownDir(root), message: 'an empty dir of layerfsck\'s, made by a run that stopped before using it', detail: { root } })
      }
      const dir = trashDir(root)
      const entries = await ctx.data.listIfDir(dir)
      // Made, and killed before anything was moved in: the empty dir is all there is to finish.
      if (entries?.length === 0) ctx.report({ path: dir, message: 'an empty trash dir, made by a layerfsck run that stopped before using it', detail: { root } })
      for (const e of entries ?? []) {
        ctx.report({ path: `${dir}/${e.name}`, message: 'put in the trash by a layerfsck run that stopped before deleting it', detail: { root } })
      }
    }
  },
}
