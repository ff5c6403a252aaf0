/**
 * The Docker checks of the containers-and-mounts pass, in the order they
 * run; the family's list (index.ts) places them.
 */
import type { CheckSpec } from '../../../check/types.js'
import type { DockerData } from '../data.js'
import { dockerMergedStaleMount } from './docker-merged-stale-mount.js'
import { dockerMountLivenessUnknown } from './docker-mount-liveness-unknown.js'

export const DOCKER_CONTAINER_CHECKS: readonly CheckSpec<DockerData>[] = [dockerMergedStaleMount, dockerMountLivenessUnknown]
