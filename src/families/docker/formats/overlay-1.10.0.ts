import { defineDockerFormat } from './format.js'
import { dockerOverlay_1_4_0 } from './overlay-1.4.0.js'
import { ATOMIC_WRITE, IMAGE_ENTRIES, LAYERDB_ENTRIES, LAYERDB_ID_SHAPES, rootEntries_1_10, WRITE_SET } from './shared.js'

/**
 * Docker 1.10.0: content-addressable images (moby PR 17924, 500e77bad).
 * Image and layer metadata move to `image/overlay/{imagedb,layerdb}`; a
 * layer dir is named by a random cache-id that its layer record holds, a
 * container's by a random mount-id (its init layer `<mount-id>-init`). The
 * driver's own layout is unchanged.
 */
export const dockerOverlay_1_10_0 = defineDockerFormat({
  ...dockerOverlay_1_4_0,
  version: '1.10.0',
  title: 'overlay: layerdb and imagedb, random cache-ids',
  introducedBy: 'Docker 1.10.0 (moby PR 17924, 500e77bad "Add layer store")',
  metadata: 'layerdb',
  idShapes: LAYERDB_ID_SHAPES,
  tempNames: [...dockerOverlay_1_4_0.tempNames, WRITE_SET, ATOMIC_WRITE],
  rootEntries: rootEntries_1_10('overlay'),
  layerDbEntries: LAYERDB_ENTRIES,
  imageEntries: IMAGE_ENTRIES,
  evidence: [{ id: 'layerdb', describe: 'image/overlay/layerdb exists' }],
})
