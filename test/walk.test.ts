import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { errnoError } from '../src/errors.js'
import { makeDirs, writeFileAll } from '../src/fs/io.js'
import { createMemoryFs } from '../src/fs/memory.js'
import type { FsPort } from '../src/fs/port.js'
import { decodeName } from '../src/fs/name-bytes.js'
import { startTreeListing, walkDirectories } from '../src/fs/walk.js'
import { SUBJECTS, type Subject } from './support/adapters.js'

/** The port refusing to list `denied` (EACCES), as a directory of mode 0311 refuses a user who does not own it. */
function denyListing(fs: FsPort, denied: readonly string[]): FsPort {
  return new Proxy(fs, {
    get(target, key) {
      if (key === 'readdir') {
        return async (path: string) => {
          if (denied.includes(path)) throw errnoError('EACCES', 'scandir', path)
          return target.readdir(path)
        }
      }
      const value = Reflect.get(target, key) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

async function walked(fs: FsPort, root: string, options?: Parameters<typeof walkDirectories>[2]): Promise<string[]> {
  const out: string[] = []
  for await (const d of walkDirectories(fs, root, options)) out.push(`${d.rel || '.'}: ${d.entries.map((e) => e.name).sort().join(' ')}`)
  return out.sort()
}

for (const { name, make } of SUBJECTS) {
  describe(`the directory walk on the ${name} adapter`, () => {
    let s: Subject
    let root: string
    beforeEach(async () => {
      s = await make()
      root = `${s.root}/tree`
      await makeDirs(s.fs, `${root}/open/deeper`)
      await makeDirs(s.fs, `${root}/secret/below`)
      await writeFileAll(s.fs, `${root}/secret/below/file`, 'x')
      await writeFileAll(s.fs, `${root}/open/file`, 'x')
    })
    afterEach(async () => {
      await s.cleanup()
    })

    it('hands an unreadable directory to onUnreadable and walks on without it or anything below it', async () => {
      const fs = denyListing(s.fs, [`${root}/secret`])
      const unreadable: [string, string][] = []
      const seen = await walked(fs, root, { onUnreadable: (path, err) => unreadable.push([path, (err as NodeJS.ErrnoException).code!]) })
      expect(seen).toEqual(['.: open secret', 'open/deeper: ', 'open: deeper file'])
      expect(unreadable).toEqual([[`${root}/secret`, 'EACCES']])
    })

    it('throws on an unreadable directory when no one asked to hear of it, and on any other error either way', async () => {
      await expect(walked(denyListing(s.fs, [`${root}/secret`]), root)).rejects.toMatchObject({ code: 'EACCES' })
      await expect(walked(s.fs, `${root}/missing`, { onUnreadable: () => undefined })).rejects.toMatchObject({ code: 'ENOENT' })
    })

    it('stops when onUnreadable throws', async () => {
      const fs = denyListing(s.fs, [`${root}/secret`])
      const stop = (): never => {
        throw new Error('stop here')
      }
      await expect(walked(fs, root, { onUnreadable: stop })).rejects.toThrow('stop here')
    })

    it('reads ahead in parts of any size and visits the same directories, in the same order, as the plain walk', async () => {
      // A wider tree, with a name that is not UTF-8 on the way down and a device whose number the listing carries.
      const odd = decodeName(Buffer.from([0x6f, 0xff, 0x64]))
      await makeDirs(s.fs, `${root}/${odd}/x/y`)
      for (let i = 0; i < 30; i++) await writeFileAll(s.fs, `${root}/${odd}/x/f${i}`, 'x')
      await makeDirs(s.fs, `${root}/open/deeper/a/b/c`)
      const inOrder = async (options?: Parameters<typeof walkDirectories>[2]): Promise<string[]> => {
        const out: string[] = []
        for await (const d of walkDirectories(s.fs, root, options)) out.push(`${d.path}: ${d.entries.map((e) => `${e.name}/${e.kind}`).join(' ')}`)
        return out
      }
      const plain = await inOrder()
      expect(plain).toHaveLength(11)
      for (const readAhead of [1, 2, 7, 8192]) expect(await inOrder({ readAhead })).toEqual(plain)
      expect(await inOrder({ readAhead: 3, first: startTreeListing(s.fs, root, 3) })).toEqual(plain)
    })

    it('reading ahead, still throws on a missing root and names it', async () => {
      await expect(walked(s.fs, `${root}/missing`, { readAhead: 8, onUnreadable: () => undefined })).rejects.toMatchObject({
        code: 'ENOENT',
        path: `${root}/missing`,
      })
    })
  })
}

describe('the directory walk as an unprivileged process', () => {
  for (const [how, readAhead] of [
    ['', undefined],
    [', reading ahead,', 1],
  ] as const) {
    it(`skips a directory of mode 0 that it may not list${how} and names it`, async () => {
      const admin = createMemoryFs({ umask: 0o022 })
      await makeDirs(admin, '/t/open')
      await makeDirs(admin, '/t/locked/inner')
      await admin.chmod('/t/locked', 0o000)
      const user = createMemoryFs({ volume: admin.volume, uid: 1000, gid: 1000 })
      const unreadable: string[] = []
      const options = { onUnreadable: (path: string) => void unreadable.push(path), ...(readAhead ? { readAhead } : {}) }
      expect(await walked(user, '/t', options)).toEqual(['.: locked open', 'open: '])
      expect(unreadable).toEqual(['/t/locked'])
    })
  }
})
