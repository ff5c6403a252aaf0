/**
 * Every check, in the order they run: one file per check under checks/,
 * named by its code. Adding a check is adding a file and a line here;
 * docs/checks.md is generated from this list (npm run docs:checks).
 */
import { storeUnknownEntry } from './checks/store-unknown-entry.js'
import { layersUnknownEntry } from './checks/layers-unknown-entry.js'
import { layerIdInvalid } from './checks/layer-id-invalid.js'
import { layerNoRootfs } from './checks/layer-no-rootfs.js'
import { layerJsonUnreadable } from './checks/layer-json-unreadable.js'
import { interruptedRun } from './checks/interrupted-run.js'
import { stagingLeftover } from './checks/staging-leftover.js'
import { stagingUnknownEntry } from './checks/staging-unknown-entry.js'
import { gcLeftover } from './checks/gc-leftover.js'
import { gcUnknownEntry } from './checks/gc-unknown-entry.js'
import { checkpointTemp } from './checks/checkpoint-temp.js'
import { checkpointTempUnknown } from './checks/checkpoint-temp-unknown.js'
import { probeLeftover } from './checks/probe-leftover.js'
import { aufsWhiteoutInOverlay } from './checks/aufs-whiteout-in-overlay.js'
import { overlayWhiteoutInRootfs } from './checks/overlay-whiteout-in-rootfs.js'
import { whiteoutConflict } from './checks/whiteout-conflict.js'
import { invalidWhiteoutName } from './checks/invalid-whiteout-name.js'
import { aufsMetaLeftover } from './checks/aufs-meta-leftover.js'
import { charDeviceNotWhiteout } from './checks/char-device-not-whiteout.js'
import { symlinkEscapesLayer } from './checks/symlink-escapes-layer.js'
import { storedImagesUnreadable } from './checks/stored-images-unreadable.js'
import { imageLayerMissing } from './checks/image-layer-missing.js'
import { imageConfigMissing } from './checks/image-config-missing.js'
import { containerLayersUnreadable } from './checks/container-layers-unreadable.js'
import { containerLayersMissing } from './checks/container-layers-missing.js'
import { containerLayerPathMissing } from './checks/container-layer-path-missing.js'
import { layerUnreferenced } from './checks/layer-unreferenced.js'
import { orphanMount } from './checks/orphan-mount.js'
import { mountLivenessUnknown } from './checks/mount-liveness-unknown.js'
import { backendUnsupported } from './checks/backend-unsupported.js'
import { rootfsNotMounted } from './checks/rootfs-not-mounted.js'
import { lowerdirMissing } from './checks/lowerdir-missing.js'
import { linksNotSymlink } from './checks/links-not-symlink.js'
import { linksDangling } from './checks/links-dangling.js'
import { hostFsUnsupported } from './checks/host-fs-unsupported.js'
import { hostNoDtype } from './checks/host-no-dtype.js'
import { xattrsUnreadable } from './checks/xattrs-unreadable.js'
import { dirUnreadable } from './checks/dir-unreadable.js'
import type { CheckSpec } from './types.js'

export const CHECKS: readonly CheckSpec[] = [
  storeUnknownEntry,
  layersUnknownEntry,
  layerIdInvalid,
  layerNoRootfs,
  layerJsonUnreadable,
  interruptedRun,
  stagingLeftover,
  stagingUnknownEntry,
  gcLeftover,
  gcUnknownEntry,
  checkpointTemp,
  checkpointTempUnknown,
  probeLeftover,
  aufsWhiteoutInOverlay,
  overlayWhiteoutInRootfs,
  whiteoutConflict,
  invalidWhiteoutName,
  aufsMetaLeftover,
  charDeviceNotWhiteout,
  symlinkEscapesLayer,
  storedImagesUnreadable,
  imageLayerMissing,
  imageConfigMissing,
  containerLayersUnreadable,
  containerLayersMissing,
  containerLayerPathMissing,
  layerUnreferenced,
  orphanMount,
  mountLivenessUnknown,
  backendUnsupported,
  rootfsNotMounted,
  lowerdirMissing,
  linksNotSymlink,
  linksDangling,
  hostFsUnsupported,
  hostNoDtype,
  xattrsUnreadable,
  // Last: it reports what every earlier check could not read.
  dirUnreadable,
]

export const checkByCode = new Map(CHECKS.map((c) => [c.code, c]))
