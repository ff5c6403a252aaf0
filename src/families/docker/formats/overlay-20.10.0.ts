import { defineDockerFormat } from './format.js'
import { dockerOverlay_17_12_0 } from './overlay-17.12.0.js'
import { REMOVING, rootEntries_20_10 } from './shared.js'

/**
 * Docker 20.10.0, the last minor before the driver's removal in 24.0 and the
 * layout the fixture holds: layer records renamed
 * `<chain id>-<random>-removing` while their layer is deleted (moby PR
 * 39193, 213681b66). The driver's own layout is unchanged.
 */
export const dockerOverlay_20_10_0 = defineDockerFormat({
  ...dockerOverlay_17_12_0,
  version: '20.10.0',
  title: 'overlay: -removing layer records',
  introducedBy: 'Docker 20.10.0 (moby PR 39193, 213681b66 "First step to implement full garbage collector for image layers")',
  tempNames: [...dockerOverlay_17_12_0.tempNames, REMOVING],
  rootEntries: rootEntries_20_10('overlay'),
  evidence: [{ id: 'removing-record', describe: 'layerdb/sha256 holds a <chain id>-…-removing record' }],
})
