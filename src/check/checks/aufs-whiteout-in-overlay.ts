import { aufsToOverlay } from '../../layer/whiteout-codec.js'
import { classifyAufsName } from '../../layer/whiteout-names.js'
import type { CheckSpec } from '../types.js'
import { counter } from './counter.js'
import { FixRefusedError } from './refuse.js'

const count = counter('aufs-whiteout-in-overlay')

export const aufsWhiteoutInOverlay: CheckSpec = {
  code: 'aufs-whiteout-in-overlay',
  pass: 'contents',
  severity: 'error',
  title: 'aufs-form whiteouts inside a layer that overlayfs reads (the Mesos 1.1.0 defect)',
  explain:
    'A layer whose format says it holds overlay-form whiteouts holds .wh.* files instead: Mesos 1.1.0 wrote its ' +
    'overlay variant without converting them, and later releases trust an existing layer as-is; a tar extracted by ' +
    'hand into a Docker layer dir does the same. overlayfs shows those files instead of hiding what they name, so ' +
    'deleted files reappear in containers. Converting them in place (char device 0/0, trusted.overlay.opaque=y) is ' +
    'what Mesos >= 1.1.1 and Docker do at pull time.',
  fix: {
    by: 'check',
    describe: 'convert the variant\'s whiteouts to overlay form in place',
    safe: true,
    apply: async (ctx, f) => {
      // Without the capabilities the conversion would stop half-way, or leave opaque dirs unmarked.
      const creds = await ctx.data.credentials()
      if (!creds.capSysAdmin || !creds.capMknod) {
        throw new FixRefusedError('not converted: writing trusted.overlay.opaque needs CAP_SYS_ADMIN and the 0/0 devices CAP_MKNOD; run as root')
      }
      await aufsToOverlay(ctx.fs, f.path)
    },
  },
  onDir(ctx, dir) {
    if (dir.whiteouts !== 'overlay') return
    for (const e of dir.entries) {
      const aufs = classifyAufsName(e.name)
      if (e.kind === 'file' && (aufs?.type === 'whiteout' || aufs?.type === 'opaque')) count.add(ctx, dir.root, dir.rel, e.name)
    }
  },
  async onLayerDone(ctx, layer) {
    count.flush(ctx, layer.root, (n, example) => `${n} aufs-form whiteout${n === 1 ? '' : 's'} overlayfs will show as files (e.g. ${example})`)
  },
}
