import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { importImage } from '../src/families/mesos/import.js'
import { readFileLimited, writeFileAll } from '../src/fs/io.js'
import type { FsPort, InspectOptions } from '../src/fs/port.js'
import { walkTree } from '../src/fs/walk.js'
import { cloneTree, compareLayerTrees, createLike, likeOf, planTree } from '../src/layer/clone.js'
import { convertLayer } from '../src/layer/whiteout-codec.js'
import { describeTree, listTree, materialize, parseTreeSpec } from '../src/testing/tree-spec.js'
import { rootSkipReason, SUBJECTS, type Subject } from './support/adapters.js'
import { imagesOn, WH_LAYERS } from './support/fixtures.js'

/** A small aufs-form layer with one of everything a layer holds, every entry with its own time. */
const AUFS_LAYER = `
. dir mode=0755 mtime=1600000000000000001
bin dir mode=0755 mtime=1600000000000000002
bin/hello file mode=0755 content="#!/bin/sh\\necho hi\\n" mtime=1600000000000000003
bin/sh symlink target=hello mtime=1600000000000000004
bin/escape symlink target=/etc mtime=1600000000000000005
data dir mode=0750 uid=1000 gid=1000 mtime=1600000000000000006
data/.wh.gone.txt file mode=0000 uid=7 gid=8 mtime=1600000000000000007
data/keep.txt file mode=0640 content=keep xattr.user.note=kept mtime=1600000000000000008
data/keep-hardlink.txt link target=data/keep.txt
data/cache dir mode=0755 xattr.trusted.note=t mtime=1600000000000000009
data/cache/.wh..wh..opq file mode=0755 mtime=1600000000000000010
data/cache/new.txt file mode=0600 uid=1000 gid=1000 content=new mtime=1600000000000000011
dev dir mode=0755 mtime=1600000000000000012
dev/null char mode=0666 rdev=1:3 mtime=1600000000000000013
dev/sda block mode=0660 rdev=8:0 mtime=1600000000000000014
run dir mode=0755 mtime=1600000000000000015
run/fifo fifo mode=0600 mtime=1600000000000000016
`

async function inodesOf(fs: FsPort, root: string): Promise<Map<string, { ino: bigint; nlink: number; kind: string }>> {
  const out = new Map<string, { ino: bigint; nlink: number; kind: string }>()
  for await (const e of walkTree(fs, root)) {
    const inode = (await fs.lstat(e.path))!
    out.set(e.rel, { ino: inode.ino, nlink: inode.nlink, kind: inode.kind })
  }
  return out
}

for (const { name, make } of SUBJECTS) {
  describe(`createLike on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    it('makes every kind of inode with the mode, owner, ns mtime and xattrs it is given', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const at = (n: string): string => `${s.root}/${n}`
      const xattrs = new Map([['trusted.k', new Uint8Array([1, 2, 3])]])
      await createLike(s.fs, at('d'), { kind: 'dir', mode: 0o1750, uid: 5, gid: 6, mtimeNs: 1n, xattrs })
      await createLike(s.fs, at('f'), { kind: 'file', mode: 0o4755, uid: 5, gid: 6, mtimeNs: 1600000000123456789n, xattrs }, { data: new Uint8Array([104, 105]) })
      await createLike(s.fs, at('e'), { kind: 'file', mode: 0o000, uid: 5, gid: 6, mtimeNs: 2n })
      await createLike(s.fs, at('l'), { kind: 'symlink', mode: 0o777, uid: 5, gid: 6, mtimeNs: 3n, target: '../../nowhere' })
      await createLike(s.fs, at('c'), { kind: 'char', mode: 0o000, uid: 5, gid: 6, mtimeNs: 4n, rdev: { major: 0, minor: 0 } })
      await createLike(s.fs, at('b'), { kind: 'block', mode: 0o660, uid: 5, gid: 6, mtimeNs: 5n, rdev: { major: 8, minor: 1 } })
      await createLike(s.fs, at('p'), { kind: 'fifo', mode: 0o620, uid: 5, gid: 6, mtimeNs: 6n })
      const listing = await listTree(s.fs, s.root, { mtime: true })
      expect(listing).toContain('b block mode=0660 uid=5 gid=6 rdev=8:1 mtime=5\n')
      expect(listing).toContain('c char mode=0000 uid=5 gid=6 rdev=0:0 mtime=4\n')
      expect(listing).toMatch(/\nd dir mode=1750 uid=5 gid=6 mtime=\d+ xattr.trusted.k=hex:010203\n/)
      expect(listing).toContain('e file mode=0000 uid=5 gid=6 size=0 ')
      expect(listing).toMatch(/\nf file mode=4755 uid=5 gid=6 size=2 sha256=[0-9a-f]+ mtime=1600000000123456789 xattr.trusted.k=hex:010203\n/)
      expect(listing).toContain('l symlink mode=0777 uid=5 gid=6 target=../../nowhere mtime=3\n')
      expect(listing).toContain('p fifo mode=0620 uid=5 gid=6 mtime=6\n')
    })

    it('leaves a directory its time of creation, refuses to replace what exists, and cannot make a socket', async () => {
      const d = `${s.root}/d`
      await createLike(s.fs, d, { kind: 'dir', mode: 0o755, mtimeNs: 7n })
      expect((await s.fs.lstat(d))!.mtimeNs).not.toBe(7n)
      await expect(createLike(s.fs, d, { kind: 'dir', mode: 0o755 })).rejects.toMatchObject({ code: 'EEXIST' })
      await createLike(s.fs, d, { kind: 'dir', mode: 0o700 }, { dirExists: true })
      expect((await s.fs.lstat(d))!.mode).toBe(0o700)
      await writeFileAll(s.fs, `${s.root}/f`, 'x')
      await expect(createLike(s.fs, `${s.root}/f`, { kind: 'file', mode: 0o644 })).rejects.toMatchObject({ code: 'EEXIST' })
      await expect(createLike(s.fs, `${s.root}/s`, { kind: 'socket', mode: 0o755 })).rejects.toThrow(/socket/)
    })
  })

  describe(`cloneTree, planTree and compareLayerTrees on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    const sourceLayer = async (): Promise<string> => {
      const root = `${s.root}/source`
      await s.fs.mkdir(root, 0o755)
      await materialize(s.fs, root, parseTreeSpec(AUFS_LAYER))
      return root
    }

    /** A clone of the small layer in overlay form, as migrate builds it. */
    const overlayClone = async (source: string, at = `${s.root}/clone`, copy = false): Promise<string> => {
      await cloneTree(s.fs, source, at, { copy })
      await convertLayer(s.fs, at, 'overlay')
      return at
    }

    it('clones a real imported layer with every entry, time and xattr, its files hard links of the source', async () => {
      const store = `${s.root}/store`
      const image = `oci:${await imagesOn(s.fs)}/oci-overlay:wh-third`
      await importImage(s.fs, { store, backend: 'aufs', image, createStore: true, preserveOwners: s.privileged })
      for (const [i, id] of WH_LAYERS.entries()) {
        const source = `${store}/layers/${id}/rootfs`
        const before = await describeTree(s.fs, source, { mtime: true })
        const target = `${s.root}/clone-${i}`
        const report = await cloneTree(s.fs, source, target)
        expect(await describeTree(s.fs, target, { mtime: true })).toEqual(before)
        // The source is only read: even its directories keep their times.
        expect(await describeTree(s.fs, source, { mtime: true })).toEqual(before)
        const [src, dst] = [await inodesOf(s.fs, source), await inodesOf(s.fs, target)]
        expect([...dst.keys()].sort()).toEqual([...src.keys()].sort())
        let files = 0
        for (const [rel, inode] of dst) {
          if (inode.kind !== 'file') {
            expect(inode.ino, rel).not.toBe(src.get(rel)!.ino)
          } else if (rel.split('/').pop()!.startsWith('.wh.')) {
            // Markers are made fresh: the codec writes them in place.
            expect(inode.ino, rel).not.toBe(src.get(rel)!.ino)
            files += 1
          } else {
            expect(inode.ino, rel).toBe(src.get(rel)!.ino)
            expect(inode.nlink, rel).toBeGreaterThanOrEqual(2)
            files += 1
          }
        }
        expect(report).toMatchObject({ entries: dst.size + 1, files, copiedBytes: 0 })
        expect(report.hardLinked).toBe(files - [...dst.keys()].filter((r) => r.split('/').pop()!.startsWith('.wh.')).length)
      }
    })

    it('copies file data into separate inodes with copy, one copy per hard-link group', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const source = await sourceLayer()
      const target = `${s.root}/copy`
      const report = await cloneTree(s.fs, source, target, { copy: true })
      expect(await describeTree(s.fs, target, { mtime: true })).toEqual(await describeTree(s.fs, source, { mtime: true }))
      const [src, dst] = [await inodesOf(s.fs, source), await inodesOf(s.fs, target)]
      for (const [rel, inode] of dst) expect(inode.ino, rel).not.toBe(src.get(rel)!.ino)
      expect(dst.get('data/keep.txt')).toMatchObject({ nlink: 2, ino: dst.get('data/keep-hardlink.txt')!.ino })
      expect(src.get('data/keep.txt')!.nlink).toBe(2)
      const text = async (root: string, rel: string): Promise<string> => Buffer.from(await readFileLimited(s.fs, `${root}/${rel}`)).toString()
      expect(await text(target, 'bin/hello')).toBe(await text(source, 'bin/hello'))
      // hello (18 bytes), keep (4, once for its group), new (3).
      expect(report).toMatchObject({ entries: 17, dirs: 6, files: 6, specials: 5, hardLinked: 1, copiedBytes: 25 })
    })

    it('clones a symlink as a symlink and never follows one, to a directory or out of the tree', async () => {
      const source = `${s.root}/source`
      const outside = `${s.root}/outside`
      await s.fs.mkdir(outside, 0o755)
      await writeFileAll(s.fs, `${outside}/secret`, 'x')
      await s.fs.mkdir(source, 0o755)
      await materialize(s.fs, source, parseTreeSpec(`sub dir\nsub/f file content=1\nto-sub symlink target=sub\nout symlink target=${outside}\nrel-out symlink target=../outside`))
      const target = `${s.root}/clone`
      await cloneTree(s.fs, source, target)
      for (const [link, points] of [['to-sub', 'sub'], ['out', outside], ['rel-out', '../outside']] as const) {
        expect((await s.fs.lstat(`${target}/${link}`))?.kind).toBe('symlink')
        expect(await s.fs.readlink(`${target}/${link}`)).toBe(points)
      }
      const rels: string[] = []
      for await (const e of walkTree(s.fs, target)) rels.push(e.rel)
      expect(rels.sort()).toEqual(['out', 'rel-out', 'sub', 'sub/f', 'to-sub'])
    })

    it('refuses a target that exists and a source that is not a directory, and stops when cancelled', async () => {
      const source = `${s.root}/source`
      await s.fs.mkdir(source, 0o755)
      await materialize(s.fs, source, parseTreeSpec('a file\nb file\nc dir'))
      await s.fs.mkdir(`${s.root}/there`, 0o755)
      await expect(cloneTree(s.fs, source, `${s.root}/there`)).rejects.toThrow(/already exists/)
      await s.fs.symlink(source, `${s.root}/via-link`)
      await expect(cloneTree(s.fs, `${s.root}/via-link`, `${s.root}/x`)).rejects.toThrow(/a symlink, not a layer directory/)
      const controller = new AbortController()
      const seen: number[] = []
      const run = cloneTree(s.fs, source, `${s.root}/y`, {
        signal: controller.signal,
        onProgress: (p) => {
          seen.push(p.entries)
          controller.abort()
        },
      })
      await expect(run).rejects.toMatchObject({ code: 'LAYERFSCK_CANCELLED' })
      // The first report comes once the root is made; the clone stops before its first run.
      expect(seen).toEqual([1])
    })

    it('says to copy when the target is on another filesystem than the files it would link', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const source = `${s.root}/source`
      await s.fs.mkdir(source, 0o755)
      await materialize(s.fs, source, parseTreeSpec('f file content=x'))
      await s.fs.mkdir(`${s.root}/other`, 0o755)
      await s.mountTmpfs(`${s.root}/other`)
      await expect(cloneTree(s.fs, source, `${s.root}/other/clone`)).rejects.toMatchObject({ code: 'LAYERFSCK_CLONE_CROSS_DEVICE', hint: expect.stringMatching(/--copy/) })
      expect((await cloneTree(s.fs, source, `${s.root}/other/copy`, { copy: true })).copiedBytes).toBe(1)
    })

    it('counts what a migration would do without changing anything', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const source = await sourceLayer()
      const before = await listTree(s.fs, source, { mtime: true })
      expect(await planTree(s.fs, source)).toEqual({
        entries: 17,
        files: 6,
        dirs: 6,
        bytes: 25,
        aufsWhiteouts: 1,
        aufsOpaque: 1,
        overlayWhiteouts: 0,
        overlayOpaque: 0,
      })
      expect(await listTree(s.fs, source, { mtime: true })).toBe(before)
      const converted = await overlayClone(source)
      expect(await planTree(s.fs, converted)).toMatchObject({ entries: 16, files: 4, aufsWhiteouts: 0, aufsOpaque: 0, overlayWhiteouts: 1, overlayOpaque: 1 })
    })

    it('finds a clone converted to overlay equal to its aufs source through the codec, and back again', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const source = await sourceLayer()
      const overlay = await overlayClone(source)
      expect(await listTree(s.fs, overlay)).toContain('data/gone.txt char mode=0000 uid=7 gid=8 rdev=0:0')
      expect(await compareLayerTrees(s.fs, source, 'aufs', overlay, 'overlay')).toEqual([])
      expect(await compareLayerTrees(s.fs, overlay, 'overlay', source, 'aufs')).toEqual([])
      const back = `${s.root}/back`
      await cloneTree(s.fs, overlay, back)
      await convertLayer(s.fs, back, 'aufs')
      expect(await compareLayerTrees(s.fs, overlay, 'overlay', back, 'aufs')).toEqual([])
      expect(await compareLayerTrees(s.fs, source, 'aufs', back, 'aufs')).toEqual([])
      // Byte for byte the source again, but the opaque marker's time: the codec makes a new one, the form has no time for it.
      const marker = /^(data\/cache\/\.wh\.\.wh\.\.opq .* mtime=)\d+$/m
      expect((await listTree(s.fs, back, { mtime: true })).replace(marker, '$1T')).toBe((await listTree(s.fs, source, { mtime: true })).replace(marker, '$1T'))
      // Without the codec's view, the two forms differ.
      expect((await compareLayerTrees(s.fs, source, 'none', overlay, 'none')).map((m) => m.path)).toContain('data/gone.txt')
    })

    it('finds the real layers equal across forms after an aufs import, a clone and a conversion', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const store = `${s.root}/store`
      await importImage(s.fs, { store, backend: 'aufs', image: `oci:${await imagesOn(s.fs)}/oci-overlay:wh-third`, createStore: true })
      for (const [i, id] of WH_LAYERS.entries()) {
        const source = `${store}/layers/${id}/rootfs`
        const overlay = await overlayClone(source, `${s.root}/overlay-${i}`)
        expect(await compareLayerTrees(s.fs, source, 'aufs', overlay, 'overlay')).toEqual([])
      }
    })

    it('reads a 0/0 device in an aufs-form tree as the device it is, not as a whiteout', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const a = `${s.root}/a`
      const b = `${s.root}/b`
      for (const root of [a, b]) await s.fs.mkdir(root, 0o755)
      await s.fs.mknod(`${a}/foo`, 'char', 0, { major: 0, minor: 0 })
      await s.fs.mknod(`${b}/foo`, 'char', 0, { major: 0, minor: 0 })
      await s.fs.lutimes(`${a}/foo`, 7n, 7n)
      await s.fs.lutimes(`${b}/foo`, 7n, 7n)
      // The two roots were made at different times; only foo is under test.
      for (const root of [a, b]) await s.fs.lutimes(root, 9n, 9n)
      // Read as overlay it hides foo; read as aufs, copy and bind expose it: the two views differ.
      expect((await compareLayerTrees(s.fs, a, 'overlay', b, 'aufs')).map((m) => m.path)).toEqual(['foo'])
      expect(await compareLayerTrees(s.fs, a, 'aufs', b, 'aufs')).toEqual([])
    })

    describe('reports each kind of difference with its path', () => {
      const cases: { change: string; path: string; what: RegExp; mutate: (fs: FsPort, clone: string) => Promise<void> }[] = [
        { change: 'a file mode changed', path: 'bin/hello', what: /mode 0755 in a, 0700 in b/, mutate: (fs, c) => fs.chmod(`${c}/bin/hello`, 0o700) },
        {
          change: 'a file size changed',
          path: 'bin/hello',
          what: /size 18 in a, 3 in b/,
          mutate: async (fs, c) => {
            const like = await likeOf(fs, `${c}/bin/hello`, (await fs.lstat(`${c}/bin/hello`))!)
            await fs.unlink(`${c}/bin/hello`)
            await createLike(fs, `${c}/bin/hello`, like, { data: new Uint8Array([1, 2, 3]) })
          },
        },
        { change: 'a directory mtime changed', path: 'run', what: /mtime 1600000000000000015 in a, 5 in b/, mutate: (fs, c) => fs.lutimes(`${c}/run`, 5n, 5n) },
        { change: 'a symlink mtime changed', path: 'bin/sh', what: /mtime 1600000000000000004 in a, 9 in b/, mutate: (fs, c) => fs.lutimes(`${c}/bin/sh`, 9n, 9n) },
        { change: 'a whiteout removed', path: 'data/gone.txt', what: /a whiteout only in a/, mutate: (fs, c) => fs.unlink(`${c}/data/gone.txt`) },
        {
          change: 'an opaque mark lost',
          path: 'data/cache',
          what: /opaque in a, not opaque in b/,
          mutate: (fs, c) => fs.xattr.remove(`${c}/data/cache`, 'trusted.overlay.opaque'),
        },
        {
          change: 'a hard-link group broken',
          path: 'data/keep.txt',
          what: /a hard link of data\/keep-hardlink.txt in a, no earlier link in b/,
          mutate: async (fs, c) => {
            const like = await likeOf(fs, `${c}/data/keep.txt`, (await fs.lstat(`${c}/data/keep.txt`))!)
            await fs.unlink(`${c}/data/keep.txt`)
            await createLike(fs, `${c}/data/keep.txt`, like, { data: Buffer.from('keep') })
          },
        },
        { change: 'an xattr removed', path: 'data/cache', what: /xattr trusted.note only in a/, mutate: (fs, c) => fs.xattr.remove(`${c}/data/cache`, 'trusted.note') },
        {
          change: 'a device number changed',
          path: 'dev/sda',
          what: /device 8:0 in a, 8:1 in b/,
          mutate: async (fs, c) => {
            const like = await likeOf(fs, `${c}/dev/sda`, (await fs.lstat(`${c}/dev/sda`))!)
            await fs.unlink(`${c}/dev/sda`)
            await createLike(fs, `${c}/dev/sda`, { ...like, rdev: { major: 8, minor: 1 } })
          },
        },
      ]
      for (const c of cases) {
        it(`finds ${c.change} in the clone, at its path`, async ({ skip }) => {
          if (!s.privileged) return skip(rootSkipReason())
          const source = await sourceLayer()
          // Copied, so that changing a file of the clone leaves the source's alone.
          const clone = await overlayClone(source, `${s.root}/clone`, true)
          await c.mutate(s.fs, clone)
          // Replacing an entry moves its directory's time: put it back, so that only the change itself is reported.
          const parent = c.path.slice(0, Math.max(0, c.path.lastIndexOf('/')))
          const time = (await s.fs.lstat(parent === '' ? source : `${source}/${parent}`))!.mtimeNs
          await s.fs.lutimes(parent === '' ? clone : `${clone}/${parent}`, time, time)
          expect(await compareLayerTrees(s.fs, source, 'aufs', clone, 'overlay')).toEqual([{ path: c.path, what: expect.stringMatching(c.what) }])
        })
      }
    })

    it('finds a hard-link group of a linking clone broken, and one made in it that the source lacks', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const source = await sourceLayer()
      await materialize(s.fs, source, parseTreeSpec('data/cache/other.txt file mode=0600 uid=1000 gid=1000 content=new mtime=1600000000000000011'))
      await s.fs.lutimes(`${source}/data/cache`, 1600000000000000009n, 1600000000000000009n)
      const clone = await overlayClone(source)
      expect(await compareLayerTrees(s.fs, source, 'aufs', clone, 'overlay')).toEqual([])
      const like = await likeOf(s.fs, `${clone}/data/keep-hardlink.txt`, (await s.fs.lstat(`${clone}/data/keep-hardlink.txt`))!)
      await s.fs.unlink(`${clone}/data/keep-hardlink.txt`)
      await createLike(s.fs, `${clone}/data/keep-hardlink.txt`, like, { data: Buffer.from('keep') })
      await s.fs.unlink(`${clone}/data/cache/other.txt`)
      await s.fs.link(`${clone}/data/cache/new.txt`, `${clone}/data/cache/other.txt`)
      for (const dir of ['data', 'data/cache']) {
        const time = (await s.fs.lstat(`${source}/${dir}`))!.mtimeNs
        await s.fs.lutimes(`${clone}/${dir}`, time, time)
      }
      expect(await compareLayerTrees(s.fs, source, 'aufs', clone, 'overlay')).toEqual([
        { path: 'data/keep.txt', what: 'a hard link of data/keep-hardlink.txt in a, no earlier link in b' },
        { path: 'data/cache/other.txt', what: 'no earlier link in a, a hard link of data/cache/new.txt in b' },
      ])
    })

    it('compares file bytes only when asked, and stops at the limit', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const source = await sourceLayer()
      const copy = `${s.root}/copy`
      await cloneTree(s.fs, source, copy, { copy: true })
      const like = await likeOf(s.fs, `${copy}/bin/hello`, (await s.fs.lstat(`${copy}/bin/hello`))!)
      await s.fs.unlink(`${copy}/bin/hello`)
      await createLike(s.fs, `${copy}/bin/hello`, like, { data: Buffer.from('#!/bin/sh\necho HI\n') })
      await s.fs.lutimes(`${copy}/bin`, 1600000000000000002n, 1600000000000000002n)
      expect(await compareLayerTrees(s.fs, source, 'aufs', copy, 'aufs')).toEqual([])
      expect(await compareLayerTrees(s.fs, source, 'aufs', copy, 'aufs', { data: true })).toEqual([{ path: 'bin/hello', what: 'the same size but other bytes' }])
      for (const rel of ['bin/hello', 'data/keep.txt', 'run/fifo']) await s.fs.chmod(`${copy}/${rel}`, 0o111)
      expect(await compareLayerTrees(s.fs, source, 'aufs', copy, 'aufs', { limit: 2 })).toHaveLength(2)
    })

    it('reports a directory missing on one side once, without descending into it', async () => {
      const a = `${s.root}/a`
      const b = `${s.root}/b`
      for (const root of [a, b]) await s.fs.mkdir(root, 0o755)
      await materialize(s.fs, a, parseTreeSpec('. dir mtime=1\nd dir mtime=2\nd/x file mtime=3\nd/y file mtime=3\nf file mtime=4'))
      await materialize(s.fs, b, parseTreeSpec('. dir mtime=1\nd file mtime=2\nf file mtime=4\ng symlink target=f'))
      expect(await compareLayerTrees(s.fs, a, 'aufs', b, 'aufs')).toEqual([
        { path: 'd', what: 'a dir in a, a file in b' },
        { path: 'g', what: 'a symlink only in b' },
      ])
    })

    it('counts without sizing a file when asked: the same census but its bytes', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const source = await sourceLayer()
      const sized = await planTree(s.fs, source)
      expect(await planTree(s.fs, source, { sizes: false })).toEqual({ ...sized, bytes: 0 })
      const converted = await overlayClone(source)
      expect(await planTree(s.fs, converted, { sizes: false })).toEqual({ ...(await planTree(s.fs, converted)), bytes: 0 })
    })

    it('tallies the bytes of the source files as its census counts them: each inode once, markers as themselves', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const source = await sourceLayer()
      // Markers with bytes: a whiteout's, an opaque marker's and one beside the directory it makes opaque.
      await materialize(
        s.fs,
        source,
        parseTreeSpec(
          'data/.wh.old file mode=0600 content=abc mtime=1600000000000000017\n' +
            'run/.wh..wh..opq file mode=0600 content=abcd mtime=1600000000000000018\n' +
            '.wh.bin file mode=0600 content=ef mtime=1600000000000000019',
        ),
      )
      for (const [dir, time] of [['', 1600000000000000001n], ['data', 1600000000000000006n], ['run', 1600000000000000015n]] as const) {
        await s.fs.lutimes(dir === '' ? source : `${source}/${dir}`, time, time)
      }
      const census = await planTree(s.fs, source)
      expect(census.bytes).toBe(25 + 3 + 4 + 2)
      for (const copy of [false, true]) {
        const clone = await overlayClone(source, `${s.root}/clone-${copy}`, copy)
        // The marker beside bin became bin's opaque attribute, and is read so.
        expect(await s.fs.xattr.get(`${clone}/bin`, 'trusted.overlay.opaque')).toEqual(new Uint8Array([0x79]))
        const tally = { bytes: 0 }
        expect(await compareLayerTrees(s.fs, source, 'aufs', clone, 'overlay', { data: true, tally }), `copy ${copy}`).toEqual([])
        expect(tally.bytes, `copy ${copy}`).toBe(census.bytes)
        await s.fs.xattr.remove(`${clone}/bin`, 'trusted.overlay.opaque')
        expect(await compareLayerTrees(s.fs, source, 'aufs', clone, 'overlay')).toEqual([{ path: 'bin', what: 'opaque in a, not opaque in b' }])
      }
    })

    it('compares a directory of more names than one inspect asks for, and finds differences in each part', async () => {
      const a = `${s.root}/a`
      await s.fs.mkdir(a, 0o755)
      await s.fs.mkdir(`${a}/big`, 0o755)
      const name = (i: number): string => `f${String(i).padStart(5, '0')}`
      for (let i = 0; i < 5000; i++) await writeFileAll(s.fs, `${a}/big/${name(i)}`, i % 7 === 0 ? 'seven' : '')
      const b = `${s.root}/b`
      await cloneTree(s.fs, a, b)
      const tally = { bytes: 0 }
      expect(await compareLayerTrees(s.fs, a, 'none', b, 'none', { tally })).toEqual([])
      expect(tally.bytes).toBe(Math.ceil(5000 / 7) * 5)
      const time = (await s.fs.lstat(`${b}/big`))!.mtimeNs
      // Another inode each, with the time of the one it replaces.
      const replace = async (i: number, content: string, mode: number): Promise<void> => {
        const path = `${b}/big/${name(i)}`
        const mtime = (await s.fs.lstat(path))!.mtimeNs
        await s.fs.unlink(path)
        await writeFileAll(s.fs, path, content, mode)
        await s.fs.lutimes(path, mtime, mtime)
      }
      await s.fs.unlink(`${b}/big/${name(10)}`)
      await replace(2500, 'x', 0o644)
      await replace(4999, '', 0o600)
      await writeFileAll(s.fs, `${b}/big/g`, '')
      await s.fs.lutimes(`${b}/big`, time, time)
      expect(await compareLayerTrees(s.fs, a, 'none', b, 'none')).toEqual([
        { path: `big/${name(10)}`, what: 'a file only in a' },
        { path: `big/${name(2500)}`, what: 'size 0 in a, 1 in b' },
        { path: `big/${name(4999)}`, what: 'mode 0644 in a, 0600 in b' },
        { path: 'big/g', what: 'a file only in b' },
      ])
    })

    it('names an entry that vanished after its directory was listed or after it was inspected, and each entry of a directory that vanished', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const source = await sourceLayer()
      const clone = await overlayClone(source, `${s.root}/clone`, true)
      // One listing or inspect at a time, so that what the test removes is gone exactly when the directory is inspected.
      let chain: Promise<unknown> = Promise.resolve()
      const serial = <T>(call: () => Promise<T>): Promise<T> => {
        const done = chain.then(call)
        chain = done.catch(() => undefined)
        return done
      }
      const fs = Object.assign(Object.create(s.fs) as FsPort, {
        listTree: (...args: Parameters<FsPort['listTree']>) => serial(() => s.fs.listTree(...args)),
        inspect: (dir: string, names: readonly string[], options?: InspectOptions) =>
          serial(async () => {
            if (dir === `${clone}/data` && (await s.fs.lstat(`${dir}/keep.txt`))) await s.fs.unlink(`${dir}/keep.txt`)
            // Gone between its listing and its inspect (the test leaves it, so that its parent still finds it whole).
            if (dir === `${clone}/run`) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${dir}'`), { code: 'ENOENT', syscall: 'open', path: dir })
            return s.fs.inspect(dir, names, options)
          }),
        // Gone once inspected, before its xattrs are read.
        xattr: Object.assign(Object.create(s.fs.xattr) as FsPort['xattr'], {
          list: async (path: string) => {
            if (path === `${clone}/dev/sda` && (await s.fs.lstat(path))) await s.fs.unlink(path)
            return s.fs.xattr.list(path)
          },
        }),
      })
      // The two directories come in their listing's order.
      expect((await compareLayerTrees(fs, source, 'aufs', clone, 'overlay')).sort((x, y) => (x.path < y.path ? -1 : 1))).toEqual([
        { path: 'data/keep.txt', what: 'vanished from b during the comparison' },
        { path: 'dev/sda', what: 'vanished from b during the comparison' },
        { path: 'run/fifo', what: 'vanished from b during the comparison' },
      ])
    })

    it('stops a comparison that is cancelled', async () => {
      const a = `${s.root}/a`
      await s.fs.mkdir(a, 0o755)
      const cancel = new AbortController()
      cancel.abort()
      await expect(compareLayerTrees(s.fs, a, 'none', a, 'none', { signal: cancel.signal })).rejects.toMatchObject({ code: 'LAYERFSCK_CANCELLED' })
    })
  })
}
