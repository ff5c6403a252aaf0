import type { LayerEntry, MesosData } from '../data.js'
import { gcDir, layerIdShape } from '../paths.js'
import { basename, dirname } from '../../../fs/safe-path.js'
import { isErrno } from '../../../errors.js'
import { removeLeftover } from '../../../steps/remove-leftover.js'
import type { CheckContext, CheckSpec } from '../../../check/types.js'
import { FixRefusedError } from '../../../check/checks/refuse.js'
import { ageWords } from '../../../check/data.js'
import { judgeGcEntry } from './gc-leftover.js'
import { pinnedLayers } from './container-not-live.js'

export type PruneJudgement = { layers: LayerEntry[] } | { keepAll: string }

/**
 * Mesos' image prune rule: a layer dir is garbage when no image in
 * storedImages and no live container's layers checkpoint names it. A dead
 * container pins nothing (gc removes it); without a liveness source every
 * container counts as live. If storedImages cannot be read whole, or a live
 * container has no layers checkpoint (one made before 1.5.0, or damaged),
 * every layer is kept, as Mesos keeps them.
 */
export async function judgePrune(ctx: CheckContext<MesosData>): Promise<PruneJudgement> {
  const cached = ctx.scratch.get('layer-unreferenced') as PruneJudgement | undefined
  if (cached) return cached
  const judged = await judge(ctx)
  ctx.scratch.set('layer-unreferenced', judged)
  return judged
}

async function judge(ctx: CheckContext<MesosData>): Promise<PruneJudgement> {
  const s = await ctx.data.storedImages()
  if (s.state === 'damaged' || s.state === 'unreadable') return { keepAll: `storedImages is ${s.state}, so which layers images use cannot be told` }
  const used = new Set<string>()
  if (s.state === 'ok') for (const i of s.value) for (const id of i.layerIds) used.add(id)
  const { source, live } = await ctx.data.liveness()
  for (const c of await ctx.data.containers()) {
    if (source !== 'unknown' && !live.has(c.key)) continue
    if (c.layers.state !== 'ok') {
      return { keepAll: `${source === 'unknown' ? 'container' : 'live container'} ${c.key} has no layers checkpoint (${c.layers.state}), so the layers it uses cannot be told` }
    }
    for (const id of pinnedLayers(c)) used.add(id)
  }
  const out: LayerEntry[] = []
  for (const e of await ctx.data.layers()) {
    if (e.kind !== 'dir' || layerIdShape(e.name) === undefined || used.has(e.name)) continue
    // A pull that is storing a layer has not recorded its image yet.
    if ((await ctx.data.age(e.path)).pastGrace) out.push(e)
  }
  return { layers: out }
}

/** `gc/<id>.<ns>` entries prune made for layer `id`. */
async function marks(ctx: CheckContext<MesosData>, id: string): Promise<string[]> {
  const dir = gcDir(ctx.store)
  let entries
  try {
    entries = await ctx.fs.readdir(dir)
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return []
    throw err
  }
  return entries.filter((e) => e.name.startsWith(`${id}.`) && judgeGcEntry(e.name, e.kind).ok).map((e) => `${dir}/${e.name}`)
}

export const layerUnreferenced: CheckSpec<MesosData> = {
  code: 'layer-unreferenced',
  pass: 'references',
  severity: 'info',
  title: 'a layer no image and no live container uses',
  garbage: 'prune-layers',
  explain:
    'Nothing in storedImages and no live container\'s layers checkpoint names it, and nothing in it changed for ' +
    'the grace period: Mesos\' image prune would remove it, and gc --prune-layers does, marking it first as Mesos ' +
    'does (a rename into gc/<id>.<nanoseconds>) and then sweeping, so that a crash in between is finished by the next ' +
    'gc, check -p or the agent. Not reported when storedImages is not whole or a live container has no layers ' +
    'checkpoint (layers-prune-blocked says which).',
  fix: {
    by: 'check',
    describe: 'mark it in gc/ and sweep it',
    safe: false,
    isDone: async (ctx, f) => (await ctx.fs.lstat(f.path)) === undefined && (await marks(ctx, basename(f.path))).length === 0,
    apply: async (ctx, f) => {
      const id = basename(f.path)
      const inode = await ctx.fs.lstat(f.path)
      if (inode !== undefined) {
        if (inode.kind !== 'dir' || layerIdShape(id) === undefined) throw new FixRefusedError(`not removed: a ${inode.kind} now, not a layer dir`)
        const format = await ctx.data.format()
        if (!format.storeEntries.some((e) => e.name === 'gc')) {
          // A store older than 1.5.0 has no gc/ (and making one would make it read as 1.5.0): the trash marks it instead.
          await removeLeftover(ctx.fs, f.path, ctx.data.roots())
          return
        }
        const gc = gcDir(ctx.store)
        try {
          await ctx.fs.mkdir(gc, 0o755)
          await ctx.fs.fsync(ctx.store)
        } catch (err) {
          if (!isErrno(err, 'EEXIST')) throw err
        }
        if ((await ctx.fs.lstat(gc))?.kind !== 'dir') throw new FixRefusedError(`not removed: ${gc} is not a directory`)
        await ctx.fs.rename(f.path, `${gc}/${id}.${BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n)}`)
        await ctx.fs.fsync(dirname(f.path))
        await ctx.fs.fsync(gc)
      }
      for (const m of await marks(ctx, id)) await removeLeftover(ctx.fs, m, ctx.data.roots(), { inPlace: true })
    },
  },
  async run(ctx) {
    const judged = await judgePrune(ctx)
    if ('keepAll' in judged) return
    for (const e of judged.layers) {
      const { ageMs } = await ctx.data.age(e.path)
      ctx.report({ path: e.path, message: `not used by any image or live container; nothing in it changed for ${ageWords(ageMs)}` })
    }
  },
}
