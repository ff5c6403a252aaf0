import type { MesosData } from '../data.js'
import type { CheckSpec } from '../../../check/types.js'

export const containerLayerPathMissing: CheckSpec<MesosData> = {
  code: 'container-layer-path-missing',
  pass: 'references',
  severity: 'warning',
  title: 'a container\'s layers checkpoint names a layer path that is gone',
  explain:
    'A live overlay mount keeps a deleted lower layer\'s files alive, but the container cannot be provisioned again, ' +
    'and a layer removed under a running container means prune or a person removed it too early.',
  fix: { by: 'operator', describe: 're-import the image; relaunch the container' },
  async run(ctx) {
    for (const c of await ctx.data.containers()) {
      if (c.layers.state !== 'ok' && c.layers.state !== 'damaged') continue
      for (const p of c.layers.value.paths) {
        const inode = await ctx.data.lstat(p)
        if (inode !== 'unreadable' && inode?.kind !== 'dir') ctx.report({ path: p, message: `named by ${c.key}'s layers checkpoint, but missing` })
      }
      const config = c.layers.value.config
      const blob = config === undefined ? undefined : await ctx.data.lstat(config)
      if (config && blob !== 'unreadable' && blob?.kind !== 'file') ctx.report({ path: config, message: `config blob named by ${c.key}'s layers checkpoint is missing` })
    }
  },
}
