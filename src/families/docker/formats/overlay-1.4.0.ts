import { OVERLAY_TMPROOT } from '../paths.js'
import { LAYERDB_ID_SHAPES } from './shared.js'
import { defineDockerFormat } from './format.js'

/**
 * Docker 1.4.0: the overlay graph driver (moby PR 7619; renamed from
 * overlayfs in PR 9426). An image layer is a whole flattened rootfs,
 * `<id>/root/`, built by hard-linking the parent's `root/` and applying the
 * layer's tar on top, so deletions really delete and there are no
 * whiteouts. A container (and its `-init` layer) is an overlay mount:
 * `lower-id` names the image's top layer, whose `root/` is the lower dir,
 * over `upper/` and `work/`, mounted on `merged/`. Image metadata lives in
 * the pre-1.10 `graph/`, and layer dirs are named by image ids.
 */
export const dockerOverlay_1_4_0 = defineDockerFormat({
  family: 'docker-overlay',
  driver: 'overlay',
  version: '1.4.0',
  title: 'overlay: flattened root/ per image layer, overlay mounts for containers',
  introducedBy: 'Docker 1.4.0 (moby PR 7619 "overlayfs graphdriver", renamed in PR 9426)',
  metadata: 'graph',
  layerEntries: [
    { name: 'root', kind: 'dir', roles: ['image-base', 'image'], required: true, when: 'always', describe: "the image's whole rootfs up to this layer, files hard-linked to the parent layer's" },
    { name: 'lower-id', kind: 'file', roles: ['init', 'container'], required: true, when: 'always', describe: "the id (64 hex, no newline) of the image layer whose root/ is the lower dir" },
    { name: 'upper', kind: 'dir', roles: ['init', 'container'], required: true, when: 'always', describe: "the container's changes, overlay upper dir (a container's starts as a copy of its -init layer's)" },
    { name: 'work', kind: 'dir', roles: ['init', 'container'], required: true, when: 'always', describe: "overlayfs' workdir" },
    { name: 'merged', kind: 'dir', roles: ['init', 'container'], required: false, when: 'always', describe: 'the mount point, made when the layer is created' },
  ],
  contentDirs: [
    { dir: 'root', roles: ['image-base', 'image'], whiteouts: 'none', describe: 'a flattened tree: deletions are real, no whiteouts and no opaque xattrs' },
    { dir: 'upper', roles: ['init', 'container'], whiteouts: 'overlay', describe: 'overlay form, written by the kernel: char 0/0 whiteouts, trusted.overlay.opaque=y dirs' },
  ],
  shortLinks: undefined,
  // The graph/ metadata of 1.4 named layers and containers with the same ids layerdb later kept.
  idShapes: LAYERDB_ID_SHAPES,
  tempNames: [
    {
      id: 'overlay-tmproot',
      where: 'overlay/<id>',
      pattern: OVERLAY_TMPROOT,
      describe: "an image layer's root/ being built (ApplyDiff), renamed to root/ when the layer's tar is applied",
    },
  ],
  rootEntries: [
    { name: 'containers', kind: 'dir', required: true, describe: 'one dir per container' },
    { name: 'graph', kind: 'dir', required: true, describe: 'image metadata: graph/<image id>/{json,layersize}' },
    { name: 'overlay', kind: 'dir', required: true, describe: "the overlay driver's layer contents" },
    { name: 'repositories-overlay', kind: 'file', required: false, describe: 'tags' },
    { name: 'linkgraph.db', kind: 'file', required: false, describe: 'container links' },
    { name: 'volumes', kind: 'dir', required: false, describe: 'volume configs' },
    { name: 'vfs', kind: 'dir', required: false, describe: 'volume data (vfs/dir/<id>) before 1.7' },
    { name: 'execdriver', kind: 'dir', required: false, describe: "the exec driver's state" },
    { name: 'init', kind: 'dir', required: false, describe: 'dockerinit copies' },
    { name: 'tmp', kind: 'dir', required: false, describe: "dockerd's temp dir" },
    { name: 'trust', kind: 'dir', required: false, describe: 'content trust data (1.8 and later)' },
    { name: 'network', kind: 'dir', required: false, describe: 'libnetwork state (1.9 and later)' },
  ],
  layerDbEntries: [],
  imageEntries: [],
  evidence: [{ id: 'graph-metadata', describe: 'graph/ beside overlay/ and no image/overlay/layerdb' }],
  removedIn: '24.0.0',
})
