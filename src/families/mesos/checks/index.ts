/**
 * Every check a Mesos docker store and provisioner dir get, in the order
 * they run: one file per check, named by its code (the shared ones live in
 * src/check/checks/). Adding a check is adding a file and a line here.
 */
import { COMMON_CHECKS } from '../../../check/common.js'
import type { CheckSpec } from '../../../check/types.js'
import type { MesosData } from '../data.js'
import { backendUnsupported } from './backend-unsupported.js'
import { checkpointTemp } from './checkpoint-temp.js'
import { checkpointTempUnknown } from './checkpoint-temp-unknown.js'
import { containerNotLive } from './container-not-live.js'
import { containerLayerPathMissing } from './container-layer-path-missing.js'
import { containerLayersMissing } from './container-layers-missing.js'
import { containerLayersUnreadable } from './container-layers-unreadable.js'
import { gcLeftover } from './gc-leftover.js'
import { gcUnknownEntry } from './gc-unknown-entry.js'
import { imageConfigMissing } from './image-config-missing.js'
import { imageLayerMissing } from './image-layer-missing.js'
import { layerIdInvalid } from './layer-id-invalid.js'
import { layerJsonUnreadable } from './layer-json-unreadable.js'
import { layerNoRootfs } from './layer-no-rootfs.js'
import { layerUnreferenced } from './layer-unreferenced.js'
import { layersPruneBlocked } from './layers-prune-blocked.js'
import { layersUnknownEntry } from './layers-unknown-entry.js'
import { linksDangling } from './links-dangling.js'
import { linksNotSymlink } from './links-not-symlink.js'
import { lowerdirMissing } from './lowerdir-missing.js'
import { mountLivenessUnknown } from './mount-liveness-unknown.js'
import { orphanMount } from './orphan-mount.js'
import { probeLeftover } from './probe-leftover.js'
import { rootfsNotMounted } from './rootfs-not-mounted.js'
import { stagingLeftover } from './staging-leftover.js'
import { stagingUnknownEntry } from './staging-unknown-entry.js'
import { storeUnknownEntry } from './store-unknown-entry.js'
import { storedImagesUnreadable } from './stored-images-unreadable.js'

export const MESOS_CHECKS: readonly CheckSpec<MesosData>[] = [
  storeUnknownEntry,
  layersUnknownEntry,
  layerIdInvalid,
  layerNoRootfs,
  layerJsonUnreadable,
  ...COMMON_CHECKS.journal,
  stagingLeftover,
  stagingUnknownEntry,
  gcLeftover,
  gcUnknownEntry,
  checkpointTemp,
  checkpointTempUnknown,
  probeLeftover,
  ...COMMON_CHECKS.contents,
  storedImagesUnreadable,
  imageLayerMissing,
  imageConfigMissing,
  containerLayersUnreadable,
  containerLayersMissing,
  containerLayerPathMissing,
  layerUnreferenced,
  layersPruneBlocked,
  orphanMount,
  mountLivenessUnknown,
  containerNotLive,
  backendUnsupported,
  rootfsNotMounted,
  lowerdirMissing,
  linksNotSymlink,
  linksDangling,
  ...COMMON_CHECKS.host,
  ...COMMON_CHECKS.last,
]
