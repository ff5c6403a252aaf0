import { CHECKPOINT_TEMP } from '../../mesos/paths.js'
import type { CheckSpec } from '../types.js'
import { isOurTemp } from './checkpoint-temp.js'

const KNOWN = new Set(['layers', 'staging', 'storedImages', 'gc', '.layerfsck'])

export const storeUnknownEntry: CheckSpec = {
  code: 'store-unknown-entry',
  pass: 'structure',
  severity: 'warning',
  title: 'an entry at the top of the store that no Mesos format has',
  explain:
    'The store holds layers/, staging/, gc/, storedImages and layerfsck\'s .layerfsck/. Anything else was put there by ' +
    'hand or by another tool; it is left alone, but a store migration would not carry it.',
  fix: { by: 'operator', describe: 'move it out of the store if it belongs elsewhere' },
  async run(ctx) {
    for (const e of await ctx.data.top()) {
      if (KNOWN.has(e.name) && (e.name === 'storedImages' ? e.kind === 'file' : e.kind === 'dir')) continue
      if (e.kind === 'file' && ((CHECKPOINT_TEMP.test(e.name) && !KNOWN.has(e.name)) || isOurTemp(e.name))) continue
      ctx.report({ path: `${ctx.store}/${e.name}`, message: `a ${e.kind} named ${e.name} is not part of the store layout` })
    }
  },
}
