import type { MesosData } from '../data.js'
import { storedImagesPath } from '../paths.js'
import type { CheckSpec } from '../../../check/types.js'

export const storedImagesUnreadable: CheckSpec<MesosData> = {
  code: 'stored-images-unreadable',
  pass: 'references',
  severity: 'error',
  title: 'storedImages cannot be read',
  explain:
    'The agent reads storedImages at recovery, and a file it cannot parse fails the whole agent recovery ' +
    '(MetadataManagerProcess::recover); an empty file is only a warning there. layerfsck reads record by record ' +
    'and reports what it salvaged.',
  fix: { by: 'operator', describe: 'restore it from a backup, or move it aside so the agent re-pulls images' },
  async run(ctx) {
    const s = await ctx.data.storedImages()
    const path = storedImagesPath(ctx.store)
    if (s.state === 'unreadable') ctx.report({ path, message: s.reason })
    else if (s.state === 'damaged') ctx.report({ path, message: `${s.problems[0]?.message} (${s.value.length} images still readable)` })
  },
}
