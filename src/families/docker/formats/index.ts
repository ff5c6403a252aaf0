/**
 * Every Docker format layerfsck knows, one version line per driver, oldest
 * first in each. Adding a version is adding a file and a line here.
 */
import { semver } from '../../../format/semver.js'
import type { DockerDriver } from '../paths.js'
import type { DockerFormat, DockerFormatLine } from './format.js'
import { dockerOverlay_1_4_0 } from './overlay-1.4.0.js'
import { dockerOverlay_1_10_0 } from './overlay-1.10.0.js'
import { dockerOverlay_17_12_0 } from './overlay-17.12.0.js'
import { dockerOverlay_20_10_0 } from './overlay-20.10.0.js'
import { dockerOverlay2_1_12_0 } from './overlay2-1.12.0.js'
import { dockerOverlay2_17_12_0 } from './overlay2-17.12.0.js'
import { dockerOverlay2_20_10_0 } from './overlay2-20.10.0.js'

export const DOCKER_OVERLAY2_FORMATS: readonly Readonly<DockerFormat>[] = Object.freeze([
  dockerOverlay2_1_12_0,
  dockerOverlay2_17_12_0,
  dockerOverlay2_20_10_0,
])

export const DOCKER_OVERLAY_FORMATS: readonly Readonly<DockerFormat>[] = Object.freeze([
  dockerOverlay_1_4_0,
  dockerOverlay_1_10_0,
  dockerOverlay_17_12_0,
  dockerOverlay_20_10_0,
])

/** Both lines, each oldest first. */
export const DOCKER_FORMATS: readonly Readonly<DockerFormat>[] = Object.freeze([...DOCKER_OVERLAY2_FORMATS, ...DOCKER_OVERLAY_FORMATS])

export const DOCKER_FORMATS_BY_DRIVER: Readonly<Record<DockerDriver, readonly Readonly<DockerFormat>[]>> = Object.freeze({
  overlay2: DOCKER_OVERLAY2_FORMATS,
  overlay: DOCKER_OVERLAY_FORMATS,
})

export function dockerLine(driver: DockerDriver): DockerFormatLine {
  return driver === 'overlay2' ? 'docker-overlay2' : 'docker-overlay'
}

/**
 * The driver's descriptor for a version, or the newest one not newer than it
 * (a root written by a later release). Docker's own numbers are taken as
 * they are printed (`19.03.15`, `20.10.24+dfsg1`), which strict semver refuses.
 */
export function dockerFormat(driver: DockerDriver, version: string): Readonly<DockerFormat> {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(version)
  if (!m) throw new Error(`not a Docker version: ${version}`)
  const wanted = `${Number(m[1])}.${Number(m[2])}.${Number(m[3] ?? 0)}`
  const line = DOCKER_FORMATS_BY_DRIVER[driver]
  let best = line[0]!
  for (const f of line) if (semver.lte(f.version, wanted)) best = f
  return best
}

export type { DockerFormat, DockerFormatLine } from './format.js'
