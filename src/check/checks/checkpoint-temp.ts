import { CHECKPOINT_TEMP } from '../../mesos/paths.js'
import { removeLeftover } from '../../steps/remove-leftover.js'
import type { CheckSpec } from '../types.js'

/**
 * Names Mesos itself uses in the places temp files appear; six characters
 * like a mkstemp suffix, but never temp files (a container's `layers`
 * checkpoint is exactly six letters).
 */
const OWN_NAMES = new Set(['layers', 'backends', 'containers', 'staging'])

/** layerfsck's own temp names (fs/io.ts tempNameFor). */
export const isOurTemp = (name: string): boolean => /^\..+\.layerfsck-tmp-\d+-\d+$/.test(name)

export const checkpointTemp: CheckSpec = {
  code: 'checkpoint-temp',
  pass: 'structure',
  severity: 'warning',
  title: 'a checkpoint temp file left by a crash',
  explain:
    'Mesos writes storedImages and each container\'s layers file to a six-character temp name and renames it ' +
    '(state::checkpoint); layerfsck uses .<name>.layerfsck-tmp-*. A crash between the two leaves the temp file. ' +
    'It holds no committed data.',
  fix: {
    by: 'check',
    describe: 'remove the temp file',
    safe: true,
    apply: (ctx, f) => removeLeftover(ctx.fs, f.path),
  },
  async run(ctx) {
    const temp = (name: string, kind: string): boolean =>
      kind === 'file' && ((CHECKPOINT_TEMP.test(name) && !OWN_NAMES.has(name)) || isOurTemp(name))
    for (const e of await ctx.data.top()) {
      if (temp(e.name, e.kind)) ctx.report({ path: `${ctx.store}/${e.name}`, message: 'temp file of an interrupted checkpoint' })
    }
    for (const c of await ctx.data.containers()) {
      for (const e of c.entries) {
        if (temp(e.name, e.kind)) ctx.report({ path: `${c.path}/${e.name}`, message: `temp file of an interrupted layers checkpoint of ${c.key}` })
      }
    }
  },
}
