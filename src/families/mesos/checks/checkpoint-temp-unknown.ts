import type { MesosData } from '../data.js'
import type { CheckSpec } from '../../../check/types.js'

export const checkpointTempUnknown: CheckSpec<MesosData> = {
  code: 'checkpoint-temp-unknown',
  pass: 'structure',
  severity: 'warning',
  title: 'a file named like a checkpoint temp file that holds no checkpoint',
  explain:
    'A six-character name beside storedImages or in a container dir is what a crash during state::checkpoint ' +
    'leaves, but it is also README or config. A file of that name that is neither empty nor exactly the checkpoint ' +
    'it would have replaced (storedImages, or a container\'s layers) was not written by Mesos or layerfsck: it is ' +
    'left alone for a person to judge.',
  fix: { by: 'operator', describe: 'look at it; move it out of the store if it belongs elsewhere, or delete it if it is garbage' },
  async run(ctx) {
    for (const t of await ctx.data.tempFiles()) {
      if (t.verdict.temp) continue
      ctx.report({ path: t.path, message: `named like a ${t.checkpoint} temp file, but ${t.verdict.reason}; left alone`, detail: { checkpoint: t.checkpoint } })
    }
  },
}
