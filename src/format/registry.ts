/**
 * Every format layerfsck knows, across families: a family contributes its
 * descriptors (src/families/<family>/formats/), each on a version line named
 * by its `family` field. Stamps name a line and a version; these answer
 * which descriptor that is. Nothing else branches on version numbers.
 */
import { semver } from './semver.js'
import { FAMILIES } from '../families/index.js'
import type { Family, FormatInfo } from '../family/types.js'

export function allFormats(): readonly FormatInfo[] {
  return FAMILIES.flatMap((f) => f.formats)
}

/** The descriptors of one version line, oldest first. */
export function formatsOf(line: string): readonly FormatInfo[] {
  return allFormats()
    .filter((f) => f.family === line)
    .sort((a, b) => semver.compare(a.version, b.version))
}

export function latestFormat(line: string): FormatInfo | undefined {
  return formatsOf(line).at(-1)
}

export function findFormat(line: string, version: string): FormatInfo | undefined {
  return allFormats().find((f) => f.family === line && f.version === version)
}

/** The newest known format of a line whose version is at most `version` (for stamps from newer minors). */
export function closestFormat(line: string, version: string): FormatInfo | undefined {
  let best: FormatInfo | undefined
  for (const f of formatsOf(line)) if (semver.lte(f.version, version)) best = f
  return best
}

export function isFormatLine(name: string): boolean {
  return allFormats().some((f) => f.family === name)
}

/** The family whose descriptors hold this version line. */
export function familyOfLine(line: string): Family | undefined {
  return FAMILIES.find((fam) => fam.formats.some((f) => f.family === line))
}
