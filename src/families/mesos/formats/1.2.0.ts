import { defineFormat } from '../descriptor.js'
import { mesosDocker_1_1_1 } from './1.1.1.js'

/**
 * Mesos 1.2.0 (27a501615): the overlay backend's `links` symlink moves from
 * `backends/overlay/links` (one per backend dir, broken with several images
 * per container) to `backends/overlay/scratch/<rootfs_id>/links`. The image
 * store itself is laid out as in 1.1.1.
 */
export const mesosDocker_1_2_0 = defineFormat({
  ...mesosDocker_1_1_1,
  version: '1.2.0',
  title: 'overlay links per rootfs under scratch/<rootfs_id>/links',
  introducedBy: 'Mesos 1.2.0 (27a501615)',
  overlayLinks: 'scratch',
  evidence: [{ id: 'provisioner-scratch-links', describe: 'a container has backends/<b>/scratch/<id>/links' }],
})
