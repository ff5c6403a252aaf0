import { isInside } from '../../fs/safe-path.js'
import { unmountTree } from '../../steps/unmount.js'
import type { CheckSpec } from '../types.js'

export const orphanMount: CheckSpec = {
  code: 'orphan-mount',
  pass: 'provisioner',
  severity: 'error',
  title: 'a mount under the provisioner dir or the store that nothing owns',
  explain:
    'Rootfs mounts belong to live containers. A mount whose container is not live (by --known-containers or the ' +
    'runtime dir), or whose container or rootfs dir is gone, or anything mounted inside the store, is left by a ' +
    'crash: it pins layers, blocks their removal, and Mesos\' recovery does not always clean it. Unmounting is not ' +
    'done by -p, since liveness comes from outside the store.',
  fix: { by: 'check', describe: 'unmount it (children first, lazily if busy)', safe: false, apply: (ctx, f) => unmountTree(ctx.fs, f.path) },
  async run(ctx) {
    const mounts = await ctx.data.mounts()
    const containers = await ctx.data.containers()
    const { source, live } = await ctx.data.liveness()
    const reported = new Set<string>()
    const report = (path: string, message: string): void => {
      // A parent reported already takes its children along when unmounted.
      if ([...reported].some((r) => isInside(r, path))) return
      reported.add(path)
      ctx.report({ path, message })
    }
    const sorted = [...mounts].sort((a, b) => a.mountPoint.length - b.mountPoint.length)
    for (const m of sorted) {
      const at = m.mountPoint.replace(/ \(deleted\)$/, '')
      if (isInside(ctx.store, at) && at !== ctx.store) {
        report(at, `${m.fsType} mounted inside the store`)
        continue
      }
      if (ctx.provisioner === undefined || !isInside(ctx.provisioner, at) || at === ctx.provisioner) continue
      const owner = containers.filter((c) => isInside(c.path, at)).sort((a, b) => b.path.length - a.path.length)[0]
      if (owner === undefined) report(at, `${m.fsType} mount whose container dir is gone`)
      else if ((await ctx.fs.lstat(at).catch(() => undefined)) === undefined) report(at, `${m.fsType} mount whose rootfs dir is gone`)
      else if (source !== 'unknown' && !live.has(owner.key)) report(at, `${m.fsType} mount of ${owner.key}, which is not live (${source})`)
    }
  },
}
