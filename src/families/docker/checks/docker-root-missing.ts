import type { CheckSpec } from '../../../check/types.js'
import type { DockerData } from '../data.js'
import { viewOf } from './view.js'

export const dockerRootMissing: CheckSpec<DockerData> = {
  code: 'docker-root-missing',
  pass: 'references',
  severity: 'error',
  title: 'a legacy overlay image layer dir has no root/',
  explain:
    "The legacy overlay driver keeps each image layer as a whole flattened tree, <id>/root/, hard-linked to its " +
    "parent's. Without it the layer cannot be a lower dir: no container on the image starts, and no layer can be " +
    'built on it. It cannot be rebuilt from the metadata (tar-split holds no file content).',
  fix: { by: 'operator', describe: 'remove the containers and images that use the layer (docker rm, docker rmi) and load or pull the images again' },
  async run(ctx) {
    const v = await viewOf(ctx.data)
    if (v.model.layout.driver !== 'overlay') return
    for (const d of v.model.layout.layerDirs) {
      if (d.kind !== 'dir' || !d.readable) continue
      const owner = v.owners.get(d.name)
      if (owner === undefined || (owner.role !== 'image' && owner.role !== 'image-base')) continue
      const spec = v.format.contentDirs.find((c) => c.roles.includes(owner.role))
      if (spec === undefined) continue
      const kind = d.entries.find((e) => e.name === spec.dir)?.kind
      if (kind === 'dir') continue
      ctx.report({
        path: `${d.path}/${spec.dir}`,
        message: `layer ${owner.records.join(', ')} keeps its whole tree here, and it ${kind === undefined ? 'is missing' : `is a ${kind}, not a dir`}`,
        detail: { layer: owner.records.join(',') },
      })
    }
  },
}
