import type { LayerEntry, MesosData } from '../data.js'
import { gcDir, layerIdShape, storedImagesPath } from '../paths.js'
import { basename, dirname, isInside } from '../../../fs/safe-path.js'
import { mountsAtOrBelow } from '../../../fs/remove.js'
import { readMetadata } from '../../../metadata/read.js'
import { decodeStoredImages } from '../metadata/stored-images.js'
import { scanLayerUsers, type ContainerScan } from '../layer-users.js'
import { isErrno } from '../../../errors.js'
import { removeLeftover } from '../../../steps/remove-leftover.js'
import type { CheckContext, CheckSpec } from '../../../check/types.js'
import { FixRefusedError } from '../../../check/checks/refuse.js'
import { ageWords } from '../../../check/data.js'
import { judgeGcEntry } from './gc-leftover.js'
import { pinnedLayers } from './container-not-live.js'

/** `quiet`: kept for a reason the command line already states (no work dir), not worth a finding. */
export type PruneJudgement = { layers: LayerEntry[] } | { keepAll: string; quiet?: boolean }

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
  // After Mesos' own image gc, a running container's layers are named by its checkpoint alone.
  if (ctx.data.provisioner === undefined) return { keepAll: 'no --work-dir was given, so the layers containers use cannot be told', quiet: true }
  const provisioner = ctx.data.provisioner
  const s = await ctx.data.storedImages()
  if (s.state === 'damaged' || s.state === 'unreadable') return { keepAll: `storedImages is ${s.state}, so which layers images use cannot be told` }
  const used = new Set<string>()
  if (s.state === 'ok') for (const i of s.value) for (const id of i.layerIds) used.add(id)
  const { source, live } = await ctx.data.liveness()
  const containers = await ctx.data.containers()
  const blind = ctx.data.unreadable().find((u) => isInside(provisioner, u.path) || isInside(u.path, provisioner))
  if (blind !== undefined) return { keepAll: `${blind.path} cannot be read (${blind.code}), so a container there may use any layer` }
  const mounts = await ctx.data.mounts()
  for (const c of containers) {
    // Not live, and nothing stands in its mounts: gc removes it, and it pins nothing. A process in one keeps it.
    const inUse = (await Promise.all(mountsAtOrBelow(mounts, c.path).map((m) => ctx.data.mountUsers(m.mountPoint)))).some((u) => u.length > 0)
    if (source !== 'unknown' && !live.has(c.key) && !inUse) continue
    if (c.layers.state !== 'ok') {
      return { keepAll: `${source === 'unknown' ? 'container' : 'live container'} ${c.key} has no layers checkpoint (${c.layers.state}), so the layers it uses cannot be told` }
    }
    for (const id of pinnedLayers(c)) used.add(id)
  }
  const out: LayerEntry[] = []
  for (const e of await ctx.data.layers()) {
    if (e.kind !== 'dir' || layerIdShape(e.name) === undefined || used.has(e.name)) continue
    // A pull that stored a layer has not recorded its image yet. The layer dir is built in staging and renamed in
    // whole, its files carrying the archive's mtimes: its top says when it arrived.
    if ((await ctx.data.age(e.path, { top: true })).pastGrace) out.push(e)
  }
  return { layers: out }
}

/**
 * Who reads a layer now, from the disk as it is (not as it was planned):
 * storedImages, every container dir still there (a container without a
 * checkpoint may read any layer) and every mount's branches. Read once per
 * run, at the first prune, which gc orders after every container it removes.
 */
async function userNow(ctx: CheckContext<MesosData>, layer: string, id: string): Promise<string | undefined> {
  let users = ctx.scratch.get('layer-unreferenced:users') as { images: Set<string> | string; scan: ContainerScan } | undefined
  if (users === undefined) {
    const stored = await readMetadata(ctx.fs, storedImagesPath(ctx.store), decodeStoredImages)
    const images =
      stored.state === 'ok' ? new Set(stored.value.flatMap((i) => i.layerIds)) : stored.state === 'absent' ? new Set<string>() : `storedImages is ${stored.state} now`
    const scan = await scanLayerUsers(ctx.fs, ctx.store, ctx.data.provisioner, await ctx.data.format(), (await ctx.data.backend()).name, true)
    users = { images, scan }
    ctx.scratch.set('layer-unreferenced:users', users)
  }
  if (typeof users.images === 'string') return users.images
  if (users.images.has(id)) return 'an image in storedImages names it now'
  const [dir, why] = [...users.scan.protectedDirs][0] ?? []
  if (dir !== undefined) return `${why} (its layers checkpoint is gone, so any layer's ${dir} may be read)`
  const real = await ctx.fs.realpath(layer).catch(() => layer)
  for (const [path, why] of users.scan.protectedPaths) if (isInside(real, path)) return why
  return undefined
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
    'gc, check -p or the agent. A container that is not live pins nothing (gc removes it first) unless a process ' +
    'stands in its mount; right before the move, the disk is asked again, and a layer any container dir still there ' +
    'or any mount reads is left. Not reported without --work-dir, when storedImages is not whole, when part of the ' +
    'provisioner dir cannot be read, or when a live container has no layers checkpoint (layers-prune-blocked says ' +
    'which).',
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
        // Asked again of the disk right before the move: a container gc could not remove, or one provisioned since,
        // or an image pulled since, may read it now.
        const user = await userNow(ctx, f.path, id)
        if (user !== undefined) throw new FixRefusedError(`not removed: ${user}`)
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
      const { ageMs } = await ctx.data.age(e.path, { top: true })
      ctx.report({ path: e.path, message: `not used by any image or live container; nothing in it changed for ${ageWords(ageMs)}` })
    }
  },
}
