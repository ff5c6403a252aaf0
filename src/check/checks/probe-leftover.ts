import { removeLeftover } from '../../steps/remove-leftover.js'
import type { CheckSpec } from '../types.js'

export const probeLeftover: CheckSpec = {
  code: 'probe-leftover',
  pass: 'structure',
  severity: 'warning',
  title: 'a stray .probe left by agent start-up',
  explain:
    'The agent creates provisioner/.probe to test whether the filesystem reports d_type, and removes it; a crash ' +
    'during start-up leaves it.',
  fix: { by: 'check', describe: 'remove it', safe: true, apply: (ctx, f) => removeLeftover(ctx.fs, f.path, ctx.roots) },
  async run(ctx) {
    if (ctx.provisioner === undefined) return
    const path = `${ctx.provisioner}/.probe`
    const inode = await ctx.data.lstat(path)
    if (inode !== undefined && inode !== 'unreadable') ctx.report({ path, message: 'left by an agent that stopped during start-up' })
  },
}
