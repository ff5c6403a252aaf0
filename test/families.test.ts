import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { FAMILIES } from '../src/families/index.js'
import { allFormats } from '../src/format/registry.js'

const SRC = fileURLToPath(new URL('../src', import.meta.url))

/** Names only a family's own folder may say: its layout is its descriptors' business. */
const FAMILY_WORDS = ['rootfs.overlay', 'storedImages', 'provisioner', 'overlay2', 'layerdb']

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : []
  })
}

describe('the framework', () => {
  it('names no family: no family-specific word appears outside src/families/', () => {
    const offending: string[] = []
    for (const file of sources(SRC)) {
      const rel = relative(SRC, file)
      if (rel.startsWith('families/')) continue
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          for (const word of FAMILY_WORDS) if (line.includes(word)) offending.push(`src/${rel}:${i + 1}: ${word}`)
        })
    }
    expect(offending).toEqual([])
  })

  it('finds each family in its own folder, with its descriptors, checks and detect', () => {
    for (const family of FAMILIES) {
      const folder = join(SRC, 'families', family.name)
      expect(statSync(join(folder, 'formats')).isDirectory(), family.name).toBe(true)
      expect(statSync(join(folder, 'checks', 'index.ts')).isFile(), family.name).toBe(true)
      expect(family.formats.length, family.name).toBeGreaterThan(0)
      expect(family.check.checks.length, family.name).toBeGreaterThan(0)
    }
    expect(FAMILIES.map((f) => f.name)).toEqual(['mesos', 'docker'])
  })

  it('keeps every format version line within one family, and each version once', () => {
    const seen = new Set<string>()
    for (const f of allFormats()) {
      const key = `${f.family} ${f.version}`
      expect(seen.has(key), key).toBe(false)
      seen.add(key)
    }
    for (const family of FAMILIES) {
      for (const other of FAMILIES) {
        if (other === family) continue
        const lines = new Set(other.formats.map((f) => f.family))
        expect(family.formats.filter((f) => lines.has(f.family))).toEqual([])
      }
    }
  })
})
