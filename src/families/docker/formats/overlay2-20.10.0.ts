import { defineDockerFormat } from './format.js'
import { dockerOverlay2_17_12_0 } from './overlay2-17.12.0.js'
import { REMOVING, rootEntries_20_10 } from './shared.js'

/**
 * Docker 20.10.0, the layout the fixtures hold: an empty `committed` file in
 * every layer that another layer was created on (moby PR 39780, 477bf1e41;
 * such a layer is then only ever mounted read-only), and layer records
 * renamed `<chain id>-<random>-removing` while their layer is deleted (moby
 * PR 39193, 213681b66).
 */
export const dockerOverlay2_20_10_0 = defineDockerFormat({
  ...dockerOverlay2_17_12_0,
  version: '20.10.0',
  title: 'overlay2: committed marks parents, -removing layer records',
  introducedBy: 'Docker 20.10.0 (moby PR 39780, 477bf1e41 "Fix overlay2 busy error on mount"; PR 39193, 213681b66)',
  layerEntries: [
    ...dockerOverlay2_17_12_0.layerEntries,
    {
      name: 'committed',
      kind: 'file',
      roles: ['image-base', 'image', 'init'],
      required: false,
      when: 'once-parent',
      describe: 'empty; the layer is a parent, so it is mounted read-only (lowerdir only)',
    },
  ],
  tempNames: [...dockerOverlay2_17_12_0.tempNames, REMOVING],
  rootEntries: rootEntries_20_10('overlay2'),
  evidence: [
    { id: 'committed-file', describe: 'a layer dir holds a committed file' },
    { id: 'removing-record', describe: 'layerdb/sha256 holds a <chain id>-…-removing record' },
  ],
})
