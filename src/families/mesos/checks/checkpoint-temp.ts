import type { MesosData } from '../data.js'
import { judgeCheckpointTemp, type CheckpointKind } from '../metadata/checkpoint-temp.js'
import { isRemoved, removeLeftover } from '../../../steps/remove-leftover.js'
import type { CheckSpec } from '../../../check/types.js'
import { FixRefusedError } from '../../../check/checks/refuse.js'

export const checkpointTemp: CheckSpec<MesosData> = {
  code: 'checkpoint-temp',
  pass: 'structure',
  severity: 'warning',
  title: 'a checkpoint temp file left by a crash',
  garbage: 'always',
  explain:
    'Mesos writes storedImages and each container\'s layers file to a six-character temp name and renames it ' +
    '(state::checkpoint); layerfsck uses .<name>.layerfsck-tmp-*. A crash between the two leaves the temp file. ' +
    'Only a file that is empty or decodes as exactly the checkpoint it would have replaced is taken for one ' +
    '(checkpoint-temp-unknown reports the rest); it holds nothing the renamed checkpoint does not.',
  fix: {
    by: 'check',
    describe: 'remove the temp file',
    safe: true,
    isDone: async (ctx, f) => isRemoved(ctx.fs, f.path),
    apply: async (ctx, f) => {
      // Judged again right before removal: the file may have changed since the check read it.
      const verdict = await judgeCheckpointTemp(ctx.fs, f.path, String(f.detail?.['checkpoint']) as CheckpointKind)
      if (!verdict.temp) throw new FixRefusedError(`not removed: ${verdict.reason}`)
      await removeLeftover(ctx.fs, f.path, ctx.data.roots())
    },
  },
  async run(ctx) {
    for (const t of await ctx.data.tempFiles()) {
      if (!t.verdict.temp) continue
      // A checkpoint being written right now is a temp file for a moment; only one older than the grace is a leftover.
      if (!(await ctx.data.age(t.path)).pastGrace) continue
      const of = t.container === undefined ? 'storedImages' : 'the container\'s layers checkpoint'
      ctx.report({ path: t.path, message: `temp file of an interrupted write of ${of} (${t.verdict.describe})`, detail: { checkpoint: t.checkpoint } })
    }
  },
}
