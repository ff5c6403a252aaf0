/**
 * The lookup over all families' checks. A family's own registry
 * (src/families/<family>/checks/index.ts) says in which order its checks and
 * the shared ones (common.ts) run; docs/checks.md is generated from the
 * families' lists (npm run docs:checks).
 */
import { FAMILIES } from '../families/index.js'
import type { FamilyName } from '../family/types.js'
import type { CheckSpec } from './types.js'

/** A family's checks, in the order they run. */
export function checksOf(family: FamilyName): readonly CheckSpec[] {
  return FAMILIES.find((f) => f.name === family)?.check.checks ?? []
}

/** Every check of every family, each once (shared ones under their first family), in run order. */
export function allChecks(): { check: CheckSpec; families: FamilyName[] }[] {
  const out = new Map<string, { check: CheckSpec; families: FamilyName[] }>()
  for (const family of FAMILIES) {
    for (const check of family.check.checks) {
      const seen = out.get(check.code)
      if (seen) seen.families.push(family.name)
      else out.set(check.code, { check, families: [family.name] })
    }
  }
  return [...out.values()]
}

export function checkByCode(code: string): CheckSpec | undefined {
  return allChecks().find((c) => c.check.code === code)?.check
}
