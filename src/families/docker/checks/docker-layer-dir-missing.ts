import type { CheckSpec } from '../../../check/types.js'
import type { DockerData } from '../data.js'
import { viewOf } from './view.js'

export const dockerLayerDirMissing: CheckSpec<DockerData> = {
  code: 'docker-layer-dir-missing',
  pass: 'references',
  severity: 'error',
  title: "a layer record's cache-id names no dir",
  explain:
    "The layer's content is gone: Docker notices only when it mounts the layer (\"error creating overlay mount … no " +
    'such file"), so every container on it fails to start and every image on it fails to run, while `docker images` ' +
    'still lists them. Pruning those images leaves dangling short links and leaked init dirs behind. Nothing can ' +
    'rebuild the content from the metadata alone.',
  fix: { by: 'operator', describe: 'remove the containers and images that use the layer (docker rm, docker rmi) and load or pull the images again' },
  async run(ctx) {
    const v = await viewOf(ctx.data)
    // A driver dir that cannot be listed hides its dirs; dir-unreadable reports it.
    if (v.model.driverDir.state === 'unreadable') return
    for (const r of v.live.values()) {
      if (r.cacheId.state !== 'ok') continue
      const d = v.dirs.get(r.cacheId.value)
      const path = `${v.driverPath}/${r.cacheId.value}`
      if (d === undefined) ctx.report({ path, message: `layer ${r.chainId} (${r.path}) keeps its content here, and it is missing`, detail: { record: r.path } })
      else if (d.kind !== 'dir') ctx.report({ path, message: `layer ${r.chainId} (${r.path}) keeps its content here, and it is a ${d.kind}, not a dir`, detail: { record: r.path } })
    }
  },
}
