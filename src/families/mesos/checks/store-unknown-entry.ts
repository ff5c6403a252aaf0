import type { MesosData } from '../data.js'
import { storeEntries } from '../identify.js'
import { tempCandidate } from '../metadata/checkpoint-temp.js'
import type { CheckSpec } from '../../../check/types.js'

export const storeUnknownEntry: CheckSpec<MesosData> = {
  code: 'store-unknown-entry',
  pass: 'structure',
  severity: 'warning',
  title: 'an entry at the top of the store that no Mesos format has',
  explain:
    'The store holds layers/, staging/, gc/, storedImages and layerfsck\'s .layerfsck/. Anything else was put there by ' +
    'hand or by another tool; it is left alone, but a store migration would not carry it.',
  fix: { by: 'operator', describe: 'move it out of the store if it belongs elsewhere' },
  async run(ctx) {
    const { dirs, files, own } = storeEntries()
    for (const e of await ctx.data.top()) {
      if (e.kind === 'dir' && (dirs.has(e.name) || e.name === own)) continue
      if (e.kind === 'file' && files.has(e.name)) continue
      // checkpoint-temp or checkpoint-temp-unknown reports these, by what they hold.
      if (tempCandidate(e.name, e.kind, 'storedImages')) continue
      ctx.report({ path: `${ctx.store}/${e.name}`, message: `a ${e.kind} that is not part of the store layout` })
    }
  },
}
