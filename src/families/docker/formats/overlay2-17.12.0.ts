import { defineDockerFormat } from './format.js'
import { dockerOverlay2_1_12_0 } from './overlay2-1.12.0.js'

/**
 * Docker 17.12.0: `merged/` is made at mount and removed at unmount (moby
 * PR 34948, af0d58962), so at rest no layer has one; a store that went
 * through 1.12–17.09 may still hold the empty ones made at create.
 */
export const dockerOverlay2_17_12_0 = defineDockerFormat({
  ...dockerOverlay2_1_12_0,
  version: '17.12.0',
  title: 'overlay2: merged/ only while mounted',
  introducedBy: 'Docker 17.12.0-ce (moby PR 34948, af0d58962 "graphdriver/overlay{,2}: remove \'merged\' on umount")',
  layerEntries: dockerOverlay2_1_12_0.layerEntries.map((e) =>
    e.name === 'merged'
      ? { ...e, roles: ['image-base', 'image', 'init', 'container'], when: 'while-mounted', describe: 'the mount point, made at mount and removed at unmount' }
      : e,
  ),
  evidence: [{ id: 'no-merged-at-rest', describe: 'a non-base layer dir without merged/ (older releases made it at create and never removed it)' }],
})
