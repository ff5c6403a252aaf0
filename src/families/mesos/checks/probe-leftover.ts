import type { MesosData } from '../data.js'
import { removeLeftover } from '../../../steps/remove-leftover.js'
import type { CheckSpec } from '../../../check/types.js'

export const probeLeftover: CheckSpec<MesosData> = {
  code: 'probe-leftover',
  pass: 'structure',
  severity: 'warning',
  title: 'a stray .probe left by agent start-up',
  garbage: 'always',
  explain:
    'The agent creates provisioner/.probe to test whether the filesystem reports d_type, and removes it; a crash ' +
    'during start-up leaves it.',
  fix: { by: 'check', describe: 'remove it', safe: true, apply: (ctx, f) => removeLeftover(ctx.fs, f.path, ctx.data.roots()) },
  async run(ctx) {
    if (ctx.data.provisioner === undefined) return
    const path = `${ctx.data.provisioner}/.probe`
    const inode = await ctx.data.lstat(path)
    if (inode !== undefined && inode !== 'unreadable') ctx.report({ path, message: 'left by an agent that stopped during start-up' })
  },
}
