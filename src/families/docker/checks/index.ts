/**
 * Every check a Docker overlay2 or overlay data root gets, in the order
 * they run: one file per check, named by its code (the shared ones live in
 * src/check/checks/). Adding a check is adding a file and a line here.
 */
import { COMMON_CHECKS } from '../../../check/common.js'
import type { CheckSpec } from '../../../check/types.js'
import type { DockerData } from '../data.js'
import { dockerMetadataUnreadable } from './docker-metadata-unreadable.js'
import { dockerCacheIdInvalid } from './docker-cache-id-invalid.js'
import { DOCKER_CONTAINER_CHECKS } from './containers.js'
import { dockerImageConfigInvalid } from './docker-image-config-invalid.js'
import { dockerLayerDirMissing } from './docker-layer-dir-missing.js'
import { dockerLayerDirOrphan } from './docker-layer-dir-orphan.js'
import { dockerLinkDangling } from './docker-link-dangling.js'
import { dockerLinkMismatch } from './docker-link-mismatch.js'
import { dockerLinkMissing } from './docker-link-missing.js'
import { dockerLowerIdMissing } from './docker-lower-id-missing.js'
import { dockerLowerInvalid } from './docker-lower-invalid.js'
import { dockerMountDirMissing } from './docker-mount-dir-missing.js'
import { dockerRemovingHazard } from './docker-removing-hazard.js'
import { dockerRemovingLeftover } from './docker-removing-leftover.js'
import { dockerRemovingRecord } from './docker-removing-record.js'
import { dockerRepositoriesDangling } from './docker-repositories-dangling.js'
import { dockerRootMissing } from './docker-root-missing.js'
import { dockerWhiteoutLost } from './docker-whiteout-lost.js'
import { dockerWriteSetLeftover } from './docker-write-set-leftover.js'

export const DOCKER_CHECKS: readonly CheckSpec<DockerData>[] = [
  dockerRemovingHazard,
  dockerRemovingRecord,
  dockerRemovingLeftover,
  dockerWriteSetLeftover,
  dockerLayerDirOrphan,
  dockerLinkMissing,
  dockerLinkDangling,
  dockerLinkMismatch,
  dockerLowerInvalid,
  ...COMMON_CHECKS.journal,
  ...COMMON_CHECKS.contents,
  dockerCacheIdInvalid,
  dockerLayerDirMissing,
  dockerRootMissing,
  dockerLowerIdMissing,
  dockerMountDirMissing,
  dockerImageConfigInvalid,
  dockerRepositoriesDangling,
  dockerWhiteoutLost,
  dockerMetadataUnreadable,
  ...DOCKER_CONTAINER_CHECKS,
  ...COMMON_CHECKS.host,
  ...COMMON_CHECKS.last,
]
