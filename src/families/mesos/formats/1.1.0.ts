import { defineFormat } from '../descriptor.js'
import { mesosDocker_1_0_0 } from './1.0.0.js'

/**
 * Mesos 1.1.0 (MESOS-6360): the overlay backend reads `rootfs.overlay`, the
 * others keep `rootfs`. This release did not yet convert whiteouts, so its
 * `rootfs.overlay` trees hold aufs-form `.wh.*` files, which every later
 * Mesos trusts as-is and overlayfs shows as plain files.
 */
export const mesosDocker_1_1_0 = defineFormat({
  ...mesosDocker_1_0_0,
  version: '1.1.0',
  title: 'backend-suffixed rootfs.overlay, whiteouts still in aufs form',
  introducedBy: 'Mesos 1.1.0 (3f6503861, MESOS-6360)',
  rootfsVariants: [
    { dir: 'rootfs', backends: ['aufs', 'copy', 'bind'], whiteouts: 'aufs' },
    { dir: 'rootfs.overlay', backends: ['overlay'], whiteouts: 'aufs' },
  ],
  evidence: [{ id: 'layer-rootfs-overlay', describe: 'a layer has a rootfs.overlay directory' }],
})
