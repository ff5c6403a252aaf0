import { describe, expect, it } from 'vitest'
import { makeDirs, writeFileAll } from '../src/fs/io.js'
import { memorySubject } from './support/adapters.js'

describe('makeDirs', () => {
  it('creates every missing directory of a path and accepts one that exists', async () => {
    const { fs } = await memorySubject()
    await makeDirs(fs, '/work/a/b/c')
    await makeDirs(fs, '/work/a/b/c')
    expect((await fs.lstat('/work/a/b/c'))?.kind).toBe('dir')
  })

  it('refuses a path through a file instead of creating around it', async () => {
    const { fs } = await memorySubject()
    await writeFileAll(fs, '/work/f', 'x')
    await expect(makeDirs(fs, '/work/f/d')).rejects.toThrow(/\/work\/f exists and is not a directory/)
  })
})
