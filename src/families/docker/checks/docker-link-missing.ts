import { FixRefusedError } from '../../../check/checks/refuse.js'
import type { CheckSpec } from '../../../check/types.js'
import { ensureDir } from '../../../fs/io.js'
import { dirname } from '../../../fs/safe-path.js'
import type { DockerData } from '../data.js'
import { linkStates } from './links.js'
import { isRealDir, readSmall, viewOf } from './view.js'

export const dockerLinkMissing: CheckSpec<DockerData> = {
  code: 'docker-link-missing',
  pass: 'structure',
  severity: 'error',
  title: "a layer's short link in the overlay2 l/ dir is missing",
  explain:
    "overlay2 names each layer in mount options by a 26-character short link, l/<name> -> ../<id>/diff, whose name " +
    "the layer dir's link file holds. Without it `docker inspect` fails (readlink), and every mount of a layer or " +
    'container above it fails; Docker never recreates it. Recreating it from the link file fixes everything.',
  fix: {
    by: 'check',
    describe: "recreate the symlink from the layer dir's link file",
    safe: true,
    isDone: async (ctx, f) => {
      const inode = await ctx.fs.lstat(f.path)
      return inode?.kind === 'symlink' && (await ctx.fs.readlink(f.path)) === f.detail?.['target']
    },
    apply: async (ctx, f) => {
      const name = String(f.detail?.['name'])
      const dir = String(f.detail?.['dir'])
      const target = String(f.detail?.['target'])
      if (!(await isRealDir(ctx.fs, dir))) throw new FixRefusedError(`not created: ${dir} is no longer a dir`)
      if ((await readSmall(ctx.fs, `${dir}/link`)) !== name) throw new FixRefusedError(`not created: ${dir}/link no longer holds ${name}`)
      if ((await ctx.fs.lstat(`${dir}/${String(f.detail?.['content'])}`))?.kind !== 'dir') throw new FixRefusedError(`not created: ${dir}/${String(f.detail?.['content'])} is not a dir`)
      const there = await ctx.fs.lstat(f.path)
      if (there !== undefined) {
        if (there.kind === 'symlink' && (await ctx.fs.readlink(f.path)) === target) return
        throw new FixRefusedError(`not created: a ${there.kind} is there now`)
      }
      const lDir = dirname(f.path)
      const l = await ctx.fs.lstat(lDir)
      if (l === undefined) await ensureDir(ctx.fs, lDir, 0o700)
      else if (l.kind !== 'dir') throw new FixRefusedError(`not created: ${lDir} is a ${l.kind}, not a dir`)
      await ctx.fs.symlink(target, f.path)
      await ctx.fs.fsync(lDir)
    },
  },
  async run(ctx) {
    const v = await viewOf(ctx.data)
    for (const m of linkStates(v).missing) {
      const dir = `${v.driverPath}/${m.dir}`
      ctx.report({
        path: m.path,
        message: `${dir}/link names it and it is missing: every mount that uses this layer fails`,
        detail: { name: m.name, dir, target: m.target, content: v.format.shortLinks!.target },
      })
    }
  },
}
