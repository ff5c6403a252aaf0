import type { MesosData } from '../data.js'
import { SHA256_DIGEST } from '../paths.js'
import type { CheckSpec } from '../../../check/types.js'

export const layersUnknownEntry: CheckSpec<MesosData> = {
  code: 'layers-unknown-entry',
  pass: 'structure',
  severity: 'warning',
  title: 'an entry in layers/ that is neither a layer dir nor a config blob',
  explain:
    'layers/ holds one directory per layer and, since Mesos 1.8.0, image config blobs as files named by their ' +
    'digest. Mesos lists every entry there (paths::listLayers), so a stray file or symlink is counted as a layer by prune.',
  fix: { by: 'operator', describe: 'move it out of layers/' },
  async run(ctx) {
    for (const e of await ctx.data.layers()) {
      if (e.kind === 'dir') continue
      if (e.kind === 'file' && SHA256_DIGEST.test(e.name)) continue
      ctx.report({ path: e.path, message: `a ${e.kind} that is neither a layer directory nor a sha256:<hex> config blob` })
    }
  },
}
