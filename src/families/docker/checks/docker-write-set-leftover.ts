import { FixRefusedError } from '../../../check/checks/refuse.js'
import type { CheckSpec } from '../../../check/types.js'
import type { InodeKind } from '../../../fs/port.js'
import { basename } from '../../../fs/safe-path.js'
import { isRemoved, removeLeftover } from '../../../steps/remove-leftover.js'
import type { DockerData } from '../data.js'
import type { DockerFormat } from '../formats/format.js'

/** Only a dir of the descriptor's write-set name is taken for one: NewAtomicWriteSet makes a dir. */
export function isWriteSet(format: Readonly<DockerFormat>, name: string, kind: InodeKind): boolean {
  return kind === 'dir' && format.tempNames.some((t) => t.id === 'write-set' && t.pattern.test(name))
}

export const dockerWriteSetLeftover: CheckSpec<DockerData> = {
  code: 'docker-write-set-leftover',
  pass: 'structure',
  severity: 'warning',
  title: 'a layer metadata transaction (layerdb/tmp/write-set-*) left behind',
  garbage: 'always',
  explain:
    'Docker writes a new layer record in layerdb/tmp/write-set-<n> and renames it into layerdb/sha256 when the ' +
    'load, pull or commit finishes; a crash in between leaves it, and nothing ever removes it. It holds no ' +
    'committed data: the layer it would have recorded was never registered. Only dirs of that name are taken for ' +
    'one.',
  fix: {
    by: 'check',
    describe: 'remove the write-set dir',
    safe: true,
    isDone: (ctx, f) => isRemoved(ctx.fs, f.path),
    apply: async (ctx, f) => {
      const inode = await ctx.fs.lstat(f.path)
      if (inode === undefined) return
      if (!isWriteSet(await ctx.data.format(), basename(f.path), inode.kind)) throw new FixRefusedError(`not removed: a ${inode.kind} now, not a write-set dir`)
      await removeLeftover(ctx.fs, f.path, ctx.data.roots())
    },
  },
  async run(ctx) {
    const model = await ctx.data.model()
    const format = await ctx.data.format()
    for (const e of model.layerDbTmp) {
      if (isWriteSet(format, e.name, e.kind)) ctx.report({ path: e.path, message: 'a layer record being written when a load, pull or commit was interrupted; it was never registered' })
    }
  },
}
