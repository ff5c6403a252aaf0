import { isListedWhiteout, isOpaqueDir, overlayToAufs } from '../../layer/whiteout-codec.js'
import type { CheckContext, CheckSpec, ContentDir } from '../types.js'
import { counter } from './counter.js'
import { FixRefusedError } from './refuse.js'

const count = counter('overlay-whiteout-in-rootfs')

export const overlayWhiteoutInRootfs: CheckSpec = {
  code: 'overlay-whiteout-in-rootfs',
  pass: 'contents',
  severity: 'error',
  title: 'overlay-form whiteouts or opaque xattrs in a layer that holds aufs-form ones or none',
  explain:
    'A layer whose format says it holds aufs-form whiteouts (Mesos\' variant for aufs, copy and bind) or none at ' +
    'all (the legacy Docker overlay driver\'s flattened root/) is read by tools that ignore char devices 0/0 and ' +
    'opaque xattrs: the copy backend copies the device into the container, and deleted files come back.',
  fix: {
    by: 'check',
    describe: 'convert the variant\'s whiteouts to aufs form in place',
    safe: true,
    apply: async (ctx, f) => {
      // Without CAP_SYS_ADMIN the opaque xattrs are invisible: the conversion would turn the devices and miss them.
      if (!(await ctx.data.credentials()).capSysAdmin) {
        throw new FixRefusedError('not converted: trusted.overlay.opaque can be read and removed only with CAP_SYS_ADMIN; run as root')
      }
      // In a flattened tree a deletion is real: there is no aufs form to convert to, and what the device hides is gone.
      const root = (await ctx.data.contentRoots()).find((r) => r.root === f.path)
      if (root?.whiteouts !== 'aufs') throw new FixRefusedError('not converted: this layer tree holds no whiteouts of any form in its format; rebuild it from its image')
      await overlayToAufs(ctx.fs, f.path)
    },
  },
  // Not async: an overlay-form directory (nearly every one this pass meets) costs no promise.
  onDir(ctx, dir) {
    if (dir.whiteouts === 'overlay') return
    return inAufsForm(ctx, dir)
  },
  async onLayerDone(ctx, layer) {
    count.flush(ctx, layer.root, (n, example) => `${n} overlay-form whiteout${n === 1 ? '' : 's'} that aufs, copy and bind ignore (e.g. ${example || '.'})`)
  },
}

async function inAufsForm(ctx: CheckContext, dir: ContentDir): Promise<void> {
    // Only directories can be opaque and only char devices can be whiteouts:
    // one listxattr per directory, and a char device's number comes with the listing.
    if (await isOpaqueDir(ctx.fs, dir.path)) count.add(ctx, dir.root, dir.rel, '')
    for (const e of dir.entries) {
      if (await isListedWhiteout(ctx.fs, dir.path, e)) count.add(ctx, dir.root, dir.rel, e.name)
    }
}
