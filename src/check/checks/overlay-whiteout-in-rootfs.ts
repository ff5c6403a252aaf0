import { isWhiteoutDevice } from '../../layer/whiteout-names.js'
import { isOpaqueDir, overlayToAufs } from '../../layer/whiteout-codec.js'
import type { CheckSpec } from '../types.js'
import { counter } from './counter.js'
import { FixRefusedError } from './refuse.js'

const count = counter('overlay-whiteout-in-rootfs')

export const overlayWhiteoutInRootfs: CheckSpec = {
  code: 'overlay-whiteout-in-rootfs',
  pass: 'contents',
  severity: 'error',
  title: 'overlay-form whiteouts or opaque xattrs inside rootfs',
  explain:
    'rootfs serves aufs, copy and bind, which read .wh.* files. A char device 0/0 or an overlay opaque xattr there ' +
    'is invisible to them: the copy backend copies the device into the container, and deleted files come back.',
  fix: {
    by: 'check',
    describe: 'convert the variant\'s whiteouts to aufs form in place',
    safe: true,
    apply: async (ctx, f) => {
      // Without CAP_SYS_ADMIN the opaque xattrs are invisible: the conversion would turn the devices and miss them.
      if (!(await ctx.data.credentials()).capSysAdmin) {
        throw new FixRefusedError('not converted: trusted.overlay.opaque can be read and removed only with CAP_SYS_ADMIN; run as root')
      }
      await overlayToAufs(ctx.fs, f.path)
    },
  },
  async onDir(ctx, dir) {
    if (dir.variant !== 'rootfs') return
    // Only directories can be opaque and only char devices can be whiteouts:
    // one listxattr per directory and one lstat per char device.
    if (await isOpaqueDir(ctx.fs, dir.path)) count.add(ctx, dir.root, dir.rel, '')
    for (const e of dir.entries) {
      if (e.kind === 'char' && isWhiteoutDevice(await ctx.fs.lstat(`${dir.path}/${e.name}`))) count.add(ctx, dir.root, dir.rel, e.name)
    }
  },
  async onLayerDone(ctx, layer) {
    count.flush(ctx, layer.root, (n, example) => `${n} overlay-form whiteout${n === 1 ? '' : 's'} that aufs, copy and bind ignore (e.g. ${example || '.'})`)
  },
}
