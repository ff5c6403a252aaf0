import type { CheckSpec } from '../../../check/types.js'
import type { DockerData } from '../data.js'
import type { ImageRecord } from '../model.js'

function problemOf(i: ImageRecord): string | undefined {
  switch (i.config.state) {
    case 'empty':
      return 'it is empty'
    case 'unreadable':
      return `it cannot be read (${i.config.code}: ${i.config.reason})`
    case 'invalid':
      return `it is ${i.config.reason}`
    case 'missing':
      return 'it is missing'
  }
  if (!i.digestMatches && i.sha256 !== undefined) return `its sha256 is ${i.sha256}, not its name`
  return undefined
}

export const dockerImageConfigInvalid: CheckSpec<DockerData> = {
  code: 'docker-image-config-invalid',
  pass: 'references',
  severity: 'error',
  title: 'an image config is empty, unreadable, not JSON, or its sha256 is not its name',
  explain:
    "imagedb keeps each image's config under its own sha256, and Docker checks that on load: a config that fails " +
    'is skipped, so the image is hidden, its tags dangle, and `docker create` on it tries to pull. The bytes cannot ' +
    'be recovered from anything else in the data root.',
  fix: { by: 'operator', describe: 'load or pull the image again (docker load, docker pull), which rewrites its config' },
  async run(ctx) {
    const model = await ctx.data.model()
    const format = await ctx.data.format()
    const tags = new Map<string, string[]>()
    if (model.repositories.state === 'ok') for (const r of model.repositories.repositories) for (const ref of r.refs) tags.set(ref.imageId, [...(tags.get(ref.imageId) ?? []), ref.ref])
    for (const i of model.images) {
      // Other names in content/sha256 are an atomic write's temps, not configs.
      if (!format.idShapes.imageIdHex.test(i.name)) continue
      const problem = problemOf(i)
      if (problem === undefined) continue
      const t = tags.get(i.id) ?? []
      ctx.report({
        path: i.path,
        message: `the config of image ${i.id}: ${problem}; Docker hides the image${t.length > 0 ? ` and its tags ${t.join(', ')} dangle` : ''}`,
        detail: { image: i.id },
      })
    }
  },
}
