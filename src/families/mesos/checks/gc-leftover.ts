import type { MesosData } from '../data.js'
import type { InodeKind } from '../../../fs/port.js'
import { basename } from '../../../fs/safe-path.js'
import { gcDir, GC_ENTRY, layerIdShape, SHA256_DIGEST } from '../paths.js'
import { isRemoved, removeLeftover } from '../../../steps/remove-leftover.js'
import type { CheckSpec } from '../../../check/types.js'
import { FixRefusedError } from '../../../check/checks/refuse.js'

/**
 * Whether a gc/ entry is one prune made: `<id>.<nanoseconds>`, where id is a
 * layer dir's name (a directory) or a config blob's digest (a file), as
 * getGcLayerPath names what it renames out of layers/. A reason otherwise.
 */
export function judgeGcEntry(name: string, kind: InodeKind): { ok: true } | { ok: false; reason: string } {
  const m = GC_ENTRY.exec(name)
  if (m === null) return { ok: false, reason: 'its name is not <layer id>.<nanoseconds>' }
  const id = m[1]!
  if (kind === 'dir' && layerIdShape(id) !== undefined) return { ok: true }
  if (kind === 'file' && SHA256_DIGEST.test(id)) return { ok: true }
  if (layerIdShape(id) === undefined) return { ok: false, reason: 'the part before the dot is neither 64 hex digits nor sha256:<64 hex>' }
  return { ok: false, reason: kind === 'file' ? 'a file named after a layer dir, not after a config blob' : `a ${kind}, which prune never moves into gc/` }
}

export const gcLeftover: CheckSpec<MesosData> = {
  code: 'gc-leftover',
  pass: 'structure',
  severity: 'warning',
  title: 'a layer marked for deletion but never swept',
  garbage: 'always',
  explain:
    'Image prune renames unreferenced layers (and config blobs) into gc/<id>.<nanoseconds> and then deletes them; a ' +
    'crash in between leaves them there until the next prune. Nothing references them any more. Only entries of that ' +
    'shape are taken for prune\'s; gc-unknown-entry reports anything else found in gc/.',
  fix: {
    by: 'check',
    describe: 'delete it, finishing the sweep',
    safe: true,
    isDone: async (ctx, f) => isRemoved(ctx.fs, f.path),
    apply: async (ctx, f) => {
      // The name was judged when found; the kind is judged again right before removal.
      const inode = await ctx.fs.lstat(f.path)
      if (inode === undefined) return
      const name = basename(f.path)
      const verdict = judgeGcEntry(name, inode.kind)
      if (!verdict.ok) throw new FixRefusedError(`not removed: ${verdict.reason}`)
      // gc/ is Mesos' own quarantine: nothing there is read as a layer, so it is deleted in place.
      await removeLeftover(ctx.fs, f.path, ctx.data.roots(), { inPlace: true })
    },
  },
  async run(ctx) {
    for (const e of await ctx.data.gc()) {
      if (judgeGcEntry(e.name, e.kind).ok) ctx.report({ path: `${gcDir(ctx.store)}/${e.name}`, message: 'marked by prune and never swept' })
    }
  },
}
