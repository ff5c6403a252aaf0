import type { MesosData } from '../data.js'
import { isInside, dirname } from '../../../fs/safe-path.js'
import { optionMap } from '../../../fs/mountinfo.js'
import type { CheckSpec } from '../../../check/types.js'

/** lowerdir=a:b:c, where `\:` is a colon inside a path. */
export function splitLowerdir(value: string): string[] {
  return value.split(/(?<!\\):/).map((p) => p.replace(/\\:/g, ':'))
}

export const lowerdirMissing: CheckSpec<MesosData> = {
  code: 'lowerdir-missing',
  pass: 'containers',
  severity: 'error',
  title: 'an overlay mount whose lower layer path is gone',
  explain:
    'The overlay backend mounts layers through scratch/<id>/links symlinks. If the layer dir behind one was removed, ' +
    'the running container still sees the old files, but a remount (or Mesos\' recovery) fails.',
  fix: { by: 'operator', describe: 're-import the image that holds the layer; relaunch the container' },
  async run(ctx) {
    if (ctx.data.provisioner === undefined) return
    for (const m of await ctx.data.mounts()) {
      if (m.fsType !== 'overlay' || !isInside(ctx.data.provisioner, m.mountPoint)) continue
      const options = optionMap([...m.superOptions, ...m.options])
      const lower = options.get('lowerdir')
      if (!lower) continue
      for (const dir of splitLowerdir(lower)) {
        let path = dir
        const inode = await ctx.data.lstat(dir)
        if (inode === 'unreadable') continue
        if (inode?.kind === 'symlink') {
          const target = await ctx.fs.readlink(dir)
          path = target.startsWith('/') ? target : `${dirname(dir)}/${target}`
        } else if (inode !== undefined) continue
        const target = await ctx.data.lstat(path)
        if (target !== 'unreadable' && target?.kind !== 'dir') {
          ctx.report({ path, message: `lower layer of the overlay mount at ${m.mountPoint} is missing` })
        }
      }
    }
  },
}
