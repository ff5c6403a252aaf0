/**
 * The Docker family: a data root (`--store /var/lib/docker`) of the overlay2
 * or the legacy overlay storage driver. Every change waits for dockerd on
 * this data root to stop; nothing else is claimed (no temp dirs).
 */
import type { Family } from '../../family/types.js'
import { LayerfsckError, ExitCode } from '../../errors.js'
import { DockerData } from './data.js'
import { DOCKER_CHECKS } from './checks/index.js'
import { daemonsOn } from './daemon.js'
import { detectDocker, dockerDriverFor } from './detect.js'
import { dockerFormatOf } from './format-of.js'
import { DOCKER_FORMATS } from './formats/index.js'
import { dockerEvidence, dockerUnsupported } from './identify.js'
import { dockerLayerTree } from './layer-tree.js'
import { readDockerRoot } from './model.js'

export const dockerFamily: Family<DockerData> = {
  name: 'docker',
  title: 'a Docker data root',
  formats: DOCKER_FORMATS,
  storeHint: 'a Docker data root of the overlay2 or overlay driver (dockerd\'s --data-root, /var/lib/docker by default)',
  recognise: dockerEvidence,
  looksLike: dockerUnsupported,
  guard: daemonsOn,
  async currentFormat(fs, store) {
    const { driver } = await dockerDriverFor(fs, store)
    return dockerFormatOf(fs, await readDockerRoot(fs, store, { driver }))
  },
  detect: detectDocker,
  layerTree: dockerLayerTree,
  check: {
    checks: DOCKER_CHECKS,
    async data(fs, store, options) {
      if (options.workDir !== undefined) throw new LayerfsckError('WORK_DIR_UNUSED', 'a Docker data root has no separate work dir; leave --work-dir out', { exitCode: ExitCode.usage })
      if (options.pruneLayers) {
        throw new LayerfsckError('PRUNE_UNUSED', '--prune-layers prunes a Mesos store\'s layers; a Docker data root\'s unused images go with `docker image prune` while dockerd runs', { exitCode: ExitCode.usage })
      }
      if (options.backend !== undefined) throw new LayerfsckError('BACKEND_UNUSED', '--backend names a Mesos backend; a Docker data root has one driver, which check reads from it', { exitCode: ExitCode.usage })
      const { driver } = await dockerDriverFor(fs, store)
      return new DockerData(fs, store, {
        driver,
        ...(options.knownContainers !== undefined ? { knownContainers: options.knownContainers } : {}),
        ...(options.runtimeDir !== undefined ? { runtimeDir: options.runtimeDir } : {}),
        ...(options.procFilesystems !== undefined ? { procFilesystems: options.procFilesystems } : {}),
        ...(options.procRoot !== undefined ? { procRoot: options.procRoot } : {}),
        ...(options.graceMs !== undefined ? { graceMs: options.graceMs } : {}),
      })
    },
  },
}
