import type { MesosData } from '../data.js'
import { readProcessUses } from '../../../fs/processes.js'
import { mountsAtOrBelow } from '../../../fs/remove.js'
import { isInside } from '../../../fs/safe-path.js'
import { unmountTree } from '../../../steps/unmount.js'
import { describeUsers, usersOfMount } from '../../../check/process-use.js'
import type { CheckContext, CheckSpec } from '../../../check/types.js'
import { FixRefusedError } from '../../../check/checks/refuse.js'

/** What orphan-mount may judge of each mount, and why; shared with mount-liveness-unknown. */
export type MountVerdict =
  | { kind: 'inside-store' | 'container-gone' | 'rootfs-gone' | 'not-live'; path: string; fsType: string; container?: string }
  | { kind: 'liveness-unknown'; path: string; fsType: string; container: string }
  /** A directory at or above the mount could not be read: whether its container is there cannot be told. */
  | { kind: 'dir-unreadable'; path: string; fsType: string; dir: string; code: string }

/**
 * The mounts under the store and the provisioner dir that nothing owns, or
 * whose owner's liveness cannot be told; children of a reported mount go
 * with it. Scratch space keeps one answer for both checks.
 */
export async function judgeMounts(ctx: CheckContext<MesosData>): Promise<MountVerdict[]> {
  const cached = ctx.scratch.get('orphan-mount:verdicts') as MountVerdict[] | undefined
  if (cached) return cached
  const mounts = await ctx.data.mounts()
  const containers = await ctx.data.containers()
  const { source, live } = await ctx.data.liveness()
  const out: MountVerdict[] = []
  const covered = (path: string): boolean => out.some((v) => isInside(v.path, path))
  for (const m of [...mounts].sort((a, b) => a.mountPoint.length - b.mountPoint.length)) {
    const path = m.mountPoint
    if (covered(path)) continue
    if (isInside(ctx.store, path) && path !== ctx.store) {
      out.push({ kind: 'inside-store', path, fsType: m.fsType })
      continue
    }
    if (ctx.data.provisioner === undefined || !isInside(ctx.data.provisioner, path) || path === ctx.data.provisioner) continue
    // A container dir that could not be listed is missing from `containers`, and so are its nested
    // containers: "gone" would be a guess, and an unmount on a guess takes a live container's rootfs.
    const blind = ctx.data.unreadable().find((u) => isInside(u.path, path))
    if (blind !== undefined) {
      out.push({ kind: 'dir-unreadable', path, fsType: m.fsType, dir: blind.path, code: blind.code })
      continue
    }
    const owner = containers.filter((c) => isInside(c.path, path)).sort((a, b) => b.path.length - a.path.length)[0]
    const inode = await ctx.data.lstat(path)
    if (inode === 'unreadable') {
      const dir = ctx.data.unreadable().find((u) => isInside(u.path, path))
      out.push({ kind: 'dir-unreadable', path, fsType: m.fsType, dir: dir?.path ?? path, code: dir?.code ?? 'EACCES' })
    } else if (owner === undefined) out.push({ kind: 'container-gone', path, fsType: m.fsType })
    else if (inode === undefined) out.push({ kind: 'rootfs-gone', path, fsType: m.fsType, container: owner.key })
    else if (source === 'unknown') out.push({ kind: 'liveness-unknown', path, fsType: m.fsType, container: owner.key })
    else if (!live.has(owner.key)) out.push({ kind: 'not-live', path, fsType: m.fsType, container: owner.key })
  }
  ctx.scratch.set('orphan-mount:verdicts', out)
  return out
}

export const orphanMount: CheckSpec<MesosData> = {
  code: 'orphan-mount',
  pass: 'containers',
  severity: 'error',
  title: 'a mount under the provisioner dir or the store that nothing owns',
  garbage: 'always',
  explain:
    'Rootfs mounts belong to live containers. A mount whose container is not live (by --known-containers or the ' +
    'runtime dir), or whose container or rootfs dir is gone, or anything mounted inside the store, is left by a ' +
    'crash: it pins layers, blocks their removal, and Mesos\' recovery does not always clean it. Unmounting is not ' +
    'done by -p, since liveness comes from outside the store; and a mount that a running process uses as its root or ' +
    'working directory (/proc/<pid>/root, /proc/<pid>/cwd) is never unmounted, whatever the liveness source says.',
  fix: {
    by: 'check',
    describe: 'unmount it (children first, lazily if busy) unless a process stands in it',
    safe: false,
    isDone: async (ctx, f) => mountsAtOrBelow(await ctx.fs.mounts(), f.path).length === 0,
    apply: async (ctx, f) => {
      // Read again: a process may have entered the mount since the check looked.
      const users = await usersOfMount(ctx.fs, await readProcessUses(ctx.fs, ctx.data.procRoot), await ctx.fs.mounts(), f.path)
      if (users.length > 0) throw new FixRefusedError(`not unmounted: ${describeUsers(users)} is in it, so it is live`)
      await unmountTree(ctx.fs, f.path)
    },
  },
  async run(ctx) {
    const { source } = await ctx.data.liveness()
    for (const v of await judgeMounts(ctx)) {
      if (v.kind === 'liveness-unknown' || v.kind === 'dir-unreadable') continue
      const users = await ctx.data.mountUsers(v.path)
      const note = users.length === 0 ? '' : `; but ${describeUsers(users)} is in it, so it stays mounted`
      const message =
        v.kind === 'inside-store'
          ? `${v.fsType} mounted inside the store`
          : v.kind === 'container-gone'
            ? `${v.fsType} mount whose container dir is gone`
            : v.kind === 'rootfs-gone'
              ? `${v.fsType} mount whose rootfs dir is gone`
              : `${v.fsType} mount of a container that is not live (${source})`
      ctx.report({ path: v.path, message: `${message}${note}`, ...(users.length > 0 ? { detail: { inUseBy: users.map((u) => u.pid).join(',') } } : {}) })
    }
  },
}
