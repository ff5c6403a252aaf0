/**
 * The checks every family shares, one file each under checks/, named by its
 * code; a family's own registry (src/families/<family>/checks/index.ts)
 * places these groups among its checks. Kept apart from registry.ts, which
 * reads the families, so that a family's list can be built from these while
 * the families load.
 */
import { aufsMetaLeftover } from './checks/aufs-meta-leftover.js'
import { aufsWhiteoutInOverlay } from './checks/aufs-whiteout-in-overlay.js'
import { charDeviceNotWhiteout } from './checks/char-device-not-whiteout.js'
import { dirUnreadable } from './checks/dir-unreadable.js'
import { hostFsUnsupported } from './checks/host-fs-unsupported.js'
import { hostNoDtype } from './checks/host-no-dtype.js'
import { interruptedRun } from './checks/interrupted-run.js'
import { invalidWhiteoutName } from './checks/invalid-whiteout-name.js'
import { overlayWhiteoutInRootfs } from './checks/overlay-whiteout-in-rootfs.js'
import { trashLeftover } from './checks/trash-leftover.js'
import { symlinkEscapesLayer } from './checks/symlink-escapes-layer.js'
import { whiteoutConflict } from './checks/whiteout-conflict.js'
import { xattrsUnreadable } from './checks/xattrs-unreadable.js'
import type { CheckSpec } from './types.js'

/** Shared checks, grouped by where a family's list places them. */
export const COMMON_CHECKS = {
  /** Structure: a layerfsck run left unfinished, and what it was deleting. */
  journal: [interruptedRun, trashLeftover],
  /** The content walk of every layer tree, by the whiteout form its format gives it. */
  contents: [aufsWhiteoutInOverlay, overlayWhiteoutInRootfs, whiteoutConflict, invalidWhiteoutName, aufsMetaLeftover, charDeviceNotWhiteout, symlinkEscapesLayer],
  /** Host facts. */
  host: [hostFsUnsupported, hostNoDtype, xattrsUnreadable],
  /** Last of all: it reports what every earlier check could not read. */
  last: [dirUnreadable],
} as const satisfies Record<string, readonly CheckSpec[]>

