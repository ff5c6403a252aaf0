/**
 * Every format layerfsck knows, oldest first. Adding a version is adding a
 * file under `mesos-docker/` and a line here; nothing else branches on
 * version numbers.
 */
import semver from 'semver'
import type { FormatDescriptor } from './descriptor.js'
import { mesosDocker_1_0_0 } from './mesos-docker/1.0.0.js'
import { mesosDocker_1_1_0 } from './mesos-docker/1.1.0.js'
import { mesosDocker_1_1_1 } from './mesos-docker/1.1.1.js'
import { mesosDocker_1_2_0 } from './mesos-docker/1.2.0.js'
import { mesosDocker_1_5_0 } from './mesos-docker/1.5.0.js'
import { mesosDocker_1_8_0 } from './mesos-docker/1.8.0.js'

export const FORMATS: readonly Readonly<FormatDescriptor>[] = Object.freeze([
  mesosDocker_1_0_0,
  mesosDocker_1_1_0,
  mesosDocker_1_1_1,
  mesosDocker_1_2_0,
  mesosDocker_1_5_0,
  mesosDocker_1_8_0,
])

export type FormatFamily = FormatDescriptor['family']
export const FAMILIES: readonly FormatFamily[] = ['mesos-docker']

export function formatsOf(family: FormatFamily): readonly Readonly<FormatDescriptor>[] {
  return FORMATS.filter((f) => f.family === family)
}

export function latestFormat(family: FormatFamily): Readonly<FormatDescriptor> {
  const all = formatsOf(family)
  return all[all.length - 1]!
}

export function findFormat(family: string, version: string): Readonly<FormatDescriptor> | undefined {
  return FORMATS.find((f) => f.family === family && f.version === version)
}

/** The newest known format of a family whose version is at most `version` (for stamps from newer minors). */
export function closestFormat(family: FormatFamily, version: string): Readonly<FormatDescriptor> | undefined {
  let best: Readonly<FormatDescriptor> | undefined
  for (const f of formatsOf(family)) if (semver.lte(f.version, version)) best = f
  return best
}

export function isFamily(name: string): name is FormatFamily {
  return (FAMILIES as readonly string[]).includes(name)
}
