import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { errnoError } from '../src/errors.js'
import { makeDirs, writeFileAll } from '../src/fs/io.js'
import { createMemoryFs } from '../src/fs/memory.js'
import type { DirEntry, FsPort } from '../src/fs/port.js'
import { decodeName } from '../src/fs/name-bytes.js'
import {
  byName,
  startTreeListing,
  walkDirectories,
  walkParts,
  walkPreorder,
  walkPreorderRuns,
  type ListedDirectory,
  type PreorderDirectory,
  type PreorderRun,
  type WalkPartsOptions,
} from '../src/fs/walk.js'
import { SUBJECTS, type Subject } from './support/adapters.js'

/** The port with some of its methods replaced. */
function overriding(fs: FsPort, overrides: Partial<FsPort>): FsPort {
  return new Proxy(fs, {
    get(target, key) {
      if (key in overrides) return overrides[key as keyof FsPort]
      const value = Reflect.get(target, key) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/** The port refusing to list `denied` (EACCES), as a directory of mode 0311 refuses a user who does not own it. */
function denyListing(fs: FsPort, denied: readonly string[]): FsPort {
  return overriding(fs, {
    readdir: async (path: string) => {
      if (denied.includes(path)) throw errnoError('EACCES', 'scandir', path)
      return fs.readdir(path)
    },
  })
}

/** The walk's directories; read ahead (`walkParts`) in parts of `readAhead` entries when given. */
async function* directories(fs: FsPort, root: string, options: WalkPartsOptions & { readAhead?: number } = {}): AsyncGenerator<ListedDirectory> {
  if (options.readAhead === undefined) yield* walkDirectories(fs, root, options)
  else for await (const part of walkParts(fs, root, options.readAhead, options)) yield* part
}

async function walked(fs: FsPort, root: string, options?: WalkPartsOptions & { readAhead?: number }): Promise<string[]> {
  const out: string[] = []
  for await (const d of directories(fs, root, options)) out.push(`${d.rel || '.'}: ${d.entries.map((e) => e.name).sort().join(' ')}`)
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
      const inOrder = async (options?: WalkPartsOptions & { readAhead?: number }): Promise<string[]> => {
        const out: string[] = []
        for await (const d of directories(s.fs, root, options)) out.push(`${d.path}: ${d.entries.map((e) => `${e.name}/${e.kind}`).join(' ')}`)
        return out
      }
      const plain = await inOrder()
      expect(plain).toHaveLength(11)
      for (const readAhead of [1, 2, 7, 8192]) expect(await inOrder({ readAhead })).toEqual(plain)
      expect(await inOrder({ readAhead: 3, first: startTreeListing(s.fs, root, 3) })).toEqual(plain)
    })

    it('hands a read-ahead walk out a listing part at a time, the same directories in the same order', async () => {
      await makeDirs(s.fs, `${root}/open/deeper/a/b/c`)
      for (let i = 0; i < 10; i++) await writeFileAll(s.fs, `${root}/open/deeper/f${i}`, 'x')
      const plain: string[] = []
      for await (const d of walkDirectories(s.fs, root)) plain.push(d.path)
      for (const readAhead of [1, 4, 8192]) {
        const parts: string[][] = []
        for await (const part of walkParts(s.fs, root, readAhead)) parts.push(part.map((d) => d.path))
        expect(parts.flat()).toEqual(plain)
        // A part holds the directories of one listing call: all of them at once when one call lists the tree.
        if (readAhead === 8192) expect(parts).toHaveLength(1)
        else expect(parts.length).toBeGreaterThan(1)
      }
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

  it('hands out the directories of a part listed before one it may not list, then names that one', async () => {
    const admin = createMemoryFs({ umask: 0o022 })
    for (const d of ['/t/a', '/t/b/inner', '/t/c']) await makeDirs(admin, d)
    await admin.chmod('/t/b', 0o000)
    const user = createMemoryFs({ volume: admin.volume, uid: 1000, gid: 1000 })
    const seen: string[] = []
    for await (const part of walkParts(user, '/t', 8192, { onUnreadable: (path) => void seen.push(`unreadable ${path}`) })) {
      seen.push(part.map((d) => d.rel || '.').join(' '))
    }
    // Listed depth first, the last subdirectory first: the root and c come before b, a after it.
    expect(seen).toEqual(['. c', 'unreadable /t/b', 'a'])
  })
})

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The runs of a walk as `dir: names > child`, the child being the subdirectory a run ends with. */
async function runsOf(fs: FsPort, root: string, options: Parameters<typeof walkPreorderRuns>[2] = {}): Promise<string[]> {
  const out: string[] = []
  for await (const run of walkPreorderRuns(fs, root, options)) {
    const child = run.child === undefined ? '' : 'dir' in run.child ? ` > ${run.child.dir.rel}` : ' > failed'
    out.push(`${run.dir.rel || '.'}: ${run.names.join(' ')}${child}`)
  }
  return out
}

/** Pre-order as a recursion over sorted listings would give it: what the walks are held to. */
async function recursivePreorder(fs: FsPort, path: string, rel = ''): Promise<string[]> {
  const out: string[] = []
  for (const e of (await fs.readdir(path)).sort(byName)) {
    const r = rel === '' ? e.name : `${rel}/${e.name}`
    out.push(`${r}/${e.kind}`)
    if (e.kind === 'dir') out.push(...(await recursivePreorder(fs, `${path}/${e.name}`, r)))
  }
  return out
}

for (const { name, make } of SUBJECTS) {
  describe(`the pre-order walk in runs on the ${name} adapter`, () => {
    let s: Subject
    let root: string
    beforeEach(async () => {
      s = await make()
      root = `${s.root}/tree`
      // Root, sorted: a b/ c d e f g h/ i; b: sub/ x y; sub: z; h is empty.
      await makeDirs(s.fs, `${root}/b/sub`)
      await makeDirs(s.fs, `${root}/h`)
      for (const f of ['a', 'c', 'd', 'e', 'f', 'g', 'i', 'b/x', 'b/y', 'b/sub/z']) await writeFileAll(s.fs, `${root}/${f}`, f)
    })
    afterEach(async () => {
      await s.cleanup()
    })

    it('ends a run at its first subdirectory, whose contents come next, and at the names limit', async () => {
      const expected = ['.: a b > b', 'b: sub > b/sub', 'b/sub: z', 'b: x y', '.: c d e', '.: f g h > h', '.: i']
      expect(await runsOf(s.fs, root, { namesPerRun: 3 })).toEqual(expected)
      // Reading ahead changes when runs are planned, never which.
      expect(await runsOf(s.fs, root, { namesPerRun: 3, runsAhead: 3, inspect: {} })).toEqual(expected)
      expect(await runsOf(s.fs, root)).toEqual(['.: a b > b', 'b: sub > b/sub', 'b/sub: z', 'b: x y', '.: c d e f g h > h', '.: i'])
    })

    it('hands out the entries in the order walkPreorder yields them, which is a recursion over sorted listings', async () => {
      const odd = decodeName(Buffer.from([0x6f, 0xff, 0x64]))
      await makeDirs(s.fs, `${root}/${odd}/deep/er`)
      for (let i = 0; i < 12; i++) await writeFileAll(s.fs, `${root}/${odd}/deep/f${i}`, 'x')
      await s.fs.symlink('a', `${root}/b/link`)
      const preorder: string[] = []
      for await (const e of walkPreorder(s.fs, root)) {
        expect(e.path).toBe(`${root}/${e.rel}`)
        preorder.push(`${e.rel}/${e.kind}`)
      }
      expect(preorder).toEqual(await recursivePreorder(s.fs, root))
      for (const namesPerRun of [1, 2, 5, 4096]) {
        for (const runsAhead of [0, 1, 4]) {
          const flat: string[] = []
          for await (const run of walkPreorderRuns(s.fs, root, { namesPerRun, runsAhead })) {
            expect(run.entries.length).toBeLessThanOrEqual(namesPerRun)
            for (const e of run.entries) flat.push(`${run.dir.rel === '' ? '' : `${run.dir.rel}/`}${e.name}/${e.kind}`)
          }
          expect(flat).toEqual(preorder)
        }
      }
      // A sort key orders every directory alike in both walks: here subdirectories last.
      const sortKey = (e: DirEntry): string => (e.kind === 'dir' ? `~${e.name}` : e.name)
      const keyed: string[] = []
      for await (const e of walkPreorder(s.fs, root, { sortKey })) keyed.push(e.rel)
      expect(keyed.slice(0, 7)).toEqual(['a', 'c', 'd', 'e', 'f', 'g', 'i'])
      const flat: string[] = []
      for await (const run of walkPreorderRuns(s.fs, root, { sortKey, namesPerRun: 2 })) {
        for (const n of run.names) flat.push(run.dir.rel === '' ? n : `${run.dir.rel}/${n}`)
      }
      expect(flat).toEqual(keyed)
    })

    it('answers each run with one inspect whose answers line up with its names', async () => {
      await s.fs.symlink('b/x', `${root}/link`)
      let runs = 0
      for await (const run of walkPreorderRuns(s.fs, root, { inspect: { readlinks: true }, namesPerRun: 2, runsAhead: 2 })) {
        runs += 1
        const answers = await run.answer
        expect(answers).toHaveLength(run.names.length)
        for (let i = 0; i < run.names.length; i++) {
          const path = `${run.dir.path}/${run.names[i]}`
          const inode = await s.fs.lstat(path)
          expect(answers[i]!.inode).toMatchObject({ ino: inode!.ino, kind: run.entries[i]!.kind })
          if (inode!.kind === 'symlink') expect(answers[i]!.linkname).toBe('b/x')
        }
      }
      expect(runs).toBe(8)
      // Without inspect options there is nothing to answer.
      for await (const run of walkPreorderRuns(s.fs, root)) expect(run.answer).toBeUndefined()
    })

    it('throws on a subdirectory it cannot list only once it has handed out that directory, however far it reads ahead', async () => {
      await makeDirs(s.fs, `${root}/secret/below`)
      await makeDirs(s.fs, `${root}/t`)
      await writeFileAll(s.fs, `${root}/t/u`, 'u')
      await writeFileAll(s.fs, `${root}/z`, 'z')
      const fs = denyListing(s.fs, [`${root}/secret`])
      const before = ['a', 'b', 'b/sub', 'b/sub/z', 'b/x', 'b/y', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'secret']
      for (const options of [{}, { namesPerRun: 1, runsAhead: 4, inspect: {} }, { runsAhead: 2, inspect: {} }]) {
        const seen: string[] = []
        let failedChild: unknown
        const walk = async (): Promise<void> => {
          for await (const run of walkPreorderRuns(fs, root, options)) {
            for (const n of run.names) seen.push(run.dir.rel === '' ? n : `${run.dir.rel}/${n}`)
            if (run.child !== undefined && 'failed' in run.child) failedChild = run.child.failed
          }
        }
        await expect(walk()).rejects.toMatchObject({ code: 'EACCES', path: `${root}/secret` })
        expect(seen).toEqual(before)
        expect(failedChild).toMatchObject({ code: 'EACCES' })
      }
      const seen: string[] = []
      const walk = async (): Promise<void> => {
        for await (const e of walkPreorder(fs, root)) seen.push(e.rel)
      }
      await expect(walk()).rejects.toMatchObject({ code: 'EACCES' })
      expect(seen).toEqual(before)
      await expect(runsOf(s.fs, `${root}/missing`, { inspect: {} })).rejects.toMatchObject({ code: 'ENOENT' })
    })

    it('never has more than runsAhead runs inspected ahead of the one it hands out', async () => {
      for (let d = 0; d < 4; d++) {
        await makeDirs(s.fs, `${root}/w${d}`)
        for (let f = 0; f < 5; f++) await writeFileAll(s.fs, `${root}/w${d}/f${f}`, 'x')
      }
      for (const runsAhead of [0, 1, 3]) {
        let started = 0
        let inFlight = 0
        let most = 0
        const fs = overriding(s.fs, {
          inspect: async (dir, names, options) => {
            started += 1
            inFlight += 1
            most = Math.max(most, inFlight)
            try {
              // Slow answers: a walk that did not hold back would start every run's inspect meanwhile.
              await sleep(5)
              return await s.fs.inspect(dir, names, options)
            } finally {
              inFlight -= 1
            }
          },
        })
        let taken = 0
        let mostAhead = 0
        for await (const run of walkPreorderRuns(fs, root, { inspect: {}, runsAhead, namesPerRun: 2 })) {
          taken += 1
          mostAhead = Math.max(mostAhead, started - taken)
          await run.answer
        }
        expect(taken).toBe(started)
        expect(taken).toBeGreaterThan(10)
        expect(mostAhead).toBe(runsAhead)
        // The answer the caller holds and those ahead of it: the walk does read ahead, up to its bound.
        expect(most).toBe(runsAhead + 1)
      }
    })

    it('leaves out what the listing option drops, without going below it, and hands its record of each directory back', async () => {
      // Listing the dropped directory would throw: the walk must not.
      const fs = denyListing(s.fs, [`${root}/b`])
      const listing = (dir: PreorderDirectory) => ({
        ...dir,
        entries: dir.entries.filter((e) => e.name !== 'b'),
        dropped: dir.entries.some((e) => e.name === 'b'),
      })
      const runs: PreorderRun<ReturnType<typeof listing>>[] = []
      for await (const run of walkPreorderRuns(fs, root, { listing, namesPerRun: 3 })) runs.push(run)
      expect(runs.map((r) => `${r.dir.rel || '.'}: ${r.names.join(' ')} ${r.dir.dropped}`)).toEqual([
        '.: a c d true',
        '.: e f g true',
        '.: h true',
        '.: i true',
      ])
      const h = runs[2]!.child
      expect(h !== undefined && 'dir' in h ? h.dir : undefined).toMatchObject({ rel: 'h', entries: [], dropped: false })
    })

    it('refuses a run of no names and a negative read-ahead', async () => {
      await expect(runsOf(s.fs, root, { namesPerRun: 0 })).rejects.toThrow(RangeError)
      await expect(runsOf(s.fs, root, { runsAhead: -1 })).rejects.toThrow(RangeError)
    })
  })
}
