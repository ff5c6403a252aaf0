/**
 * The hard-linking migrate path at metadata speed: the clone links a file
 * without reading it, the comparison takes a file that is the source's own
 * inode as equal in everything but its links (and so lists no xattrs of
 * it), the codec leaves the durability of a staged tree to its caller, and
 * the layers are built ahead into one staging dir made durable by one
 * syncfs, each still committed, refused or left by its own step.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { migrate, type MigrateEvent, type MigrateOptions } from '../src/families/mesos/migrate.js'
import { generateMesosStore } from '../src/families/mesos/testing.js'
import { writeFileAll } from '../src/fs/io.js'
import type { FsPort, Inode, Inspected, TreeListing } from '../src/fs/port.js'
import { cloneTree, compareLayerTrees } from '../src/layer/clone.js'
import { convertLayer } from '../src/layer/whiteout-codec.js'
import { describeTree, listTree, materialize, parseTreeSpec } from '../src/testing/tree-spec.js'
import { rootSkipReason, SUBJECTS, type Subject } from './support/adapters.js'

const FIXED_NOW = (): Date => new Date('2026-06-01T00:00:00Z')

/** An aufs-form layer: files with xattrs and a hard-link pair, a whiteout, an opaque dir, a device. */
const LAYER = `
. dir mode=0755 mtime=1600000000000000001
etc dir mode=0755 mtime=1600000000000000002
etc/keep.txt file mode=0640 content=keep xattr.user.note=kept mtime=1600000000000000003
etc/keep-link.txt link target=etc/keep.txt
etc/plain.txt file mode=0644 content=plain mtime=1600000000000000004
etc/.wh.gone file mode=0000 mtime=1600000000000000005
cache dir mode=0755 mtime=1600000000000000006
cache/.wh..wh..opq file mode=0755 mtime=1600000000000000007
cache/new.txt file mode=0600 uid=1000 gid=1000 content=new mtime=1600000000000000008
dev dir mode=0755 mtime=1600000000000000009
dev/null char mode=0666 rdev=1:3 mtime=1600000000000000010
`

interface Calls {
  /** Every call by name ('xattr.list', 'lstat', …) with its first path. */
  log: [string, string][]
  count(name: string, path?: (p: string) => boolean): number
}

type Call = (...args: unknown[]) => Promise<unknown>

/** The port with every call logged; `around` may replace one (it gets the real call). */
function counting(fs: FsPort, around: Record<string, (real: Call, ...args: unknown[]) => Promise<unknown>> = {}): { fs: FsPort; calls: Calls } {
  const log: [string, string][] = []
  const wrap = <T extends object>(target: T, prefix: string): T =>
    new Proxy(target, {
      get(t, prop, receiver) {
        const value = Reflect.get(t, prop, receiver) as unknown
        if (prop === 'xattr') return wrap(value as object, 'xattr.')
        if (typeof value !== 'function') return value
        const name = `${prefix}${String(prop)}`
        const real = (value as Call).bind(t)
        return (...args: unknown[]) => {
          log.push([name, String(args[0])])
          const replaced = around[name]
          return replaced ? replaced(real, ...args) : real(...args)
        }
      },
    })
  return {
    fs: wrap(fs, ''),
    calls: { log, count: (name, path) => log.filter(([n, p]) => n === name && (path === undefined || path(p))).length },
  }
}

for (const { name, make } of SUBJECTS) {
  describe(`the hard-linking clone, comparison and codec on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    const layer = async (): Promise<string> => {
      const root = `${s.root}/source`
      await s.fs.mkdir(root, 0o755)
      await materialize(s.fs, root, parseTreeSpec(LAYER))
      return root
    }

    /** The layer, and a hard-linking clone of it converted to the overlay form, as a migrate stages it. */
    const stagedClone = async (): Promise<{ source: string; clone: string }> => {
      const source = await layer()
      const clone = `${s.root}/clone`
      await cloneTree(s.fs, source, clone)
      await convertLayer(s.fs, clone, 'overlay')
      return { source, clone }
    }

    it('clones a file by hard link without an lstat of it, and names a source file that vanished before its link', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const source = await layer()
      const { fs, calls } = counting(s.fs)
      const report = await cloneTree(fs, source, `${s.root}/clone`)
      expect(report).toMatchObject({ entries: 11, files: 6, dirs: 4, specials: 1, hardLinked: 4 })
      for (const linked of ['etc/keep.txt', 'etc/keep-link.txt', 'etc/plain.txt', 'cache/new.txt']) {
        expect(calls.count('lstat', (p) => p === `${source}/${linked}`), linked).toBe(0)
        expect((await s.fs.lstat(`${s.root}/clone/${linked}`))!.ino).toBe((await s.fs.lstat(`${source}/${linked}`))!.ino)
      }
      // A marker is made fresh like its source, which it reads.
      expect(calls.count('lstat', (p) => p === `${source}/etc/.wh.gone`)).toBe(1)
      expect(await listTree(s.fs, `${s.root}/clone`, { mtime: true })).toBe(await listTree(s.fs, source, { mtime: true }))

      // Removed between the listing and its link: the error says the layer changed, not ENOENT.
      const vanishing = counting(s.fs, {
        linkNames: async (real, ...args) => {
          const [from, , names] = args as [string, string, string[]]
          if (names.some((n) => `${from}/${n}` === `${source}/etc/plain.txt`)) await s.fs.unlink(`${source}/etc/plain.txt`)
          return real(...args)
        },
      })
      await expect(cloneTree(vanishing.fs, source, `${s.root}/clone-2`)).rejects.toMatchObject({
        code: 'LAYERFSCK_CLONE_SOURCE',
        message: expect.stringMatching(/etc\/plain\.txt vanished while it was cloned/),
      })
    })

    it('sets each directory its time only after the links into it landed, however late they land', async () => {
      const source = `${s.root}/source`
      await s.fs.mkdir(source, 0o755)
      // Runs end at each subdirectory, so links into a, a/b and the root are on their way as the walk leaves each.
      await materialize(
        s.fs,
        source,
        parseTreeSpec(`
          . dir mode=0755 mtime=1600000000000000001
          a dir mode=0755 mtime=1600000000000000002
          a/1 file content=1
          a/b dir mode=0755 mtime=1600000000000000003
          a/b/2 file content=2
          a/b/c dir mode=0755 mtime=1600000000000000004
          a/b/c/3 file content=3
          a/b/z file content=4
          a/z file content=5
          z file content=6
        `),
      )
      // The batch into a/b/c (the third) is still on its way when the walk leaves c and b, and lands after the
      // batches sent later: a time set before it landed would be moved by its link.
      let batch = 0
      const { fs } = counting(s.fs, {
        linkNames: async (real, ...args) => {
          await new Promise((r) => setTimeout(r, batch++ === 2 ? 60 : 5))
          return real(...args)
        },
      })
      await cloneTree(fs, source, `${s.root}/clone`)
      expect(batch).toBeGreaterThan(3)
      expect(await listTree(s.fs, `${s.root}/clone`, { mtime: true })).toBe(await listTree(s.fs, source, { mtime: true }))
    })

    it('waits for its links on the way before it fails, so nothing lands in a clone its caller removes', async () => {
      const source = `${s.root}/source`
      await s.fs.mkdir(source, 0o755)
      // d's run is a, b and s: its links go out as s's own run begins, where x vanishes.
      await materialize(s.fs, source, parseTreeSpec('d dir\nd/a file content=a\nd/b file content=b\nd/s dir\nd/s/x symlink target=../a'))
      let pending = 0
      let pendingAtFailure = -1
      const { fs } = counting(s.fs, {
        linkNames: async (real, ...args) => {
          pending += 1
          await new Promise((r) => setTimeout(r, 30))
          try {
            return await real(...args)
          } finally {
            pending -= 1
          }
        },
        lstat: async (real, ...args) => {
          if (args[0] === `${source}/d/s/x`) await s.fs.unlink(`${source}/d/s/x`)
          return real(...args)
        },
      })
      await cloneTree(fs, source, `${s.root}/clone`).catch((err: unknown) => {
        pendingAtFailure = pending
        expect(err).toMatchObject({ code: 'LAYERFSCK_CLONE_SOURCE' })
      })
      expect(pendingAtFailure).toBe(0)
    })

    it('names a source directory that vanished before its files were linked, and stops a copying clone between two files when cancelled', async () => {
      const source = `${s.root}/source`
      await s.fs.mkdir(source, 0o755)
      await materialize(s.fs, source, parseTreeSpec('d dir\nd/a file content=a\nd/b file content=b\nd/c file content=c'))
      const moving = counting(s.fs, {
        linkNames: async (real, ...args) => {
          if (args[0] === `${source}/d`) await s.fs.rename(`${source}/d`, `${s.root}/away`)
          return real(...args)
        },
      })
      await expect(cloneTree(moving.fs, source, `${s.root}/clone`)).rejects.toMatchObject({
        code: 'LAYERFSCK_CLONE_SOURCE',
        message: expect.stringMatching(/source\/d vanished while it was cloned/),
      })
      await s.fs.rename(`${s.root}/away`, `${source}/d`)

      // --copy: every file of d is made here, one at a time; the cancel lands after the first.
      const controller = new AbortController()
      const copying = counting(s.fs, {
        openWrite: async (real, ...args) => {
          controller.abort()
          return real(...args)
        },
      })
      await expect(cloneTree(copying.fs, source, `${s.root}/copy`, { copy: true, signal: controller.signal })).rejects.toMatchObject({ code: 'LAYERFSCK_CANCELLED' })
      expect(copying.calls.count('openWrite')).toBe(1)
    })

    it('links the markers of a clone converted to the overlay form, and the conversion leaves the source exactly as it was', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const source = await layer()
      const before = await listTree(s.fs, source, { mtime: true })
      const { fs, calls } = counting(s.fs)
      const clone = `${s.root}/clone`
      const report = await cloneTree(fs, source, clone, { linkMarkers: true })
      expect(report).toMatchObject({ entries: 11, files: 6, hardLinked: 6 })
      // No marker is made afresh: nothing is opened for writing.
      expect(calls.count('openWrite')).toBe(0)
      for (const marker of ['etc/.wh.gone', 'cache/.wh..wh..opq']) {
        expect((await s.fs.lstat(`${clone}/${marker}`))!.ino, marker).toBe((await s.fs.lstat(`${source}/${marker}`))!.ino)
      }
      await convertLayer(s.fs, clone, 'overlay')
      expect(await compareLayerTrees(s.fs, source, 'aufs', clone, 'overlay', { data: true })).toEqual([])
      // The markers' inodes lost their second name and nothing else.
      expect(await listTree(s.fs, source, { mtime: true })).toBe(before)
      expect((await s.fs.lstat(`${source}/etc/.wh.gone`))!.nlink).toBe(1)
    })

    it('compares a hard-linked file by its inode alone, and still finds every difference of a staged file that is another inode', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const { source, clone } = await stagedClone()
      const { fs, calls } = counting(s.fs)
      expect(await compareLayerTrees(fs, source, 'aufs', clone, 'overlay', { data: true })).toEqual([])
      const linkedFile = (p: string): boolean => /\/(keep|keep-link|plain|new)\.txt$/.test(p)
      expect(calls.count('xattr.list', linkedFile)).toBe(0)
      expect(calls.count('openRead', linkedFile)).toBe(0)
      // Directories and devices are the clone's own inodes: compared in full.
      expect(calls.count('xattr.list', (p) => p === `${source}/dev/null` || p === `${clone}/dev/null`)).toBe(2)
      expect(calls.count('xattr.list', (p) => p === `${source}/etc`)).toBeGreaterThan(0)
      expect(calls.count('xattr.list', (p) => p === `${clone}/etc`)).toBeGreaterThan(0)

      // The same bytes and time in a new inode, but another mode, no xattr, and out of its hard-link pair.
      const staged = `${clone}/etc/keep.txt`
      const mtime = (await s.fs.lstat(staged))!.mtimeNs
      await s.fs.unlink(staged)
      await writeFileAll(s.fs, staged, 'keep')
      await s.fs.chmod(staged, 0o600)
      await s.fs.lutimes(staged, mtime, mtime)
      await s.fs.lutimes(`${clone}/etc`, 1600000000000000002n, 1600000000000000002n)
      // The other name of the pair (met first) is still the source's inode: the pair is broken all the same.
      const mismatches = await compareLayerTrees(s.fs, source, 'aufs', clone, 'overlay', { data: true })
      expect(mismatches).toEqual([
        { path: 'etc/keep.txt', what: 'mode 0640 in a, 0600 in b' },
        { path: 'etc/keep.txt', what: 'xattr user.note only in a' },
        { path: 'etc/keep.txt', what: 'a hard link of etc/keep-link.txt in a, no earlier link in b' },
      ])
      // Another inode like the source's in all but its bytes is read, and told.
      const plain = `${clone}/etc/plain.txt`
      await s.fs.unlink(plain)
      await writeFileAll(s.fs, plain, 'PLAIN')
      await s.fs.chmod(plain, 0o644)
      await s.fs.lutimes(plain, 1600000000000000004n, 1600000000000000004n)
      await s.fs.lutimes(`${clone}/etc`, 1600000000000000002n, 1600000000000000002n)
      expect(await compareLayerTrees(s.fs, source, 'aufs', clone, 'overlay', { data: true })).toEqual([
        ...mismatches,
        { path: 'etc/plain.txt', what: 'the same size but other bytes' },
      ])
    })

    it('compares each directory with one inspect per side, reading no entry by an lstat of its own, nor a linked file of the clone at all', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const { source, clone } = await stagedClone()
      const { fs, calls } = counting(s.fs)
      const tally = { bytes: 0 }
      expect(await compareLayerTrees(fs, source, 'aufs', clone, 'overlay', { data: true, tally })).toEqual([])
      // The roots alone are lstat'ed; every entry (a directory's own inode with its parent's) comes from an inspect.
      expect(calls.log.filter(([n]) => n === 'lstat').map(([, p]) => p)).toEqual([source, clone])
      const dirs = ['', '/etc', '/cache', '/dev']
      for (const dir of dirs) expect(calls.count('inspect', (p) => p === `${source}${dir}`), `${source}${dir}`).toBe(1)
      // The clone's files listed with the source's inode numbers are told by a's lstat: cache/ holds only new.txt.
      for (const dir of ['', '/etc', '/dev']) expect(calls.count('inspect', (p) => p === `${clone}${dir}`), `${clone}${dir}`).toBe(1)
      expect(calls.count('inspect', (p) => p === `${clone}/cache`)).toBe(0)
      expect(calls.count('inspect')).toBe(dirs.length + 3)
      // keep.txt and its link once, plain.txt, new.txt, and the two markers (empty).
      expect(tally.bytes).toBe(4 + 5 + 3)
    })

    it('takes a listed inode number for a\'s file only where a\'s lstat shows it and both directories are on one filesystem', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const source = await layer()
      const copy = `${s.root}/copy`
      await cloneTree(s.fs, source, copy, { copy: true })
      // Other bytes of the same size, in another inode: what a comparison must find.
      await writeFileAll(s.fs, `${copy}/etc/plain.txt`, 'PLAIN')
      await s.fs.lutimes(`${copy}/etc/plain.txt`, 1600000000000000004n, 1600000000000000004n)
      await s.fs.lutimes(`${copy}/etc`, 1600000000000000002n, 1600000000000000002n)
      const found = ['etc/plain.txt: the same size but other bytes']
      const said = (ms: { path: string; what: string }[]): string[] => ms.map((m) => `${m.path}: ${m.what}`)
      expect(said(await compareLayerTrees(s.fs, source, 'aufs', copy, 'aufs', { data: true }))).toEqual(found)

      const realIno = Number((await s.fs.lstat(`${source}/etc/plain.txt`))!.ino)
      /** Listings that name plain.txt on both sides by the number `ino`: one filesystem would, were they one inode. */
      const numbering = (ino: number): Record<string, (real: Call, ...args: unknown[]) => Promise<unknown>> => ({
        listTree: async (real, ...args) => {
          const listing = (await real(...args)) as TreeListing
          for (const d of listing.dirs) if ('entries' in d) for (const e of d.entries) if (e.name === 'plain.txt' && e.ino !== undefined) e.ino = ino
          return listing
        },
      })
      // The copy on another filesystem, whose number for plain.txt is the source's.
      const other = { major: 4095, minor: 4095 }
      const onOther = (p: string): boolean => p === copy || p.startsWith(`${copy}/`)
      const elsewhere = counting(s.fs, {
        ...numbering(realIno),
        lstat: async (real, ...args) => {
          const inode = (await real(...args)) as Inode | undefined
          return onOther(args[0] as string) && inode !== undefined ? { ...inode, dev: other } : inode
        },
        inspect: async (real, ...args) => {
          const answers = (await real(...args)) as Inspected[]
          return onOther(args[0] as string) ? answers.map((x) => (x.inode ? { ...x, inode: { ...x.inode, dev: other } } : x)) : answers
        },
      })
      expect(said(await compareLayerTrees(elsewhere.fs, source, 'aufs', copy, 'aufs', { data: true }))).toContain(found[0])
      // One number in both listings, but a's lstat shows another inode (as one mounted over the name would): b's name is read after all.
      const covered = counting(s.fs, numbering(realIno + 1_000_000))
      expect(said(await compareLayerTrees(covered.fs, source, 'aufs', copy, 'aufs', { data: true }))).toEqual(found)
      expect(covered.calls.count('inspect', (p) => p === `${copy}/etc`)).toBe(2)
    })

    it('converts a staged tree without a fsync per directory when its caller syncs the whole, with the same result', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const source = await layer()
      await cloneTree(s.fs, source, `${s.root}/synced`)
      await cloneTree(s.fs, source, `${s.root}/staged`)
      const synced = counting(s.fs)
      const staged = counting(s.fs)
      const a = await convertLayer(synced.fs, `${s.root}/synced`, 'overlay')
      const b = await convertLayer(staged.fs, `${s.root}/staged`, 'overlay', { syncDirs: false })
      expect(b).toEqual(a)
      expect(synced.calls.count('fsync')).toBe(2)
      expect(staged.calls.count('fsync')).toBe(0)
      // Each edited directory keeps its time either way.
      expect(await describeTree(s.fs, `${s.root}/staged`, { mtime: true })).toEqual(await describeTree(s.fs, `${s.root}/synced`, { mtime: true }))
      expect((await s.fs.lstat(`${s.root}/staged/etc`))!.mtimeNs).toBe(1600000000000000002n)
      // And back: the aufs form again, as the source has it, with no fsync either.
      const back = counting(s.fs)
      await convertLayer(back.fs, `${s.root}/staged`, 'aufs', { syncDirs: false })
      expect(back.calls.count('fsync')).toBe(0)
      expect(await compareLayerTrees(s.fs, source, 'aufs', `${s.root}/staged`, 'aufs', { data: true })).toEqual([])
    })
  })

  describe(`migrate building layers ahead on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    const store = (): string => `${s.root}/store`
    const isStage = (p: string): boolean => new RegExp(`^${store()}/staging/[^/]+$`).test(p)
    const run = async (fs: FsPort, options: Partial<MigrateOptions> = {}) => {
      const events: MigrateEvent[] = []
      const report = await migrate(fs, { store: store(), toBackend: 'overlay', now: FIXED_NOW, onEvent: (e) => events.push(e), ...options })
      return { report, events }
    }

    it('builds the layers into one staging dir made durable by one syncfs, each renamed into place by its own step', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      await generateMesosStore(s.fs, store(), { layers: 5, filesPerLayer: 40, filesPerDir: 10, backends: ['aufs'] })
      // A slow disk: the batch's syncfs runs while the last layer is compared, and must end before any tree is renamed.
      const order: string[] = []
      const { fs, calls } = counting(s.fs, {
        syncfs: async (real, ...args) => {
          await new Promise((r) => setTimeout(r, 30))
          await real(...args)
          order.push('synced')
        },
        rename: async (real, ...args) => {
          order.push(`rename ${String(args[0]).startsWith(`${store()}/staging/`) ? 'staged' : 'other'}`)
          return real(...args)
        },
      })
      const { report, events } = await run(fs)
      expect(report.layers.map((l) => l.status)).toEqual(Array(5).fill('converted'))
      expect(report.exitCode).toBe(0)
      expect(calls.count('mkdir', isStage)).toBe(1)
      // The batch's, and the commit's before the stamp.
      expect(calls.count('syncfs')).toBe(2)
      expect(order.indexOf('synced')).toBeLessThan(order.indexOf('rename staged'))
      expect(calls.count('rename', (p) => p.startsWith(`${store()}/staging/`))).toBe(5)
      expect(await s.fs.readdir(`${store()}/staging`)).toEqual([])
      // Progress at each layer's start and every 32 entries after: not a line per entry.
      const entries = events.filter((e) => e.type === 'entries')
      for (let i = 0; i < 5; i++) expect(entries.filter((e) => e.index === i).length, `layer ${i}`).toBeGreaterThanOrEqual(1)
      expect(entries.length).toBeLessThan(report.layers.reduce((n, l) => n + l.counts!.entries, 0) / 16)
      // What was built is what the source says, whiteouts in overlay form.
      for (const l of report.layers) {
        const dir = `${store()}/layers/${l.id}`
        expect(await compareLayerTrees(s.fs, `${dir}/rootfs`, 'aufs', `${dir}/rootfs.overlay`, 'overlay', { data: true }), l.id).toEqual([])
      }
    })

    it('reports a layer that fails inside a batch on its own step: those before it convert, those after it are built again', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const g = await generateMesosStore(s.fs, store(), { layers: 5, filesPerLayer: 20, backends: ['aufs'] })
      const victim = [...g.layerIds].sort()[2]!
      const before = await listTree(s.fs, `${store()}/layers/${victim}`, { mtime: true })
      // A staged file of the victim becomes another inode with other bytes between its link and the comparison.
      let tampered = ''
      const { fs, calls } = counting(s.fs, {
        linkNames: async (real, ...args) => {
          const [from, into, names] = args as [string, string, string[]]
          const answers = await real(...args)
          if (tampered === '' && from.startsWith(`${store()}/layers/${victim}/`)) {
            const name = names.find((n) => !n.startsWith('.wh.'))!
            tampered = `${from}/${name}`
            const size = (await s.fs.lstat(tampered))!.size
            await s.fs.unlink(`${into}/${name}`)
            await writeFileAll(s.fs, `${into}/${name}`, Buffer.alloc(size, 0x21))
          }
          return answers
        },
      })
      const { report } = await run(fs)
      expect(tampered).not.toBe('')
      expect(report.layers.map((l) => [l.id === victim, l.status])).toEqual([
        [false, 'converted'],
        [false, 'converted'],
        [true, 'verify-failed'],
        [false, 'converted'],
        [false, 'converted'],
      ])
      expect(report.layers[2]!.reason).toMatch(/does not match its source/)
      expect(report.exitCode).toBe(4)
      // The thrown-away copy links nothing in the totals: they are the converted layers' own.
      const converted = report.layers.filter((l) => l.status === 'converted')
      expect(report.totals.hardLinked).toBe(converted.reduce((n, l) => n + l.counts!.hardLinked, 0))
      expect(report.layers[2]!.counts!.hardLinked).toBeGreaterThan(0)
      // The first batch ended at the victim; the layers after it got a staging dir of their own.
      expect(calls.count('mkdir', isStage)).toBe(2)
      expect(await listTree(s.fs, `${store()}/layers/${victim}`, { mtime: true })).toBe(before)
      expect(await s.fs.readdir(`${store()}/staging`)).toEqual([])
    })

    it("counts each layer's bytes as a dry run does, without an lstat of a source file: a converted one's by its comparison", async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const g = await generateMesosStore(s.fs, store(), { layers: 4, filesPerLayer: 30, filesPerDir: 10, backends: ['aufs'] })
      const dry = await run(s.fs, { dryRun: true })
      const bytes = new Map(dry.report.layers.map((l) => [l.id, l.counts!.bytes]))
      expect([...bytes.values()].every((n) => n > 0)).toBe(true)
      const victim = [...g.layerIds].sort()[1]!
      let tampered = false
      const { fs, calls } = counting(s.fs, {
        linkNames: async (real, ...args) => {
          const [from, into, names] = args as [string, string, string[]]
          const answers = await real(...args)
          // The victim's first linked file becomes another inode with other bytes: it fails its comparison.
          const name = names.find((n) => !n.startsWith('.wh.'))
          if (!tampered && from.startsWith(`${store()}/layers/${victim}/`) && name !== undefined) {
            tampered = true
            await s.fs.unlink(`${into}/${name}`)
            await writeFileAll(s.fs, `${into}/${name}`, 'tampered')
          }
          return answers
        },
      })
      const { report } = await run(fs)
      expect(report.layers.map((l) => [l.id, l.status])).toEqual(dry.report.layers.map((l) => [l.id, l.id === victim ? 'verify-failed' : 'converted']))
      // The converted layers' from their comparisons, the one left as it was from a census after the steps.
      expect(new Map(report.layers.map((l) => [l.id, l.counts!.bytes]))).toEqual(bytes)
      // Not a source file was lstat'ed (a marker is, made fresh by the clone): the census after the steps sizes the
      // victim's with an inspect per directory.
      expect(calls.log.filter(([n, p]) => n === 'lstat' && /\/layers\/[^/]+\/rootfs\/usr\/d\d+\/(?!\.wh\.)[^/]+$/.test(p))).toEqual([])
      expect(calls.count('inspect', (p) => p.startsWith(`${store()}/layers/${victim}/rootfs/usr/`))).toBeGreaterThan(0)
    })

    it('leaves a layer whose variant appeared while it waited in the batch, and removes what was built for it', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const g = await generateMesosStore(s.fs, store(), { layers: 3, filesPerLayer: 20, backends: ['aufs'] })
      const last = [...g.layerIds].sort()[2]!
      let made = false
      const { fs } = counting(s.fs, {
        rename: async (real, ...args) => {
          await real(...args)
          // Someone else builds the last layer's variant once the first is in place.
          if (!made) {
            made = true
            await s.fs.mkdir(`${store()}/layers/${last}/rootfs.overlay`, 0o755)
          }
        },
      })
      const { report } = await run(fs)
      expect(report.layers.map((l) => l.status)).toEqual(['converted', 'converted', 'present'])
      expect(await s.fs.readdir(`${store()}/layers/${last}/rootfs.overlay`)).toEqual([])
      expect(await s.fs.readdir(`${store()}/staging`)).toEqual([])
      expect(report.exitCode).toBe(0)
    })
  })
}
