import type { ContainerInfo, MesosData } from '../data.js'
import { judgeLinksTemp, removeLinksTemp } from '../links-temp.js'
import { readProcessUses } from '../../../fs/processes.js'
import { mountsAtOrBelow } from '../../../fs/remove.js'
import { isInside } from '../../../fs/safe-path.js'
import { isRemoved, removeLeftover } from '../../../steps/remove-leftover.js'
import { unmountTree } from '../../../steps/unmount.js'
import { describeUsers, usersOfMount } from '../../../check/process-use.js'
import type { CheckContext, CheckSpec } from '../../../check/types.js'
import { FixRefusedError } from '../../../check/checks/refuse.js'

/**
 * The provisioner containers that are garbage: not live by the liveness
 * source, with no live container nested in them and nothing unreadable at or
 * below them, outermost only (a nested container goes with its parent).
 * Without a liveness source there are none: nothing is judged dead on a
 * guess (mount-liveness-unknown says so for their mounts).
 */
export async function deadContainers(ctx: CheckContext<MesosData>): Promise<ContainerInfo[]> {
  const cached = ctx.scratch.get('container-not-live') as ContainerInfo[] | undefined
  if (cached) return cached
  const out: ContainerInfo[] = []
  const { source, live } = await ctx.data.liveness()
  if (source !== 'unknown') {
    const all = await ctx.data.containers()
    const unreadable = ctx.data.unreadable()
    for (const c of [...all].sort((a, b) => a.path.length - b.path.length)) {
      if (live.has(c.key) || out.some((d) => isInside(d.path, c.path))) continue
      if (all.some((o) => live.has(o.key) && isInside(c.path, o.path))) continue
      if (unreadable.some((u) => isInside(c.path, u.path) || isInside(u.path, c.path))) continue
      out.push(c)
    }
  }
  ctx.scratch.set('container-not-live', out)
  return out
}

/** The layer ids a container's layers checkpoint names: what its rootfs reads while it stays. */
export function pinnedLayers(c: ContainerInfo): string[] {
  return c.layers.state === 'ok' ? c.layers.value.paths.map((p) => p.split('/').at(-2) ?? p) : []
}

export const containerNotLive: CheckSpec<MesosData> = {
  code: 'container-not-live',
  pass: 'containers',
  severity: 'warning',
  title: 'a provisioner container dir of a container that is not live',
  garbage: 'gc-only',
  explain:
    'The provisioner dir holds a dir per container, nested ones inside their parent\'s. One whose container is not ' +
    'live (by --runtime-dir or --known-containers; never judged without a source) was left by an agent that crashed ' +
    'or lost power during destroy, or half removed by a destroy that failed (its rmdir is only logged). Its mounts ' +
    'pin layers and its scratch dirs hold the container\'s writes. gc unmounts what is mounted in it (children ' +
    'first, lazily if busy, never one a process stands in), removes the temp dirs its links point to (only ones ' +
    'that prove to be Mesos\' mkdtemp dirs of links into the store), then the dir, renamed out of the way first.',
  fix: {
    by: 'check',
    describe: 'unmount what is mounted in it, remove its links temp dirs, then the container dir',
    safe: false,
    isDone: (ctx, f) => isRemoved(ctx.fs, f.path),
    apply: async (ctx, f) => {
      const mounts = await ctx.fs.mounts()
      // Read again: a process may have entered a mount since the plan was made.
      const uses = await readProcessUses(ctx.fs, ctx.data.procRoot)
      for (const m of mountsAtOrBelow(mounts, f.path)) {
        const users = await usersOfMount(ctx.fs, uses, mounts, m.mountPoint)
        if (users.length > 0) throw new FixRefusedError(`not removed: ${describeUsers(users)} is in ${m.mountPoint}, so it is live`)
      }
      await unmountTree(ctx.fs, f.path)
      const after = await ctx.fs.mounts()
      for (const c of await ctx.data.containers()) {
        if (!isInside(f.path, c.path)) continue
        for (const b of c.backends) {
          for (const s of b.scratch) {
            if (s.links?.kind !== 'symlink') continue
            const verdict = await judgeLinksTemp(ctx.fs, ctx.store, `${s.path}/links`, after)
            if (verdict.ok) await removeLinksTemp(ctx.fs, verdict)
          }
        }
      }
      await removeLeftover(ctx.fs, f.path, ctx.data.roots())
    },
  },
  async run(ctx) {
    const { source } = await ctx.data.liveness()
    const all = await ctx.data.containers()
    const mounts = await ctx.data.mounts()
    for (const c of await deadContainers(ctx)) {
      const nested = all.filter((o) => o !== c && isInside(c.path, o.path))
      const mounted = mountsAtOrBelow(mounts, c.path).length
      const parts = [
        nested.length > 0 ? `${nested.length} nested container${nested.length === 1 ? '' : 's'}` : '',
        mounted > 0 ? `${mounted} mount${mounted === 1 ? '' : 's'}` : '',
      ].filter((p) => p !== '')
      ctx.report({
        path: c.path,
        message: `container ${c.key} is not live (${source})${parts.length > 0 ? `; it holds ${parts.join(' and ')}` : ''}`,
        pins: [...new Set([c, ...nested].flatMap(pinnedLayers))].map((id) => `layer ${id}`),
      })
    }
  },
}
