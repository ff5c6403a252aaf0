import { SHORT_LINK } from '../paths.js'
import { defineDockerFormat } from './format.js'
import { ATOMIC_WRITE, IMAGE_ENTRIES, LAYERDB_ENTRIES, LAYERDB_ID_SHAPES, rootEntries_1_10, WRITE_SET } from './shared.js'

/**
 * Docker 1.12.0: the overlay2 driver (moby PR 22126, 23e5c94cf), one dir
 * per layer with its own `diff/` and a `lower` file naming every layer below
 * by a 26-character short link in `l/`, so deep images fit in one page of
 * mount options. A base layer gets only `diff/` and `link`; every other
 * layer also `work/`, `merged/` (made at create) and `lower`.
 */
export const dockerOverlay2_1_12_0 = defineDockerFormat({
  family: 'docker-overlay2',
  driver: 'overlay2',
  version: '1.12.0',
  title: 'overlay2: diff/ per layer, lower chains of l/ short links',
  introducedBy: 'Docker 1.12.0 (moby PR 22126, 23e5c94cf "Add separate overlay2 driver")',
  metadata: 'layerdb',
  layerEntries: [
    { name: 'diff', kind: 'dir', roles: ['image-base', 'image', 'init', 'container'], required: true, when: 'always', describe: "the layer's own content, the overlay upper dir of its mounts" },
    { name: 'link', kind: 'file', roles: ['image-base', 'image', 'init', 'container'], required: true, when: 'always', describe: "the layer's 26-character short name; l/<name> -> ../<id>/diff" },
    { name: 'lower', kind: 'file', roles: ['image', 'init', 'container'], required: true, when: 'always', describe: 'l/<name>:l/<name>:…, every layer below, nearest first; absent on a base layer' },
    { name: 'work', kind: 'dir', roles: ['image', 'init', 'container'], required: true, when: 'always', describe: "overlayfs' workdir; absent on a base layer" },
    { name: 'merged', kind: 'dir', roles: ['image', 'init', 'container'], required: false, when: 'always', describe: 'the mount point, made when the layer is created' },
  ],
  contentDirs: [
    { dir: 'diff', roles: ['image-base', 'image', 'init', 'container'], whiteouts: 'overlay', describe: 'overlay form: char 0/0 whiteouts, trusted.overlay.opaque=y dirs' },
  ],
  shortLinks: { dir: 'l', target: 'diff' },
  idShapes: { ...LAYERDB_ID_SHAPES, shortLink: SHORT_LINK },
  tempNames: [WRITE_SET, ATOMIC_WRITE],
  rootEntries: rootEntries_1_10('overlay2'),
  layerDbEntries: LAYERDB_ENTRIES,
  imageEntries: IMAGE_ENTRIES,
  evidence: [{ id: 'short-links', describe: 'the driver dir holds l/, the short links only overlay2 makes' }],
})
