import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { COMMANDS } from '../src/cli/commands.js'
import { FORMATS } from '../src/format/registry.js'
import { renderChecksDoc } from '../src/check/doc.js'
import { CHECKS } from '../src/check/registry.js'

const read = (p: string): string => readFileSync(new URL(`../${p}`, import.meta.url), 'utf8')

describe('the documentation', () => {
  it('lists every format version with the file that defines it', () => {
    const doc = read('docs/formats.md')
    for (const f of FORMATS) expect(doc).toContain(`src/format/${f.family}/${f.version}.ts`)
  })

  it('keeps docs/checks.md as the check registry generates it', () => {
    expect(read('docs/checks.md'), 'run `npm run docs:checks`').toBe(renderChecksDoc())
  })

  it('names each check file after its code, so a code leads to its file', () => {
    for (const c of CHECKS) expect(read(`src/check/checks/${c.code}.ts`)).toContain(`code: '${c.code}'`)
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
