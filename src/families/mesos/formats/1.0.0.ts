import { defineFormat } from '../descriptor.js'

/**
 * Mesos 0.27 to 1.0.x: one `rootfs` per layer for every backend, whiteouts
 * left in aufs form (`.wh.<name>`, `.wh..wh..opq`); the provisioner removed
 * them from each container rootfs after provisioning. No store-level marker.
 */
export const mesosDocker_1_0_0 = defineFormat({
  family: 'mesos-docker',
  version: '1.0.0',
  title: 'one rootfs per layer, aufs whiteouts for every backend',
  introducedBy: 'Mesos 0.27.0 (storedImages, 43cc4c9a6); unchanged through 1.0.x',
  layerIdShapes: ['hex64'],
  rootfsVariants: [{ dir: 'rootfs', backends: ['overlay', 'aufs', 'copy', 'bind'], whiteouts: 'aufs' }],
  storeEntries: [
    { name: 'layers', kind: 'dir', required: true, describe: 'one directory per image layer' },
    { name: 'staging', kind: 'dir', required: false, describe: 'per-pull temp dirs (staging/XXXXXX)' },
    { name: 'storedImages', kind: 'file', required: false, describe: 'protobuf Images checkpoint' },
  ],
  layerEntries: [
    { name: 'json', kind: 'file', required: false, describe: 'v1 layer manifest (docker save or schema 1 pulls)' },
    { name: 'VERSION', kind: 'file', required: false, describe: 'docker save per-layer version file' },
    { name: 'layer.tar', kind: 'file', required: false, describe: 'archive left when extraction was interrupted' },
  ],
  configBlobsInLayers: false,
  containerLayersCheckpoint: false,
  overlayLinks: 'backend-dir',
  evidence: [],
})
