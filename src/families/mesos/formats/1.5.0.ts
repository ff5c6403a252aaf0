import { defineFormat } from '../descriptor.js'
import { mesosDocker_1_2_0 } from './1.2.0.js'

/**
 * Mesos 1.5.0: image pruning marks layers by renaming them into
 * `gc/<id>.<ns>` (bdb604a9d; Store::create makes `gc/` on every start), and
 * each container's layer paths are checkpointed as `ContainerLayers` in
 * `containers/<id>/layers` (e273efe69).
 */
export const mesosDocker_1_5_0 = defineFormat({
  ...mesosDocker_1_2_0,
  version: '1.5.0',
  title: 'gc/ for image pruning, per-container layers checkpoints',
  introducedBy: 'Mesos 1.5.0 (bdb604a9d, e273efe69)',
  storeEntries: [
    ...mesosDocker_1_2_0.storeEntries,
    { name: 'gc', kind: 'dir', required: false, describe: 'layers marked for removal (gc/<id>.<ns>)' },
  ],
  containerLayersCheckpoint: true,
  evidence: [
    { id: 'store-gc-dir', describe: 'the store has a gc/ directory' },
    { id: 'container-layers-checkpoint', describe: 'a container has a layers checkpoint' },
  ],
})
