import type { MesosData } from '../data.js'
import { isErrno } from '../../../errors.js'
import { readTextLimited } from '../../../fs/io.js'
import type { CheckSpec } from '../../../check/types.js'

export const layerJsonUnreadable: CheckSpec<MesosData> = {
  code: 'layer-json-unreadable',
  pass: 'structure',
  severity: 'warning',
  title: 'a layer\'s json manifest is present but cannot be read',
  explain:
    'Layers from docker save archives and schema 1 registries carry a json file; for those images Mesos reads the ' +
    'runtime config from the last layer\'s json, and a broken one fails every launch of the image.',
  fix: { by: 'operator', describe: 're-import the image (layerfsck import) after removing the layer' },
  async run(ctx) {
    for (const e of await ctx.data.layers()) {
      const json = e.children?.find((c) => c.name === 'json')
      if (json === undefined) continue
      const path = `${e.path}/json`
      if (json.kind !== 'file') {
        ctx.report({ path, message: `json is a ${json.kind}, not a file` })
        continue
      }
      try {
        JSON.parse(await readTextLimited(ctx.fs, path, 16 * 1024 * 1024))
      } catch (err) {
        ctx.report({ path, message: isErrno(err, 'EACCES', 'EPERM') ? `json cannot be read (${err.code})` : `json does not parse: ${(err as Error).message}` })
      }
    }
  },
}
