/**
 * A mount under the driver dir (a container's `<mount-id>/merged`, or
 * anything else mounted below it) that no live container owns. Docker 20.10
 * never notices one: `docker rm` deletes the rest of the layer, fails EBUSY
 * on the mount point, and the container stays Dead until it is unmounted.
 */
import { isErrno } from '../../../errors.js'
import { readProcessUses } from '../../../fs/processes.js'
import { mountsAtOrBelow } from '../../../fs/remove.js'
import { isInside } from '../../../fs/safe-path.js'
import { unmountTree } from '../../../steps/unmount.js'
import { describeUsers, usersOfMount } from '../../../check/process-use.js'
import type { Liveness } from '../../../check/data.js'
import type { CheckContext, CheckSpec } from '../../../check/types.js'
import { FixRefusedError } from '../../../check/checks/refuse.js'
import type { DockerData } from '../data.js'
import type { LayerRole } from '../formats/format.js'
import type { DockerModel } from '../model.js'
import { driverDir } from '../paths.js'

export interface MountOwner {
  id: string
  /** From `config.v2.json`, without its leading `/`; undefined when that cannot be read. */
  name: string | undefined
}

interface VerdictBase {
  /** The mount point. */
  path: string
  fsType: string
  /** The dir under the driver dir the mount is in (a mount-id, an init-id, a cache-id, or anything). */
  dir: string
  /** What names that dir: undefined when nothing does. */
  role: LayerRole | undefined
  /** The containers whose mount-id or init-id is `dir`. */
  owners: MountOwner[]
}

/** What docker-merged-stale-mount may judge of each mount below the driver dir; shared with docker-mount-liveness-unknown. */
export type DriverMountVerdict =
  | (VerdictBase & { kind: 'not-live'; source: Exclude<Liveness['source'], 'unknown'> })
  | (VerdictBase & { kind: 'liveness-unknown'; reason: string })
  /** No container is known to own it, and a mount record could not be read: the owner might be that one. */
  | (VerdictBase & { kind: 'owner-unknown'; unreadable: string; code: string })

/** A `--known-containers` line that is an id or the short id `docker ps` prints, rather than a name. */
const ID_LIKE = /^[0-9a-f]{12,64}$/

/**
 * Whether the liveness source calls the container live: its full id (the
 * runc state dir's name), a short id of at least 12 hex digits, or its name
 * (`ran` or `/ran`), as an operator may write them in --known-containers.
 * Matching loosely errs on the side of leaving a mount alone.
 */
function isLive(live: ReadonlySet<string>, c: MountOwner): boolean {
  if (live.has(c.id)) return true
  if (c.name !== undefined && (live.has(c.name) || live.has(`/${c.name}`))) return true
  for (const e of live) if (ID_LIKE.test(e) && c.id.startsWith(e)) return true
  return false
}

/** A mount record that could not be read, whose mount-id might be any dir: where that is, and the errno. */
function blindSpot(model: DockerModel): { path: string; code: string } | undefined {
  if (model.mountsDir.state === 'unreadable') return { path: model.mountsDir.path, code: unreadableCode(model, model.mountsDir.path) }
  for (const m of model.mounts) {
    if (m.kind === 'dir' && !m.readable) return { path: m.path, code: unreadableCode(model, m.path) }
    if (m.mountId.state === 'unreadable') return { path: `${m.path}/mount-id`, code: m.mountId.code }
    if (m.initId.state === 'unreadable') return { path: `${m.path}/init-id`, code: m.initId.code }
  }
  return undefined
}

function unreadableCode(model: DockerModel, path: string): string {
  return model.unreadable.find((u) => u.path === path)?.code ?? 'EACCES'
}

/**
 * Every mount below the driver dir that no live container owns, or whose
 * owner's liveness cannot be told; a live container's mount is left out,
 * and mounts below a judged one go with it. The driver dir itself (a disk
 * of its own, as many hosts mount) and the data root are never judged.
 * Scratch space keeps one answer for both checks.
 */
export async function judgeDriverMounts(ctx: CheckContext<DockerData>): Promise<DriverMountVerdict[]> {
  const key = 'docker-merged-stale-mount:verdicts'
  const cached = ctx.scratch.get(key) as DriverMountVerdict[] | undefined
  if (cached) return cached
  const top = driverDir(ctx.store, ctx.data.driver)
  const below = (await ctx.data.mounts()).filter((m) => m.mountPoint !== top && isInside(top, m.mountPoint))
  const out: DriverMountVerdict[] = []
  if (below.length > 0) {
    const model = await ctx.data.model()
    const dirOwners = await ctx.data.owners()
    const liveness = await ctx.data.liveness()
    const blind = blindSpot(model)
    const names = new Map<string, string | undefined>()
    for (const c of model.containers) names.set(c.id, c.config.state === 'ok' ? c.config.value.name?.replace(/^\//, '') : undefined)
    const byName = [...liveness.live].filter((e) => !ID_LIKE.test(e))
    const judged = (path: string): boolean => out.some((v) => isInside(v.path, path))
    for (const m of [...below].sort((a, b) => a.mountPoint.length - b.mountPoint.length)) {
      const path = m.mountPoint
      if (judged(path)) continue
      const dir = path.slice(top.length + 1).split('/')[0]!
      const named = dirOwners.get(dir)
      const owners = [...new Set(named?.containers ?? [])].map((id) => ({ id, name: names.get(id) }))
      const base: VerdictBase = { path, fsType: m.fsType, dir, role: named?.role, owners }
      if (owners.length === 0 && blind !== undefined) {
        out.push({ ...base, kind: 'owner-unknown', unreadable: blind.path, code: blind.code })
        continue
      }
      if (liveness.source === 'unknown') {
        out.push({ ...base, kind: 'liveness-unknown', reason: liveness.reason ?? 'no liveness source' })
        continue
      }
      if (owners.some((o) => isLive(liveness.live, o))) continue
      const nameless = owners.find((o) => o.name === undefined)
      if (liveness.source === 'known-containers' && byName.length > 0 && nameless !== undefined) {
        const reason = `--known-containers names containers by name, and the name of container ${nameless.id} cannot be read from its config.v2.json`
        out.push({ ...base, kind: 'liveness-unknown', reason })
        continue
      }
      out.push({ ...base, kind: 'not-live', source: liveness.source })
    }
  }
  ctx.scratch.set(key, out)
  return out
}

/** `<id> (<name>)`, or the id alone when the name is not known. */
export function describeOwner(o: MountOwner): string {
  return o.name === undefined ? o.id : `${o.id} (${o.name})`
}

/** Whose mount this is, in words: the container(s), or "no container" and why. */
export function describeOwnership(v: VerdictBase): string {
  if (v.owners.length > 0) {
    const layer = v.role === 'init' ? 'the init layer of ' : ''
    return `${layer}container ${v.owners.map(describeOwner).join(', ')}`
  }
  if (v.role === 'image' || v.role === 'image-base') return `no container (${v.dir} is an image layer's dir)`
  return `no container (no mount record names ${v.dir})`
}

const NOT_LIVE: Record<Exclude<Liveness['source'], 'unknown'>, string> = {
  'runtime-dir': 'has no runc state under the exec root',
  'known-containers': 'is not in --known-containers',
}

/**
 * After the unmount, the mount point goes too where the format says the
 * driver makes it only while mounted (Docker 17.12 and later remove
 * `merged/` at unmount): left behind, it is what an older release would
 * have made. Only an empty dir is removed, and only while nothing is
 * mounted at or below it.
 */
async function removeMountPoint(ctx: CheckContext<DockerData>, path: string): Promise<void> {
  const top = driverDir(ctx.store, ctx.data.driver)
  const rel = path.slice(top.length + 1).split('/')
  if (!isInside(top, path) || rel.length !== 2) return
  const format = await ctx.data.format()
  if (!format.layerEntries.some((e) => e.name === rel[1] && e.kind === 'dir' && e.when === 'while-mounted')) return
  if (mountsAtOrBelow(await ctx.fs.mounts(), path).length > 0) return
  const inode = await ctx.fs.lstat(path).catch(() => undefined)
  if (inode?.kind !== 'dir') return
  try {
    if ((await ctx.fs.readdir(path)).length > 0) return
    await ctx.fs.rmdir(path)
  } catch (err) {
    // Something wrote into it or mounted on it meanwhile: it stays, which is harmless.
    if (!isErrno(err, 'ENOENT', 'ENOTEMPTY', 'EEXIST', 'EBUSY')) throw err
  }
}

export const dockerMergedStaleMount: CheckSpec<DockerData> = {
  code: 'docker-merged-stale-mount',
  pass: 'containers',
  severity: 'warning',
  title: 'a mount under the driver dir that no live container owns',
  garbage: 'always',
  explain:
    'Docker mounts a container\'s layers on <driver>/<mount-id>/merged while the container runs (and briefly for ' +
    'docker cp, export, commit and save) and unmounts it after. One left mounted after a crash pins the layer: ' +
    'docker rm deletes the rest of the layer, fails with EBUSY on the mount point, and the container stays Dead ' +
    'until it is unmounted. The owner is the container whose layerdb mount record names the dir. A container is ' +
    'live while runc\'s state under dockerd\'s exec root (<exec-root>/runtime-runc/moby/<id>, which outlives a ' +
    'stopped dockerd with live-restore) says so, or when --known-containers names it (by id, a short id of 12 or ' +
    'more hex digits, or its name), or while any process has its root or working directory inside the mount; such ' +
    'a mount is never unmounted, and the fix reads /proc again right before acting. Without a liveness source ' +
    'nothing is judged here (see docker-mount-liveness-unknown). The driver dir itself and the data root are ' +
    'never judged: a disk mounted there is the host\'s choice.',
  fix: {
    by: 'check',
    describe: 'unmount it (children first, lazily if busy) unless a process stands in it, and remove the empty merged/ Docker would have removed',
    safe: false,
    isDone: async (ctx, f) => mountsAtOrBelow(await ctx.fs.mounts(), f.path).length === 0,
    apply: async (ctx, f) => {
      const { source, reason } = await ctx.data.liveness()
      if (source === 'unknown') throw new FixRefusedError(`not unmounted: whether its container is live cannot be told (${reason ?? 'no liveness source'})`)
      // Read again: a process may have entered the mount since the check looked.
      const users = await usersOfMount(ctx.fs, await readProcessUses(ctx.fs, ctx.data.procRoot), await ctx.fs.mounts(), f.path)
      if (users.length > 0) throw new FixRefusedError(`not unmounted: ${describeUsers(users)} is in it, so it is live`)
      await unmountTree(ctx.fs, f.path)
      await removeMountPoint(ctx, f.path)
    },
  },
  async run(ctx) {
    for (const v of await judgeDriverMounts(ctx)) {
      if (v.kind !== 'not-live') continue
      const users = await ctx.data.mountUsers(v.path)
      const whose = describeOwnership(v)
      const message =
        v.owners.length > 0
          ? `${v.fsType} mount of ${whose}, which ${NOT_LIVE[v.source]}`
          : `${v.fsType} mount of ${whose}`
      const note = users.length === 0 ? '' : `; but ${describeUsers(users)} is in it, so it is live and stays mounted`
      ctx.report({
        path: v.path,
        message: `${message}${note}`,
        detail: {
          dir: v.dir,
          container: v.owners.map((o) => o.id).join(','),
          name: v.owners.map((o) => o.name ?? '').join(','),
          ...(users.length > 0 ? { inUseBy: users.map((u) => u.pid).join(',') } : {}),
        },
      })
    }
  },
}
