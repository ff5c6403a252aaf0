/**
 * The Mesos docker store family: `--docker_store_dir` and, with it, the
 * agent's provisioner dir (`<work_dir>/provisioner`).
 */
import type { Family } from '../../family/types.js'
import { findProcesses } from '../../fs/processes.js'
import { MesosData } from './data.js'
import { MESOS_CHECKS } from './checks/index.js'
import { MESOS_FORMATS } from './formats/index.js'
import { emptyMesosStore, mesosEvidence, requireWorkDir } from './identify.js'
import { AGENT_PROCESSES, STAGING_CLAIMS } from './paths.js'
import { currentMesosFormat } from './current-format.js'
import { detectMesos } from './detect.js'
import { mesosLayerTree } from './layer-tree.js'
import { BACKENDS, type Backend } from './descriptor.js'
import { UsageError } from '../../errors.js'

export const mesosFamily: Family<MesosData> = {
  name: 'mesos',
  title: 'a Mesos docker store',
  formats: MESOS_FORMATS,
  storeHint: "a Mesos docker store (the agent's --docker_store_dir, /tmp/mesos/store/docker by default)",
  recognise: (fs, dir) => mesosEvidence(fs, dir),
  looksLike: emptyMesosStore,
  guard: (fs, _store, procRoot) => findProcesses(fs, AGENT_PROCESSES, procRoot),
  claims: STAGING_CLAIMS,
  currentFormat: currentMesosFormat,
  detect: (fs, options) => detectMesos(fs, options),
  layerTree: mesosLayerTree,
  check: {
    checks: MESOS_CHECKS,
    async data(fs, store, options) {
      if (options.backend !== undefined && !(BACKENDS as readonly string[]).includes(options.backend)) {
        throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, not ${options.backend}`)
      }
      if (options.pruneLayers && options.workDir === undefined) {
        throw new UsageError('--prune-layers needs --work-dir: the layers running containers use are named only in their dirs there')
      }
      const provisioner = options.workDir === undefined ? undefined : await requireWorkDir(fs, options.workDir)
      return new MesosData(fs, store, provisioner, {
        ...(options.knownContainers !== undefined ? { knownContainers: options.knownContainers } : {}),
        ...(options.runtimeDir !== undefined ? { runtimeDir: options.runtimeDir, runtimeDirGiven: true } : {}),
        ...(options.procFilesystems !== undefined ? { procFilesystems: options.procFilesystems } : {}),
        ...(options.procRoot !== undefined ? { procRoot: options.procRoot } : {}),
        ...(options.graceMs !== undefined ? { graceMs: options.graceMs } : {}),
        ...(options.backend !== undefined ? { backend: options.backend as Backend } : {}),
      })
    },
  },
}
