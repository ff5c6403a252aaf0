import { FixRefusedError } from '../../../check/checks/refuse.js'
import type { CheckSpec } from '../../../check/types.js'
import { isErrno } from '../../../errors.js'
import { durableTempFor, writeFileDurable } from '../../../fs/io.js'
import { dirname } from '../../../fs/safe-path.js'
import type { DockerData } from '../data.js'
import { linkStates } from './links.js'
import { isRealDir, linkTargetOf, readSmall, viewOf } from './view.js'

export const dockerLinkMismatch: CheckSpec<DockerData> = {
  code: 'docker-link-mismatch',
  pass: 'structure',
  severity: 'error',
  title: "an overlay2 short link disagrees with the layer dirs' link files",
  explain:
    "Each layer dir's link file holds its short name, and l/<name> must be a symlink to that dir's diff. An entry " +
    'that is not a symlink, or points to another dir, makes every mount through it use the wrong layer (or fail); ' +
    'a link file that is missing or garbled makes Docker unable to create a layer or container on top. -y ' +
    're-points the link to the one dir whose link file holds its name, or writes the link file from the one link ' +
    'that points to its dir; when that is ambiguous it changes nothing.',
  fix: {
    by: 'check',
    describe: "re-point the link to the dir whose link file holds its name, or write a dir's link file from the one link that points to it",
    safe: false,
    isDone: async (ctx, f) => {
      const action = f.detail?.['action']
      if (action === 'repoint') return (await ctx.fs.lstat(f.path))?.kind === 'symlink' && (await ctx.fs.readlink(f.path)) === f.detail?.['target']
      if (action === 'write-link') return (await readSmall(ctx.fs, f.path)) === f.detail?.['name']
      return false
    },
    apply: async (ctx, f) => {
      const d = f.detail ?? {}
      const dir = String(d['dir'])
      const name = String(d['name'])
      if (d['action'] === 'repoint') {
        const target = String(d['target'])
        const there = await ctx.fs.lstat(f.path)
        if (there?.kind === 'symlink' && (await ctx.fs.readlink(f.path)) === target) return
        if (there?.kind === 'dir') throw new FixRefusedError('not re-pointed: a dir is there now')
        if (!(await isRealDir(ctx.fs, dir)) || !(await isRealDir(ctx.fs, dirname(f.path)))) throw new FixRefusedError(`not re-pointed: ${dir} or ${dirname(f.path)} is no longer a dir`)
        if ((await readSmall(ctx.fs, `${dir}/link`)) !== name) throw new FixRefusedError(`not re-pointed: ${dir}/link no longer holds ${name}`)
        if ((await ctx.fs.lstat(String(d['content'])))?.kind !== 'dir') throw new FixRefusedError(`not re-pointed: ${String(d['content'])} is not a dir`)
        // A new symlink renamed over the old entry: the name is never absent, so a crash leaves the old link or the new one.
        const temp = durableTempFor(f.path)
        try {
          await ctx.fs.unlink(temp)
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw err
        }
        await ctx.fs.symlink(target, temp)
        await ctx.fs.rename(temp, f.path)
        await ctx.fs.fsync(dirname(f.path))
        return
      }
      if (d['action'] === 'write-link') {
        const link = String(d['link'])
        if (!(await isRealDir(ctx.fs, dir)) || !(await isRealDir(ctx.fs, dirname(link)))) throw new FixRefusedError(`not written: ${dir} or ${dirname(link)} is no longer a dir`)
        if ((await ctx.fs.lstat(link))?.kind !== 'symlink' || (await ctx.fs.readlink(link)) !== d['target']) throw new FixRefusedError(`not written: ${link} no longer points to this dir`)
        const there = await ctx.fs.lstat(f.path)
        if (there !== undefined && there.kind !== 'file') throw new FixRefusedError(`not written: ${f.path} is a ${there.kind}, not a file`)
        // overlay2 writes the bare name, no newline.
        await writeFileDurable(ctx.fs, f.path, Buffer.from(name), 0o644)
        return
      }
      throw new FixRefusedError(`not changed: ${String(d['reason'] ?? 'which dir is right cannot be told')}`)
    },
  },
  async run(ctx) {
    const v = await viewOf(ctx.data)
    const lDir = `${v.driverPath}/${v.format.shortLinks?.dir ?? ''}`
    for (const m of linkStates(v).mismatch) {
      const fix = m.fix
      const content = (dir: string): string => `${v.driverPath}/${dir}/${v.format.shortLinks!.target}`
      const detail: Record<string, string> =
        fix.action === 'repoint'
          ? { action: fix.action, name: fix.name, dir: `${v.driverPath}/${fix.dir}`, target: fix.target, content: content(fix.dir) }
          : fix.action === 'write-link'
            ? { action: fix.action, name: fix.name, dir: `${v.driverPath}/${fix.dir}`, link: `${lDir}/${fix.name}`, target: linkTargetOf(v.format, fix.dir) }
            : { action: fix.action, reason: fix.reason }
      ctx.report({ path: m.path, message: m.message, detail })
    }
  },
}
