import { defineDockerFormat } from './format.js'
import { dockerOverlay_1_10_0 } from './overlay-1.10.0.js'

/**
 * Docker 17.12.0: `merged/` is made at mount and removed at unmount (moby
 * PR 34948, af0d58962), so at rest no container layer has one.
 */
export const dockerOverlay_17_12_0 = defineDockerFormat({
  ...dockerOverlay_1_10_0,
  version: '17.12.0',
  title: 'overlay: merged/ only while mounted',
  introducedBy: 'Docker 17.12.0-ce (moby PR 34948, af0d58962 "graphdriver/overlay{,2}: remove \'merged\' on umount")',
  layerEntries: dockerOverlay_1_10_0.layerEntries.map((e) =>
    e.name === 'merged' ? { ...e, when: 'while-mounted', describe: 'the mount point, made at mount and removed at unmount' } : e,
  ),
  evidence: [{ id: 'no-merged-at-rest', describe: 'a container or -init layer dir without merged/ (older releases made it at create and never removed it)' }],
})
