import type { CheckSpec } from '../../../check/types.js'
import type { DockerData } from '../data.js'

export const dockerRepositoriesDangling: CheckSpec<DockerData> = {
  code: 'docker-repositories-dangling',
  pass: 'references',
  severity: 'warning',
  title: 'repositories.json is garbled, or a tag in it names an image with no config',
  explain:
    'repositories.json maps every tag and digest reference to an image id. dockerd reads it whole at start and ' +
    'fails to start when it does not parse; a reference to an image whose config is gone lists nothing, cannot be ' +
    'removed by `docker rmi` of the image, and makes `docker run` of the tag fail. An image whose config is there ' +
    'but damaged is docker-image-config-invalid\'s.',
  fix: { by: 'operator', describe: 'remove the dangling tag (docker rmi <ref>) or pull or load the image again; a garbled file must be restored or removed while dockerd is stopped (all tags are then lost)' },
  async run(ctx) {
    const model = await ctx.data.model()
    const repos = model.repositories
    if (repos.state === 'missing') return
    if (repos.state === 'empty') return ctx.report({ path: repos.path, message: 'it is empty: dockerd fails to start reading it' })
    if (repos.state === 'invalid') return ctx.report({ path: repos.path, message: `it is garbled (${repos.reason}): dockerd fails to start reading it` })
    if (repos.state === 'unreadable') return ctx.report({ path: repos.path, message: `it cannot be read (${repos.code}: ${repos.reason})` })
    // Configs that cannot be listed are not missing; dir-unreadable reports the dir.
    if (model.imageContentDir.state === 'unreadable') return
    const images = new Set(model.images.map((i) => i.id))
    for (const r of repos.repositories) {
      for (const ref of r.refs) {
        if (images.has(ref.imageId)) continue
        ctx.report({ path: repos.path, message: `${ref.ref} names image ${ref.imageId}, which has no config in ${model.imageContentDir.path}`, detail: { ref: ref.ref, image: ref.imageId } })
      }
    }
  },
}
