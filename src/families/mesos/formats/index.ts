/**
 * Every Mesos docker store format layerfsck knows, oldest first. Adding a
 * version is adding a file here and a line in this list; nothing else
 * branches on version numbers.
 */
import { semver } from '../../../format/semver.js'
import type { FormatDescriptor, RootfsVariant } from '../descriptor.js'
import { mesosDocker_1_0_0 } from './1.0.0.js'
import { mesosDocker_1_1_0 } from './1.1.0.js'
import { mesosDocker_1_1_1 } from './1.1.1.js'
import { mesosDocker_1_2_0 } from './1.2.0.js'
import { mesosDocker_1_5_0 } from './1.5.0.js'
import { mesosDocker_1_8_0 } from './1.8.0.js'

export const MESOS_FORMATS: readonly Readonly<FormatDescriptor>[] = Object.freeze([
  mesosDocker_1_0_0,
  mesosDocker_1_1_0,
  mesosDocker_1_1_1,
  mesosDocker_1_2_0,
  mesosDocker_1_5_0,
  mesosDocker_1_8_0,
])

/** The version line Mesos descriptors and stamps carry. */
export const MESOS_LINE = 'mesos-docker'

export function latestMesosFormat(): Readonly<FormatDescriptor> {
  return MESOS_FORMATS[MESOS_FORMATS.length - 1]!
}

/** The Mesos descriptor for a version, or the newest one not newer than it (a stamp from a newer minor). */
export function mesosFormat(version: string): Readonly<FormatDescriptor> {
  let best = MESOS_FORMATS[0]!
  for (const f of MESOS_FORMATS) if (semver.lte(f.version, version)) best = f
  return best
}

/**
 * A rootfs variant directory as the newest format that has it describes
 * it: the whiteout form its readers need (Mesos 1.1.0 wrote aufs whiteouts
 * into rootfs.overlay, but overlayfs reads that dir and needs its own form).
 */
export function knownVariant(dir: string): Readonly<RootfsVariant> | undefined {
  for (const f of [...MESOS_FORMATS].reverse()) {
    const v = f.rootfsVariants.find((r) => r.dir === dir)
    if (v !== undefined) return v
  }
  return undefined
}

export const VARIANT_DIRS: readonly string[] = [...new Set(MESOS_FORMATS.flatMap((f) => f.rootfsVariants.map((v) => v.dir)))]
