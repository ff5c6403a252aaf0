import type { MesosData } from '../data.js'
import type { InodeKind } from '../../../fs/port.js'
import { basename } from '../../../fs/safe-path.js'
import { STAGING_TEMP, stagingDir } from '../paths.js'
import { isRemoved, removeLeftover } from '../../../steps/remove-leftover.js'
import type { CheckSpec } from '../../../check/types.js'
import { FixRefusedError } from '../../../check/checks/refuse.js'
import { ageWords } from '../../../check/data.js'

/** Only a directory of os::mkdtemp's shape is taken for a pull's staging dir. */
export const isStagingDir = (name: string, kind: InodeKind): boolean => kind === 'dir' && STAGING_TEMP.test(name)

export const stagingLeftover: CheckSpec<MesosData> = {
  code: 'staging-leftover',
  pass: 'structure',
  severity: 'warning',
  title: 'a pull\'s staging dir left behind',
  garbage: 'always',
  explain:
    'Each pull works in staging/XXXXXX and removes it when done, whatever the outcome; a crashed agent leaves it, ' +
    'and nothing else ever cleans staging/. It holds no committed data, but a pull running right now uses its own, ' +
    'so only one in which nothing changed for the grace period (--grace, an hour by default) is reported, and only -y ' +
    'and gc remove it. Only directories of that shape are taken for a pull\'s; staging-unknown-entry reports ' +
    'anything else.',
  fix: {
    by: 'check',
    describe: 'remove the staging dir',
    safe: false,
    isDone: (ctx, f) => isRemoved(ctx.fs, f.path),
    apply: async (ctx, f) => {
      const inode = await ctx.fs.lstat(f.path)
      if (inode === undefined) return
      if (!isStagingDir(basename(f.path), inode.kind)) throw new FixRefusedError(`not removed: a ${inode.kind} now, not a pull's staging dir`)
      await removeLeftover(ctx.fs, f.path, ctx.data.roots())
    },
  },
  async run(ctx) {
    for (const e of await ctx.data.staging()) {
      if (!isStagingDir(e.name, e.kind)) continue
      const path = `${stagingDir(ctx.store)}/${e.name}`
      // A pull still running writes into its staging dir; only one untouched for the grace period is garbage.
      const age = await ctx.data.age(path)
      if (age.pastGrace) ctx.report({ path, message: `a staging dir left by an unfinished pull; nothing in it changed for ${ageWords(age.ageMs)}` })
    }
  },
}
