import { defineFormat } from '../descriptor.js'
import { mesosDocker_1_5_0 } from './1.5.0.js'

/**
 * Mesos 1.8.0 (9f040066e, cd7591602; backported to 1.5.x-1.7.3): docker
 * manifest v2 schema 2. Layer ids are blob digests (`sha256:<hex>`, a colon
 * in a directory name), such layers carry no `json`, and the image config
 * blob is a regular file `layers/<config_digest>` next to the layer dirs.
 */
export const mesosDocker_1_8_0 = defineFormat({
  ...mesosDocker_1_5_0,
  version: '1.8.0',
  title: 'schema 2 digests as layer ids, config blobs in layers/',
  introducedBy: 'Mesos 1.8.0 (9f040066e, cd7591602)',
  layerIdShapes: ['hex64', 'sha256-digest'],
  configBlobsInLayers: true,
  evidence: [
    { id: 'layer-digest-id', describe: 'a layer dir is named sha256:<hex>' },
    { id: 'layers-config-blob', describe: 'layers/ holds a config blob file' },
    { id: 'stored-image-config-digest', describe: 'storedImages names a config digest' },
    { id: 'container-layers-config', describe: 'a layers checkpoint names a config blob' },
  ],
})
