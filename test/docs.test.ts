import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { COMMANDS } from '../src/cli/commands.js'
import { allFormats } from '../src/format/registry.js'
import { renderChecksDoc } from '../src/check/doc.js'
import { allChecks } from '../src/check/registry.js'
import { FAMILIES } from '../src/families/index.js'
import { COMMON_CHECKS } from '../src/check/common.js'

/** Mesos descriptors are named by version; Docker's by driver and version. */
const formatFile = (family: string, f: { family: string; version: string }): string => (family === 'mesos' ? f.version : `${f.family.replace(/^docker-/, '')}-${f.version}`)

const read = (p: string): string => readFileSync(new URL(`../${p}`, import.meta.url), 'utf8')

describe('the documentation', () => {
  it('lists every format version with the file that defines it', () => {
    const doc = read('docs/formats.md')
    for (const family of FAMILIES) {
      for (const f of family.formats) expect(doc).toContain(`src/families/${family.name}/formats/${formatFile(family.name, f)}.ts`)
    }
    expect(allFormats().length).toBeGreaterThan(6)
  })

  it('keeps docs/checks.md as the check registry generates it', () => {
    expect(read('docs/checks.md'), 'run `npm run docs:checks`').toBe(renderChecksDoc())
  })

  it('names each check file after its code, in its family\'s folder or among the shared checks', () => {
    const shared = new Set<string>(Object.values(COMMON_CHECKS).flat().map((c) => c.code))
    for (const { check: c, families } of allChecks()) {
      const file = shared.has(c.code) ? `src/check/checks/${c.code}.ts` : `src/families/${families[0]}/checks/${c.code}.ts`
      expect(read(file)).toContain(`code: '${c.code}'`)
    }
  })

  it('documents every command in the README', () => {
    const readme = read('README.md')
    for (const c of COMMANDS) expect(readme).toContain(`layerfsck ${c.name}`)
  })

  it('gives the two set-up commands .ci/run relies on', () => {
    expect(read('README.md')).toContain('npm ci && npm run demo')
    expect(read('README.md')).toContain('npm test')
    expect(read('.ci/run')).toMatch(/^npm test$/m)
  })
})
