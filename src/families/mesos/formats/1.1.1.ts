import { defineFormat } from '../descriptor.js'
import { mesosDocker_1_1_0 } from './1.1.0.js'

/**
 * Mesos 1.1.1 and 1.2.0 (convertWhiteouts, 3800cfd0d): `rootfs.overlay` gets
 * overlay whiteouts at store time (char device 0/0 named `<name>`, opaque
 * dirs as `trusted.overlay.opaque=y`); `rootfs` keeps the aufs form for aufs,
 * copy and bind. Both variants may sit in one layer dir.
 */
export const mesosDocker_1_1_1 = defineFormat({
  ...mesosDocker_1_1_0,
  version: '1.1.1',
  title: 'rootfs.overlay holds overlay whiteouts, rootfs keeps aufs whiteouts',
  introducedBy: 'Mesos 1.1.1 and 1.2.0 (3800cfd0d, backport b810e22d3)',
  rootfsVariants: [
    { dir: 'rootfs', backends: ['aufs', 'copy', 'bind'], whiteouts: 'aufs' },
    { dir: 'rootfs.overlay', backends: ['overlay'], whiteouts: 'overlay' },
  ],
  evidence: [
    {
      id: 'rootfs-overlay-native-whiteouts',
      describe: 'a rootfs.overlay holds overlay whiteouts',
    },
  ],
})
