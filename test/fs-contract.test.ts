/**
 * The filesystem contract: every port operation, run against the memory
 * adapter and the disk adapter with the same expectations. When this suite
 * passes, a feature test that passes in memory says something about Linux.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isErrno } from '../src/errors.js'
import { readFileLimited, writeFileDurable } from '../src/fs/io.js'
import type { DirEntry, FsPort, TreeListing } from '../src/fs/port.js'
import { devKey, inodeKey } from '../src/fs/port.js'
import { listTreeByReaddir } from '../src/fs/list-tree.js'
import { createMemoryFs } from '../src/fs/memory.js'
import { decodeName } from '../src/fs/name-bytes.js'
import { memorySubject, rootSkipReason, SUBJECTS, type Subject } from './support/adapters.js'

async function errCode(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    if (isErrno(err)) return err.code
    throw err
  }
  return 'no error'
}

async function put(fs: FsPort, path: string, text: string, mode?: number): Promise<void> {
  const h = await fs.openWrite(path, mode === undefined ? {} : { mode })
  await h.write(Buffer.from(text))
  await h.close()
}

async function text(fs: FsPort, path: string): Promise<string> {
  return Buffer.from(await readFileLimited(fs, path)).toString()
}

for (const { name, make } of SUBJECTS) {
  describe(`the ${name} adapter`, () => {
    let s: Subject
    let fs: FsPort
    let r: string
    beforeEach(async () => {
      s = await make()
      fs = s.fs
      r = s.root
    })
    afterEach(async () => {
      await s.cleanup()
    })
    const rootOnly = (): boolean => {
      if (s.privileged) return false
      rootSkipReason()
      return true
    }

    describe('lstat', () => {
      it('describes a file, a directory and a symlink without following the link', async () => {
        await put(fs, `${r}/f`, 'hello', 0o640)
        await fs.mkdir(`${r}/d`, 0o750)
        await fs.symlink('d', `${r}/l`)
        const f = await fs.lstat(`${r}/f`)
        expect(f).toMatchObject({ kind: 'file', mode: 0o640, size: 5, nlink: 1 })
        expect((await fs.lstat(`${r}/d`))?.kind).toBe('dir')
        expect((await fs.lstat(`${r}/d`))?.mode).toBe(0o750)
        expect(await fs.lstat(`${r}/l`)).toMatchObject({ kind: 'symlink', size: 1 })
      })

      it('answers undefined for a missing path and ENOTDIR through a file', async () => {
        await put(fs, `${r}/f`, 'x')
        expect(await fs.lstat(`${r}/missing`)).toBeUndefined()
        expect(await errCode(fs.lstat(`${r}/f/below`))).toBe('ENOTDIR')
      })

      it('resolves symlinks in the middle of a path', async () => {
        await fs.mkdir(`${r}/d`)
        await put(fs, `${r}/d/f`, 'x')
        await fs.symlink('d', `${r}/l`)
        expect((await fs.lstat(`${r}/l/f`))?.kind).toBe('file')
      })

      it('reports the same dev and ino for two names of one file, and distinct ones otherwise', async () => {
        await put(fs, `${r}/a`, 'x')
        await put(fs, `${r}/b`, 'x')
        await fs.link(`${r}/a`, `${r}/a2`)
        const a = (await fs.lstat(`${r}/a`))!
        const a2 = (await fs.lstat(`${r}/a2`))!
        const b = (await fs.lstat(`${r}/b`))!
        expect(inodeKey(a)).toBe(inodeKey(a2))
        expect(inodeKey(a)).not.toBe(inodeKey(b))
        expect(a.nlink).toBe(2)
      })

      it('counts a directory link for each subdirectory', async () => {
        await fs.mkdir(`${r}/d`)
        await fs.mkdir(`${r}/d/x`)
        await fs.mkdir(`${r}/d/y`)
        expect((await fs.lstat(`${r}/d`))?.nlink).toBe(4)
      })
    })

    describe('mkdir', () => {
      it('applies the umask to the requested mode', async () => {
        await fs.mkdir(`${r}/d`, 0o777)
        expect((await fs.lstat(`${r}/d`))?.mode).toBe(0o755)
      })

      it('fails with EEXIST on any existing entry and ENOENT without a parent', async () => {
        await put(fs, `${r}/f`, 'x')
        expect(await errCode(fs.mkdir(`${r}/f`))).toBe('EEXIST')
        expect(await errCode(fs.mkdir(`${r}/no/d`))).toBe('ENOENT')
      })

      it('lets root create entries in a directory without write permission', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mkdir(`${r}/ro`, 0o555)
        await put(fs, `${r}/ro/f`, 'x')
        expect((await fs.lstat(`${r}/ro/f`))?.kind).toBe('file')
      })
    })

    describe('readdir', () => {
      it('lists every entry with its kind and does not list . or ..', async () => {
        await put(fs, `${r}/f`, 'x')
        await fs.mkdir(`${r}/d`)
        await fs.symlink('f', `${r}/l`)
        await fs.mknod(`${r}/p`, 'fifo', 0o644)
        const kinds = Object.fromEntries((await fs.readdir(r)).map((e) => [e.name, e.kind]))
        expect(kinds).toEqual({ f: 'file', d: 'dir', l: 'symlink', p: 'fifo' })
      })

      it('reports char and block devices as such, with their numbers', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mknod(`${r}/c`, 'char', 0o000, { major: 0, minor: 0 })
        await fs.mknod(`${r}/b`, 'block', 0o600, { major: 7, minor: 200 })
        await fs.mknod(`${r}/big`, 'char', 0o600, { major: 4095, minor: 1048575 })
        await put(fs, `${r}/f`, 'x')
        const byName = Object.fromEntries((await fs.readdir(r)).map((e) => [e.name, e]))
        expect(byName).toEqual({
          c: { name: 'c', kind: 'char', rdev: { major: 0, minor: 0 } },
          b: { name: 'b', kind: 'block', rdev: { major: 7, minor: 200 } },
          big: { name: 'big', kind: 'char', rdev: { major: 4095, minor: 1048575 } },
          f: { name: 'f', kind: 'file' },
        })
      })

      it('fails with ENOTDIR on a file', async () => {
        await put(fs, `${r}/f`, 'x')
        expect(await errCode(fs.readdir(`${r}/f`))).toBe('ENOTDIR')
      })

      it('never lists a directory through a symlink', async () => {
        await fs.mkdir(`${r}/outside`)
        await put(fs, `${r}/outside/secret`, 'x')
        await fs.symlink('outside', `${r}/l`)
        expect(await errCode(fs.readdir(`${r}/l`))).toBe('ELOOP')
      })
    })

    describe('listTree', () => {
      const tree = async (): Promise<void> => {
        await fs.mkdir(`${r}/t`)
        for (const d of ['a', 'a/x', 'a/x/deep', 'b', 'c']) await fs.mkdir(`${r}/t/${d}`)
        for (let i = 0; i < 5; i++) await put(fs, `${r}/t/a/x/f${i}`, 'x')
        await put(fs, `${r}/t/b/f`, 'x')
        await fs.symlink('a', `${r}/t/link`)
        await fs.mkdir(`${r}/t/${decodeName(Buffer.from([0xc3, 0x28]))}`)
      }
      const shape = (dirs: { rel: string; entries?: { name: string; kind: string }[]; errno?: string }[]): string[] =>
        dirs.map((d) => `${d.rel}: ${d.errno ?? d.entries!.map((e) => `${e.name}/${e.kind}`).join(' ')}`)

      it('lists every directory depth first, as readdir does, the last subdirectory pushed first', async () => {
        await tree()
        const whole = await fs.listTree(`${r}/t`, [''], 1_000_000)
        expect(whole.pending).toEqual([])
        expect(shape(whole.dirs)).toEqual(shape((await listTreeByReaddir((p) => fs.readdir(p), `${r}/t`, [''], 1_000_000)).dirs))
        const rels = whole.dirs.map((d) => d.rel)
        expect([...rels].sort()).toEqual(['', 'a', 'a/x', 'a/x/deep', 'b', 'c', decodeName(Buffer.from([0xc3, 0x28]))].sort())
        // Never through the symlink; each directory after its parent.
        expect(rels.indexOf('a/x')).toBeGreaterThan(rels.indexOf('a'))
        expect(rels.indexOf('a/x/deep')).toBeGreaterThan(rels.indexOf('a/x'))
      })

      it('stops once maxEntries entries are listed and goes on from the stack it hands back', async () => {
        await tree()
        const whole = await fs.listTree(`${r}/t`, [''], 1_000_000)
        const parts: string[] = []
        let from = ['']
        let calls = 0
        while (from.length > 0) {
          const part = await fs.listTree(`${r}/t`, from, 2)
          parts.push(...shape(part.dirs))
          from = part.pending
          calls += 1
        }
        expect(calls).toBeGreaterThan(2)
        expect(parts).toEqual(shape(whole.dirs))
      })

      it('leaves out plain files when asked, but not in a directory that holds a .wh. name, and counts every entry', async () => {
        await tree()
        await put(fs, `${r}/t/b/.wh.gone`, '')
        const part = await fs.listTree(`${r}/t`, [''], 1_000_000, { skipPlainFiles: true })
        const byRel = new Map(part.dirs.map((d) => [d.rel, d]))
        expect(shape([byRel.get('a/x')!])).toEqual(['a/x: deep/dir'])
        expect(byRel.get('a/x')).toMatchObject({ count: 6 })
        expect(shape([byRel.get('b')!]).map((l) => l.split(' ').sort().join(' '))).toEqual(['.wh.gone/file b: f/file'])
        expect(byRel.get('b')).toMatchObject({ count: 2 })
        expect(shape([byRel.get('')!])[0]).toContain('link/symlink')
        expect(part.dirs.map((d) => d.rel).sort()).toEqual((await fs.listTree(`${r}/t`, [''], 1_000_000)).dirs.map((d) => d.rel).sort())
      })

      it('runs on threads marked SCHED_BATCH, so that a worker woken for it never preempts the main thread', async ({ skip }) => {
        if (fs.kind !== 'disk') return skip('scheduling policy is the host kernel\'s: the disk adapter only')
        // /proc/<pid>/task/<tid>/stat: the 41st field is the policy (0: SCHED_OTHER, 3: SCHED_BATCH); the name in parentheses may hold spaces.
        const policy = async (tid: string): Promise<number> => {
          const stat = await text(fs, `/proc/self/task/${tid}/stat`)
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[41 - 3])
        }
        // The main thread's tid is the pid; a process started under another policy (chrt) keeps it in every thread.
        if ((await policy(String(process.pid))) !== 0) return skip('this process does not run on the default policy (chrt?): its threads keep theirs')
        await tree()
        await fs.listTree(`${r}/t`, [''], 1_000_000)
        const tids = (await fs.readdir('/proc/self/task')).map((t) => t.name)
        expect(await Promise.all(tids.map(policy))).toContain(3)
        expect(await policy(String(process.pid))).toBe(0)
      })

      it('gives each entry the inode number its lstat reports when asked, where the filesystem lists it so, and none unasked', async () => {
        await tree()
        await fs.link(`${r}/t/b/f`, `${r}/t/a/f-link`)
        const unasked = await fs.listTree(`${r}/t`, [''], 1_000_000)
        expect(unasked.dirs.flatMap((d) => ('entries' in d ? d.entries : [])).filter((e) => e.ino !== undefined)).toEqual([])
        const asked = await fs.listTree(`${r}/t`, [''], 1_000_000, { inodes: true })
        const listsInodes = fs.kind === 'memory' || ['ext4', 'xfs', 'btrfs', 'tmpfs'].includes((await fs.fsType(`${r}/t`)).name)
        let numbered = 0
        for (const d of asked.dirs) {
          if (!('entries' in d)) continue
          for (const e of d.entries) {
            const path = d.rel === '' ? `${r}/t/${e.name}` : `${r}/t/${d.rel}/${e.name}`
            if (listsInodes) expect(e.ino, path).toBeTypeOf('number')
            if (e.ino === undefined) continue
            numbered += 1
            expect(BigInt(e.ino), path).toBe((await fs.lstat(path))!.ino)
          }
        }
        if (!listsInodes) return
        expect(numbered).toBe(14)
        // Two names of one file are listed with one number.
        const byName = new Map(asked.dirs.flatMap((d) => ('entries' in d ? d.entries.map((e) => [`${d.rel}/${e.name}`, e.ino] as const) : [])))
        expect(byName.get('a/f-link')).toBeTypeOf('number')
        expect(byName.get('a/f-link')).toBe(byName.get('b/f'))
        // Without its plain files a listing keeps the others' numbers (and a directory holding a .wh. name whole).
        await put(fs, `${r}/t/b/.wh.gone`, '')
        const lean = await fs.listTree(`${r}/t`, [''], 1_000_000, { inodes: true, skipPlainFiles: true })
        const full = await fs.listTree(`${r}/t`, [''], 1_000_000, { inodes: true })
        const numbers = (l: TreeListing, keep: (e: DirEntry, rel: string) => boolean): string[] =>
          l.dirs.flatMap((d) => ('entries' in d ? d.entries.filter((e) => keep(e, d.rel)).map((e) => `${d.rel}/${e.name} ${e.kind} ${e.ino}`) : [])).sort()
        expect(numbers(lean, () => true)).toEqual(numbers(full, (e, rel) => e.kind !== 'file' || rel === 'b'))
      })

      it('answers a directory it cannot list with its errno and goes on', async () => {
        await tree()
        const part = await fs.listTree(`${r}/t`, ['b', 'gone', 'link'], 100)
        expect(shape(part.dirs)).toEqual(['link: ELOOP', 'gone: ENOENT', 'b: f/file'])
      })
    })

    describe('inspect', () => {
      const all = { xattrNames: true, readUpTo: 64 * 1024, readlinks: true }
      const tree = async (): Promise<string> => {
        const d = `${r}/i`
        await fs.mkdir(d)
        await put(fs, `${d}/small`, 'hello\n', 0o640)
        await put(fs, `${d}/edge`, 'e'.repeat(64 * 1024))
        await put(fs, `${d}/large`, 'l'.repeat(64 * 1024 + 1))
        await put(fs, `${d}/empty`, '')
        await fs.mkdir(`${d}/sub`, 0o750)
        await fs.symlink('small', `${d}/link`)
        await fs.symlink('../../nowhere', `${d}/dangling`)
        await fs.mknod(`${d}/pipe`, 'fifo', 0o600)
        return d
      }

      it('answers each name with its lstat, in the order asked', async () => {
        const d = await tree()
        const names = ['sub', 'small', 'link', 'pipe', 'empty', 'large']
        const answers = await fs.inspect(d, names)
        expect(answers.map((a) => a.inode?.kind)).toEqual(['dir', 'file', 'symlink', 'fifo', 'file', 'file'])
        for (const [i, name] of names.entries()) expect([name, answers[i]!.inode]).toEqual([name, await fs.lstat(`${d}/${name}`)])
        // Nothing was asked besides the stats.
        expect(answers.every((a) => Object.keys(a).join() === 'inode')).toBe(true)
      })

      it('reads a regular file whole up to readUpTo bytes, and no larger, empty or special one', async () => {
        const d = await tree()
        const [small, edge, large, empty, pipe, sub] = await fs.inspect(d, ['small', 'edge', 'large', 'empty', 'pipe', 'sub'], all)
        expect(Buffer.from(small!.bytes!).toString()).toBe('hello\n')
        expect(small!.inode).toMatchObject({ kind: 'file', mode: 0o640, size: 6 })
        expect(edge!.bytes?.length).toBe(64 * 1024)
        expect(Buffer.from(edge!.bytes!).equals(Buffer.from('e'.repeat(64 * 1024)))).toBe(true)
        for (const a of [large, empty, pipe, sub]) expect([a!.inode?.kind, a!.bytes, a!.errno]).toEqual([a!.inode?.kind, undefined, undefined])
        expect(large!.inode?.size).toBe(64 * 1024 + 1)
      })

      it('gives symlink targets, dangling or not, only to a symlink', async () => {
        const d = await tree()
        const answers = await fs.inspect(d, ['link', 'dangling', 'small'], { readlinks: true })
        expect(answers.map((a) => a.linkname)).toEqual(['small', '../../nowhere', undefined])
      })

      it('lists xattr names of each entry, an empty list where there are none', async () => {
        const d = await tree()
        await fs.xattr.set(`${d}/small`, 'user.a', Buffer.from('1'))
        await fs.xattr.set(`${d}/small`, 'user.b', new Uint8Array(0))
        await fs.xattr.set(`${d}/sub`, 'user.dir', Buffer.from('x'))
        const [small, sub, large] = await fs.inspect(d, ['small', 'sub', 'large'], { xattrNames: true })
        expect(small!.xattrNames!.filter((x) => x.startsWith('user.')).sort()).toEqual(['user.a', 'user.b'])
        expect(small!.xattrNames!.sort()).toEqual((await fs.xattr.list(`${d}/small`)).sort())
        expect(sub!.xattrNames!.filter((x) => x.startsWith('user.'))).toEqual(['user.dir'])
        expect(large!.xattrNames).toEqual(await fs.xattr.list(`${d}/large`))
      })

      it('answers a missing name, and one that is not a name in the directory, with its errno and goes on', async () => {
        const d = await tree()
        const answers = await fs.inspect(d, ['missing', 'small', '', '.', '..', 'sub/x', 'a\0b', 'n'.repeat(256), 'sub'], all)
        expect(answers.map((a) => a.errno ?? a.inode?.kind)).toEqual(['ENOENT', 'file', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'ENAMETOOLONG', 'dir'])
        expect(answers[0]).toEqual({ errno: 'ENOENT', syscall: 'lstat' })
      })

      it('looks up names that are not UTF-8 byte for byte, in a directory whose name is not either', async () => {
        const cafe = 'caf\udce9'
        const bad = 'bad\udcff\udcfe'
        await fs.mkdir(`${r}/${cafe}`)
        await put(fs, `${r}/${cafe}/${bad}`, 'latin-1')
        await fs.symlink(bad, `${r}/${cafe}/l\udcfe`)
        await fs.xattr.set(`${r}/${cafe}/${bad}`, 'user.k', Buffer.from('v'))
        const [file, link, plain] = await fs.inspect(`${r}/${cafe}`, [bad, 'l\udcfe', 'caf\u00e9'], all)
        expect(Buffer.from(file!.bytes!).toString()).toBe('latin-1')
        expect(file!.xattrNames).toContain('user.k')
        expect(link!.linkname).toBe(bad)
        expect(link!.inode?.size).toBe(5)
        // The UTF-8 spelling of the same letter is another name.
        expect(plain!.errno).toBe('ENOENT')
      })

      it('refuses a directory argument that is a symlink, a file or missing, for the whole call', async () => {
        const d = await tree()
        await fs.symlink('sub', `${d}/to-sub`)
        expect(await errCode(fs.inspect(`${d}/to-sub`, ['x']))).toBe('ELOOP')
        expect(await errCode(fs.inspect(`${d}/small`, ['x']))).toBe('ENOTDIR')
        expect(await errCode(fs.inspect(`${d}/missing`, []))).toBe('ENOENT')
        expect(await fs.inspect(`${d}/sub`, [])).toEqual([])
      })

      it('never opens an empty file, so an unreadable one (an aufs whiteout) costs no error', async () => {
        const d = await tree()
        await put(fs, `${d}/.wh.gone`, '', 0o000)
        const [marker] = await fs.inspect(d, ['.wh.gone'], all)
        expect(marker).toEqual({ inode: await fs.lstat(`${d}/.wh.gone`), xattrNames: await fs.xattr.list(`${d}/.wh.gone`) })
        expect(marker!.inode).toMatchObject({ kind: 'file', mode: 0, size: 0 })
      })

      it('stops short once an answer carries maxBytes, and goes on from there when asked again', async () => {
        const d = `${r}/many`
        await fs.mkdir(d)
        const names = Array.from({ length: 10 }, (_, i) => `f${i}`)
        for (const n of names) await put(fs, `${d}/${n}`, n.repeat(50))
        const answers: string[] = []
        let calls = 0
        while (answers.length < names.length) {
          const part = await fs.inspect(d, names.slice(answers.length), { readUpTo: 1024, maxBytes: 250 })
          expect(part.length).toBeGreaterThan(0)
          answers.push(...part.map((a) => Buffer.from(a.bytes!).toString()))
          calls += 1
        }
        expect(calls).toBe(4)
        expect(answers).toEqual(names.map((n) => n.repeat(50)))
        // An answer holds one name at least, however large.
        expect(await fs.inspect(d, names, { readUpTo: 1024, maxBytes: 1 })).toHaveLength(1)
      })

      it('refuses limits past what one answer may hold', async () => {
        const d = await tree()
        await expect(fs.inspect(d, ['small'], { readUpTo: 2 * 1024 * 1024 })).rejects.toBeInstanceOf(RangeError)
        await expect(fs.inspect(d, ['small'], { maxBytes: 0 })).rejects.toBeInstanceOf(RangeError)
      })
    })

    describe('readlink and symlink', () => {
      it('returns the target as written, dangling or not', async () => {
        await fs.symlink('../../nowhere', `${r}/l`)
        expect(await fs.readlink(`${r}/l`)).toBe('../../nowhere')
      })

      it('resolves every symlink of a path with realpath, and ENOENT when one dangles', async () => {
        await fs.mkdir(`${r}/real`)
        await fs.mkdir(`${r}/real/store`)
        await fs.symlink(`${r}/real`, `${r}/abs`)
        await fs.symlink('abs/store', `${r}/rel`)
        await fs.symlink('nowhere', `${r}/dangling`)
        const real = await fs.realpath(r)
        expect(await fs.realpath(`${r}/rel`)).toBe(`${real}/real/store`)
        expect(await errCode(fs.realpath(`${r}/dangling`))).toBe('ENOENT')
      })

      it('fails with EINVAL on something that is not a symlink and EEXIST over an entry', async () => {
        await put(fs, `${r}/f`, 'x')
        expect(await errCode(fs.readlink(`${r}/f`))).toBe('EINVAL')
        expect(await errCode(fs.symlink('x', `${r}/f`))).toBe('EEXIST')
      })
    })

    describe('reading and writing', () => {
      it('round-trips bytes through a stream, binary included', async () => {
        const bytes = Buffer.alloc(700_000)
        for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) % 256
        const h = await fs.openWrite(`${r}/big`)
        await h.write(bytes.subarray(0, 300_000))
        await h.write(bytes.subarray(300_000))
        await h.sync()
        await h.close()
        expect(Buffer.compare(Buffer.from(await readFileLimited(fs, `${r}/big`)), bytes)).toBe(0)
      })

      it('reads a generated file whose size says 0 in full, as procfs has them', async ({ skip }) => {
        if (fs.kind !== 'disk') return skip('procfs is the host kernel: the disk adapter only')
        // /proc/self/mountinfo says 0 bytes and holds many pages; /proc/self/comm a few bytes.
        const mountinfo = Buffer.from(await readFileLimited(fs, '/proc/self/mountinfo')).toString()
        expect((await fs.lstat('/proc/self/mountinfo'))!.size).toBe(0)
        expect(mountinfo.split('\n').filter(Boolean).length).toBeGreaterThan(0)
        expect(mountinfo.endsWith('\n')).toBe(true)
        expect(Buffer.from(await readFileLimited(fs, '/proc/self/comm')).toString()).toMatch(/^\S.*\n$/)
        // An empty regular file is still empty.
        await put(fs, `${r}/empty`, '')
        expect(await text(fs, `${r}/empty`)).toBe('')
      })

      it('truncates an existing file and refuses it with exclusive', async () => {
        await put(fs, `${r}/f`, 'long content')
        await put(fs, `${r}/f`, 'short')
        expect(await text(fs, `${r}/f`)).toBe('short')
        expect(await errCode(fs.openWrite(`${r}/f`, { exclusive: true }))).toBe('EEXIST')
      })

      it('never writes or reads through a symlink in the last component', async () => {
        await put(fs, `${r}/target`, 'keep')
        await fs.symlink('target', `${r}/l`)
        expect(await errCode(fs.openWrite(`${r}/l`))).toBe('ELOOP')
        expect(await errCode(fs.openRead(`${r}/l`))).toBe('ELOOP')
        expect(await text(fs, `${r}/target`)).toBe('keep')
      })

      it('refuses a write after close, whatever file has its descriptor number by then', async () => {
        const h = await fs.openWrite(`${r}/f`)
        await h.write(Buffer.from('kept'))
        await h.close()
        await put(fs, `${r}/other`, 'untouched')
        expect(await errCode(h.write(Buffer.from('stray')))).toBe('EBADF')
        expect(await text(fs, `${r}/f`)).toBe('kept')
        expect(await text(fs, `${r}/other`)).toBe('untouched')
      })

      it('reads a small file that grew or shrank since it was opened as it is when read', async () => {
        await put(fs, `${r}/f`, 'x'.repeat(1000))
        expect(await text(fs, `${r}/f`)).toBe('x'.repeat(1000))
        await put(fs, `${r}/f`, 'short')
        expect(await text(fs, `${r}/f`)).toBe('short')
      })

      it('refuses to open a directory as a file', async () => {
        await fs.mkdir(`${r}/d`)
        expect(await errCode(fs.openRead(`${r}/d`))).toBe('EISDIR')
        expect(await errCode(fs.openWrite(`${r}/d`))).toBe('EISDIR')
      })

      it('applies the umask to a created file', async () => {
        await put(fs, `${r}/f`, 'x', 0o666)
        expect((await fs.lstat(`${r}/f`))?.mode).toBe(0o644)
      })

      it('writes durably by replacing the file in one rename', async () => {
        await writeFileDurable(fs, `${r}/meta`, Buffer.from('v1'))
        await writeFileDurable(fs, `${r}/meta`, Buffer.from('v2'))
        expect(await text(fs, `${r}/meta`)).toBe('v2')
        expect((await fs.readdir(r)).map((e) => e.name)).toEqual(['meta'])
      })
    })

    describe('mknod', () => {
      it('creates an overlay whiteout: a char device 0/0 with mode 0000', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mknod(`${r}/wh`, 'char', 0o000, { major: 0, minor: 0 })
        expect(await fs.lstat(`${r}/wh`)).toMatchObject({ kind: 'char', mode: 0, rdev: { major: 0, minor: 0 }, size: 0 })
      })

      it('keeps large major and minor numbers apart', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mknod(`${r}/c`, 'char', 0o600, { major: 4095, minor: 1048575 })
        expect((await fs.lstat(`${r}/c`))?.rdev).toEqual({ major: 4095, minor: 1048575 })
      })

      it('fails with EEXIST over an entry', async () => {
        await put(fs, `${r}/f`, 'x')
        expect(await errCode(fs.mknod(`${r}/f`, 'fifo', 0o644))).toBe('EEXIST')
      })
    })

    describe('link', () => {
      it('refuses to hard-link a directory with EPERM', async () => {
        await fs.mkdir(`${r}/d`)
        expect(await errCode(fs.link(`${r}/d`, `${r}/d2`))).toBe('EPERM')
      })

      it('links a symlink itself, not what it points to', async () => {
        await put(fs, `${r}/t`, 'x')
        await fs.symlink('t', `${r}/l`)
        await fs.link(`${r}/l`, `${r}/l2`)
        expect((await fs.lstat(`${r}/l2`))?.kind).toBe('symlink')
        expect((await fs.lstat(`${r}/t`))?.nlink).toBe(1)
      })

      it('fails with EEXIST over an entry and EXDEV across filesystems', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await put(fs, `${r}/a`, 'x')
        expect(await errCode(fs.link(`${r}/a`, `${r}/a`))).toBe('EEXIST')
        await fs.mkdir(`${r}/m`)
        await s.mountTmpfs(`${r}/m`)
        expect(await errCode(fs.link(`${r}/a`, `${r}/m/a`))).toBe('EXDEV')
      })
    })

    describe('linkNames', () => {
      const dirs = async (): Promise<{ from: string; to: string }> => {
        const from = `${r}/from`
        const to = `${r}/to`
        await fs.mkdir(from)
        await fs.mkdir(to)
        return { from, to }
      }

      it('links each name under the same name in the other directory, one inode with two links', async () => {
        const { from, to } = await dirs()
        const names = ['a', 'b', 'c', '.hidden']
        for (const name of names) await put(fs, `${from}/${name}`, name)
        expect(await fs.linkNames(from, to, names)).toEqual([undefined, undefined, undefined, undefined])
        for (const name of names) {
          const source = (await fs.lstat(`${from}/${name}`))!
          const linked = (await fs.lstat(`${to}/${name}`))!
          expect([name, inodeKey(linked), linked.nlink]).toEqual([name, inodeKey(source), 2])
        }
        expect(await fs.linkNames(from, to, [])).toEqual([])
      })

      it('answers ENOENT for a missing name and EEXIST for one already taken, and still links the others', async () => {
        const { from, to } = await dirs()
        for (const name of ['a', 'taken', 'c']) await put(fs, `${from}/${name}`, name)
        await put(fs, `${to}/taken`, 'mine')
        expect(await fs.linkNames(from, to, ['a', 'missing', 'taken', 'c'])).toEqual([undefined, 'ENOENT', 'EEXIST', undefined])
        expect((await fs.readdir(to)).map((e) => e.name).sort()).toEqual(['a', 'c', 'taken'])
        expect(await text(fs, `${to}/taken`)).toBe('mine')
        expect((await fs.lstat(`${from}/taken`))?.nlink).toBe(1)
      })

      it('links a symlink itself, not what it points to', async () => {
        const { from, to } = await dirs()
        await put(fs, `${from}/t`, 'x')
        await fs.symlink('t', `${from}/l`)
        await fs.symlink('nowhere', `${from}/dangling`)
        expect(await fs.linkNames(from, to, ['l', 'dangling'])).toEqual([undefined, undefined])
        const linked = (await fs.lstat(`${to}/l`))!
        expect(linked.kind).toBe('symlink')
        expect(inodeKey(linked)).toBe(inodeKey((await fs.lstat(`${from}/l`))!))
        expect(await fs.readlink(`${to}/dangling`)).toBe('nowhere')
        expect((await fs.lstat(`${from}/t`))?.nlink).toBe(1)
      })

      it('answers EPERM for a directory and EINVAL for what is not one name, making nothing for either', async () => {
        const { from, to } = await dirs()
        await fs.mkdir(`${from}/sub`)
        await put(fs, `${from}/sub/x`, 'x')
        await put(fs, `${r}/outside`, 'x')
        const answers = await fs.linkNames(from, to, ['sub', '..', '.', '', 'sub/x', '../outside', 'a\0b', 'n'.repeat(256)])
        expect(answers).toEqual(['EPERM', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'ENAMETOOLONG'])
        expect(await fs.readdir(to)).toEqual([])
        expect((await fs.lstat(`${r}/outside`))?.nlink).toBe(1)
      })

      it('refuses a directory that is a symlink, a file or missing, for the whole call, linking nothing', async () => {
        const { from, to } = await dirs()
        await put(fs, `${from}/a`, 'a')
        await fs.symlink('from', `${r}/from-link`)
        await fs.symlink('to', `${r}/to-link`)
        expect(await errCode(fs.linkNames(`${r}/from-link`, to, ['a']))).toBe('ELOOP')
        expect(await errCode(fs.linkNames(from, `${r}/to-link`, ['a']))).toBe('ELOOP')
        expect(await errCode(fs.linkNames(`${r}/missing`, to, ['a']))).toBe('ENOENT')
        expect(await errCode(fs.linkNames(from, `${r}/missing`, ['a']))).toBe('ENOENT')
        expect(await errCode(fs.linkNames(from, `${from}/a`, ['a']))).toBe('ENOTDIR')
        expect(await fs.readdir(to)).toEqual([])
        expect((await fs.lstat(`${from}/a`))?.nlink).toBe(1)
      })

      it('links names that are not UTF-8 byte for byte, between directories whose names are not either', async () => {
        const cafe = 'caf\udce9'
        const bad = 'bad\udcff\udcfe'
        await fs.mkdir(`${r}/${cafe}`)
        await fs.mkdir(`${r}/${bad}.to`)
        await put(fs, `${r}/${cafe}/${bad}`, 'latin-1')
        await put(fs, `${r}/${cafe}/caf\u00e9`, 'utf-8')
        expect(await fs.linkNames(`${r}/${cafe}`, `${r}/${bad}.to`, [bad, 'caf\u00e9', cafe])).toEqual([undefined, undefined, 'ENOENT'])
        expect((await fs.readdir(`${r}/${bad}.to`)).map((e) => e.name).sort()).toEqual([bad, 'caf\u00e9'].sort())
        expect(await text(fs, `${r}/${bad}.to/${bad}`)).toBe('latin-1')
        expect((await fs.lstat(`${r}/${cafe}/${bad}`))?.nlink).toBe(2)
        // The directory it could not open is named in the error as the caller spelled it.
        await expect(fs.linkNames(`${r}/${cafe}`, `${r}/${cafe}.missing`, [bad])).rejects.toMatchObject({ code: 'ENOENT', path: `${r}/${cafe}.missing` })
        await expect(fs.linkNames(`${r}/${bad}.missing`, `${r}/${cafe}`, [bad])).rejects.toMatchObject({ code: 'ENOENT', path: `${r}/${bad}.missing` })
      })
    })

    describe('rename', () => {
      it('drops the link count of the inode it replaces', async () => {
        await put(fs, `${r}/file`, 'new')
        await put(fs, `${r}/other`, 'old')
        await fs.link(`${r}/other`, `${r}/other-hard`)
        await fs.rename(`${r}/file`, `${r}/other`)
        expect((await fs.lstat(`${r}/other-hard`))?.nlink).toBe(1)
        expect(await text(fs, `${r}/other`)).toBe('new')
        expect(await text(fs, `${r}/other-hard`)).toBe('old')
      })

      it('moves a symlink itself and leaves its target alone', async () => {
        await fs.mkdir(`${r}/d2`)
        await fs.symlink('d2', `${r}/sym`)
        await fs.rename(`${r}/sym`, `${r}/sym2`)
        expect((await fs.lstat(`${r}/sym2`))?.kind).toBe('symlink')
        expect((await fs.lstat(`${r}/d2`))?.kind).toBe('dir')
        expect(await fs.lstat(`${r}/sym`)).toBeUndefined()
      })

      it('refuses a directory over a non-empty directory with ENOTEMPTY', async () => {
        await fs.mkdir(`${r}/a`)
        await fs.mkdir(`${r}/b`)
        await put(fs, `${r}/b/keep`, 'x')
        expect(await errCode(fs.rename(`${r}/a`, `${r}/b`))).toBe('ENOTEMPTY')
        expect(await text(fs, `${r}/b/keep`)).toBe('x')
      })

      it('replaces an empty directory with a directory', async () => {
        await fs.mkdir(`${r}/a`)
        await put(fs, `${r}/a/f`, 'x')
        await fs.mkdir(`${r}/b`)
        await fs.rename(`${r}/a`, `${r}/b`)
        expect(await text(fs, `${r}/b/f`)).toBe('x')
        expect((await fs.lstat(r))?.nlink).toBe(3)
      })

      it('refuses a directory over a file with ENOTDIR and a file over a directory with EISDIR', async () => {
        await fs.mkdir(`${r}/d`)
        await put(fs, `${r}/f`, 'x')
        expect(await errCode(fs.rename(`${r}/d`, `${r}/f`))).toBe('ENOTDIR')
        expect(await errCode(fs.rename(`${r}/f`, `${r}/d`))).toBe('EISDIR')
      })

      it('refuses to move a directory into itself with EINVAL', async () => {
        await fs.mkdir(`${r}/d`)
        await fs.mkdir(`${r}/d/sub`)
        expect(await errCode(fs.rename(`${r}/d`, `${r}/d/sub/d`))).toBe('EINVAL')
      })

      it('does nothing when both names are links of one inode', async () => {
        await put(fs, `${r}/a`, 'x')
        await fs.link(`${r}/a`, `${r}/b`)
        await fs.rename(`${r}/a`, `${r}/b`)
        expect((await fs.lstat(`${r}/a`))?.nlink).toBe(2)
        expect((await fs.lstat(`${r}/b`))?.nlink).toBe(2)
      })

      it('keeps paths below a renamed directory reachable under the new name', async () => {
        await fs.mkdir(`${r}/a`)
        await fs.mkdir(`${r}/a/b`)
        await put(fs, `${r}/a/b/f`, 'deep')
        await fs.rename(`${r}/a`, `${r}/z`)
        expect(await text(fs, `${r}/z/b/f`)).toBe('deep')
        expect(await fs.lstat(`${r}/a`)).toBeUndefined()
      })

      it('fails with EXDEV across filesystems', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await put(fs, `${r}/a`, 'x')
        await fs.mkdir(`${r}/m`)
        await s.mountTmpfs(`${r}/m`)
        expect(await errCode(fs.rename(`${r}/a`, `${r}/m/a`))).toBe('EXDEV')
      })
    })

    describe('unlink and rmdir', () => {
      it('refuses to unlink a directory with EISDIR', async () => {
        await fs.mkdir(`${r}/d`)
        expect(await errCode(fs.unlink(`${r}/d`))).toBe('EISDIR')
      })

      it('refuses a non-empty directory with ENOTEMPTY and a file with ENOTDIR', async () => {
        await fs.mkdir(`${r}/d`)
        await put(fs, `${r}/d/f`, 'x')
        expect(await errCode(fs.rmdir(`${r}/d`))).toBe('ENOTEMPTY')
        expect(await errCode(fs.rmdir(`${r}/d/f`))).toBe('ENOTDIR')
      })

      it('removes a symlink, never its target', async () => {
        await fs.mkdir(`${r}/d`)
        await fs.symlink('d', `${r}/l`)
        await fs.unlink(`${r}/l`)
        expect((await fs.lstat(`${r}/d`))?.kind).toBe('dir')
      })

      it('keeps an inode while another name still holds it', async () => {
        await put(fs, `${r}/a`, 'data')
        await fs.link(`${r}/a`, `${r}/b`)
        await fs.unlink(`${r}/a`)
        expect(await text(fs, `${r}/b`)).toBe('data')
        expect((await fs.lstat(`${r}/b`))?.nlink).toBe(1)
      })

      it('refuses to remove a mount point with EBUSY', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mkdir(`${r}/m`)
        await s.mountTmpfs(`${r}/m`)
        expect(await errCode(fs.rmdir(`${r}/m`))).toBe('EBUSY')
      })
    })

    describe('chmod, lchown and lutimes', () => {
      it('keeps setuid, setgid and sticky bits', async () => {
        await put(fs, `${r}/f`, 'x')
        await fs.chmod(`${r}/f`, 0o4755)
        await fs.mkdir(`${r}/t`)
        await fs.chmod(`${r}/t`, 0o1777)
        expect((await fs.lstat(`${r}/f`))?.mode).toBe(0o4755)
        expect((await fs.lstat(`${r}/t`))?.mode).toBe(0o1777)
      })

      it('refuses to chmod through a symlink and leaves the target alone', async () => {
        await put(fs, `${r}/t`, 'x', 0o644)
        await fs.symlink('t', `${r}/l`)
        expect(await errCode(fs.chmod(`${r}/l`, 0o600))).toBe('ENOTSUP')
        expect((await fs.lstat(`${r}/t`))?.mode).toBe(0o644)
      })

      it('changes the owner of a symlink itself', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await put(fs, `${r}/t`, 'x')
        await fs.symlink('t', `${r}/l`)
        await fs.lchown(`${r}/l`, 1234, 5678)
        expect(await fs.lstat(`${r}/l`)).toMatchObject({ uid: 1234, gid: 5678 })
        expect(await fs.lstat(`${r}/t`)).toMatchObject({ uid: 0, gid: 0 })
      })

      it('sets modification times to the nanosecond, on a symlink without touching its target', async () => {
        await put(fs, `${r}/t`, 'x')
        await fs.symlink('t', `${r}/l`)
        const before = (await fs.lstat(`${r}/t`))!.mtimeNs
        const ns = 1_600_000_000_123_456_789n
        await fs.lutimes(`${r}/l`, ns, ns)
        await fs.lutimes(`${r}/t`, 1_000_000_000n, 1_000_000_000n)
        expect((await fs.lstat(`${r}/l`))?.mtimeNs).toBe(ns)
        expect((await fs.lstat(`${r}/t`))?.mtimeNs).toBe(1_000_000_000n)
        expect(before).toBeGreaterThan(1_000_000_000n)
      })
    })

    describe('xattrs', () => {
      it('stores binary values byte for byte and lists their names', async () => {
        await put(fs, `${r}/f`, 'x')
        const value = new Uint8Array([0, 1, 0xff, 0xfe, 0x20, 0])
        await fs.xattr.set(`${r}/f`, 'user.bin', value)
        expect(await fs.xattr.get(`${r}/f`, 'user.bin')).toEqual(value)
        expect(await fs.xattr.list(`${r}/f`)).toContain('user.bin')
      })

      it('answers undefined for an absent attribute and ENODATA when removing one', async () => {
        await put(fs, `${r}/f`, 'x')
        expect(await fs.xattr.get(`${r}/f`, 'user.none')).toBeUndefined()
        expect(await errCode(fs.xattr.remove(`${r}/f`, 'user.none'))).toBe('ENODATA')
      })

      it('fails with ENOENT on a missing path', async () => {
        expect(await errCode(fs.xattr.get(`${r}/missing`, 'user.a'))).toBe('ENOENT')
        expect(await errCode(fs.xattr.list(`${r}/missing`))).toBe('ENOENT')
      })

      it('removes an attribute', async () => {
        await fs.mkdir(`${r}/d`)
        await fs.xattr.set(`${r}/d`, 'user.a', Buffer.from('1'))
        await fs.xattr.remove(`${r}/d`, 'user.a')
        expect(await fs.xattr.list(`${r}/d`)).not.toContain('user.a')
      })

      it('refuses user.* on a symlink with EPERM', async () => {
        await put(fs, `${r}/t`, 'x')
        await fs.symlink('t', `${r}/l`)
        expect(await errCode(fs.xattr.set(`${r}/l`, 'user.a', Buffer.from('y')))).toBe('EPERM')
      })

      it('rejects names outside the known namespaces with ENOTSUP', async () => {
        await put(fs, `${r}/f`, 'x')
        expect(await errCode(fs.xattr.set(`${r}/f`, 'bogus.a', Buffer.from('y')))).toBe('ENOTSUP')
      })

      it('sets trusted.overlay.opaque on a directory', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mkdir(`${r}/d`)
        await fs.xattr.set(`${r}/d`, 'trusted.overlay.opaque', Buffer.from('y'))
        expect(Buffer.from((await fs.xattr.get(`${r}/d`, 'trusted.overlay.opaque'))!).toString()).toBe('y')
      })

      it('acts on a symlink itself, dangling or not, never on its target', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await put(fs, `${r}/t`, 'x')
        await fs.symlink('t', `${r}/l`)
        await fs.symlink('nowhere', `${r}/dangling`)
        await fs.xattr.set(`${r}/l`, 'trusted.mark', Buffer.from('link'))
        await fs.xattr.set(`${r}/dangling`, 'trusted.mark', Buffer.from('d'))
        expect(await fs.xattr.list(`${r}/t`)).not.toContain('trusted.mark')
        expect(Buffer.from((await fs.xattr.get(`${r}/l`, 'trusted.mark'))!).toString()).toBe('link')
      })

      it('refuses user.* on a char device with EPERM', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mknod(`${r}/c`, 'char', 0, { major: 0, minor: 0 })
        expect(await errCode(fs.xattr.set(`${r}/c`, 'user.a', Buffer.from('y')))).toBe('EPERM')
      })
    })

    describe('fsync, filesystem type and mounts', () => {
      it('syncs files and directories and fails with ENOENT on a missing path', async () => {
        await put(fs, `${r}/f`, 'x')
        await fs.fsync(`${r}/f`)
        await fs.fsync(r)
        expect(await errCode(fs.fsync(`${r}/missing`))).toBe('ENOENT')
      })

      it('finds the mount that holds a directory in the mount table', async () => {
        const mounts = await fs.mounts()
        expect(mounts.some((m) => m.mountPoint === '/')).toBe(true)
        expect((await fs.fsType(r)).name).not.toBe('')
      })

      it('says how many bytes and inodes are free on the filesystem that holds a path, as statfs(2) does', async () => {
        const { free } = await fs.fsType(r)
        expect(Number.isSafeInteger(free.bytes) && free.bytes > 0).toBe(true)
        expect(Number.isSafeInteger(free.inodes) && free.inodes > 0).toBe(true)
      })

      it('says the filesystem fills in entry types (d_type), as overlay needs', async () => {
        await fs.mkdir(`${r}/d`)
        await fs.mkdir(`${r}/d/child`)
        expect((await fs.fsType(`${r}/d`)).dtype).toBe(true)
      })

      it('sees a new tmpfs mount in the table and by its filesystem type, then unmounts it', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mkdir(`${r}/m`)
        await s.mountTmpfs(`${r}/m`)
        const mount = (await fs.mounts()).find((m) => m.mountPoint === `${r}/m`)
        expect(mount?.fsType).toBe('tmpfs')
        expect((await fs.fsType(`${r}/m`)).name).toBe('tmpfs')
        await fs.unmount(`${r}/m`)
        expect((await fs.mounts()).some((m) => m.mountPoint === `${r}/m`)).toBe(false)
      })

      it('refuses a plain unmount below which something is mounted, and detaches the whole tree', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mkdir(`${r}/m`)
        await s.mountTmpfs(`${r}/m`)
        await fs.mkdir(`${r}/m/inner`)
        await s.mountTmpfs(`${r}/m/inner`)
        expect(await errCode(fs.unmount(`${r}/m`))).toBe('EBUSY')
        await fs.unmount(`${r}/m`, { detach: true })
        expect((await fs.mounts()).some((m) => m.mountPoint.startsWith(`${r}/m`))).toBe(false)
      })

      it('answers EINVAL when unmounting something that is not a mount point', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mkdir(`${r}/d`)
        expect(await errCode(fs.unmount(`${r}/d`))).toBe('EINVAL')
      })
    })

    describe('mounts as filesystems of their own', () => {
      it('hides what was below a mount point until it is unmounted', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mkdir(`${r}/m`)
        await put(fs, `${r}/m/below`, 'hidden')
        await s.mountTmpfs(`${r}/m`)
        expect(await fs.readdir(`${r}/m`)).toEqual([])
        expect(await fs.lstat(`${r}/m/below`)).toBeUndefined()
        await put(fs, `${r}/m/above`, 'gone with the mount')
        await fs.unmount(`${r}/m`)
        expect((await fs.readdir(`${r}/m`)).map((e) => e.name)).toEqual(['below'])
        expect(await text(fs, `${r}/m/below`)).toBe('hidden')
      })

      it('gives every inode under a mount the mount’s own device number', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mkdir(`${r}/m`)
        await s.mountTmpfs(`${r}/m`)
        await fs.mkdir(`${r}/m/sub`)
        await put(fs, `${r}/m/sub/f`, 'x')
        await fs.symlink('f', `${r}/m/sub/l`)
        const outside = devKey((await fs.lstat(r))!.dev)
        const mount = (await fs.mounts()).find((m) => m.mountPoint === `${r}/m`)!
        const devs = await Promise.all(['m', 'm/sub', 'm/sub/f', 'm/sub/l'].map(async (p) => devKey((await fs.lstat(`${r}/${p}`))!.dev)))
        expect(new Set(devs)).toEqual(new Set([devKey(mount.dev)]))
        expect(devs[0]).not.toBe(outside)
      })

      it('refuses links and renames across a mount in either direction with EXDEV', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mkdir(`${r}/m`)
        await s.mountTmpfs(`${r}/m`)
        await fs.mkdir(`${r}/m/sub`)
        await put(fs, `${r}/m/sub/f`, 'in')
        await put(fs, `${r}/out`, 'out')
        expect(await errCode(fs.link(`${r}/m/sub/f`, `${r}/f2`))).toBe('EXDEV')
        expect(await errCode(fs.rename(`${r}/m/sub/f`, `${r}/f2`))).toBe('EXDEV')
        expect(await errCode(fs.rename(`${r}/m/sub`, `${r}/sub`))).toBe('EXDEV')
        expect(await errCode(fs.rename(`${r}/out`, `${r}/m/sub/f`))).toBe('EXDEV')
        expect(await text(fs, `${r}/m/sub/f`)).toBe('in')
      })

      it('answers EXDEV for each name linkNames would link across a mount, in either direction', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mkdir(`${r}/m`)
        await s.mountTmpfs(`${r}/m`)
        await fs.mkdir(`${r}/m/sub`)
        await put(fs, `${r}/m/sub/in`, 'in')
        await put(fs, `${r}/out`, 'out')
        expect(await fs.linkNames(`${r}/m/sub`, r, ['in', 'missing'])).toEqual(['EXDEV', 'ENOENT'])
        expect(await fs.linkNames(r, `${r}/m/sub`, ['out'])).toEqual(['EXDEV'])
        expect(await fs.readdir(`${r}/m/sub`)).toEqual([{ name: 'in', kind: 'file' }])
        expect(await fs.lstat(`${r}/in`)).toBeUndefined()
      })

      it('refuses to remove, rename or replace a mount point with EBUSY', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mkdir(`${r}/m`)
        await fs.mkdir(`${r}/empty`)
        await s.mountTmpfs(`${r}/m`)
        expect(await errCode(fs.rmdir(`${r}/m`))).toBe('EBUSY')
        expect(await errCode(fs.rename(`${r}/m`, `${r}/m2`))).toBe('EBUSY')
        expect(await errCode(fs.rename(`${r}/empty`, `${r}/m`))).toBe('EBUSY')
        expect((await fs.mounts()).some((m) => m.mountPoint === `${r}/m`)).toBe(true)
      })

      it('shows a mount under the new path when a directory above it is renamed', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mkdir(`${r}/a`)
        await fs.mkdir(`${r}/a/b`)
        await fs.mkdir(`${r}/a/b/m`)
        await s.mountTmpfs(`${r}/a/b/m`)
        await put(fs, `${r}/a/b/m/f`, 'on the mount')
        const dev = (await fs.lstat(`${r}/a/b/m`))!.dev
        await fs.rename(`${r}/a`, `${r}/z`)
        const points = (await fs.mounts()).map((m) => m.mountPoint)
        expect(points).toContain(`${r}/z/b/m`)
        expect(points).not.toContain(`${r}/a/b/m`)
        expect((await fs.lstat(`${r}/z/b/m/f`))?.dev).toEqual(dev)
        expect(await text(fs, `${r}/z/b/m/f`)).toBe('on the mount')
        await fs.unmount(`${r}/z/b/m`)
        expect(await fs.readdir(`${r}/z/b/m`)).toEqual([])
      })

      it('leads .. out of a mount root to the directory that holds the mount point', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mkdir(`${r}/m`)
        await s.mountTmpfs(`${r}/m`)
        await fs.mkdir(`${r}/m/sub`)
        await put(fs, `${r}/beside`, 'x')
        expect(inodeKey((await fs.lstat(`${r}/m/sub/../..`))!)).toBe(inodeKey((await fs.lstat(r))!))
        expect(await text(fs, `${r}/m/../beside`)).toBe('x')
      })

      it('covers an earlier mount with a later one on the same point until that is unmounted', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mkdir(`${r}/m`)
        await s.mountTmpfs(`${r}/m`)
        await put(fs, `${r}/m/first`, '1')
        await s.mountTmpfs(`${r}/m`)
        expect(await fs.readdir(`${r}/m`)).toEqual([])
        await fs.unmount(`${r}/m`)
        expect((await fs.readdir(`${r}/m`)).map((e) => e.name)).toEqual(['first'])
        await fs.unmount(`${r}/m`)
        expect(await errCode(fs.unmount(`${r}/m`))).toBe('EINVAL')
      })

      it('answers ENOENT when unmounting a path that does not exist', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        expect(await errCode(fs.unmount(`${r}/missing`))).toBe('ENOENT')
      })
    })

    describe('trailing slashes', () => {
      beforeEach(async () => {
        await put(fs, `${r}/f`, 'x')
        await fs.mkdir(`${r}/d`)
        await fs.symlink('f', `${r}/lf`)
        await fs.symlink('d', `${r}/ld`)
      })

      it('make a lookup of anything but a directory ENOTDIR, and follow a symlink to one', async () => {
        expect(await errCode(fs.lstat(`${r}/f/`))).toBe('ENOTDIR')
        expect(await errCode(fs.lstat(`${r}/f/.`))).toBe('ENOTDIR')
        expect(await errCode(fs.lstat(`${r}/lf/`))).toBe('ENOTDIR')
        expect((await fs.lstat(`${r}/ld/`))?.kind).toBe('dir')
        expect(await fs.lstat(`${r}/missing/`)).toBeUndefined()
        expect(await errCode(fs.readdir(`${r}/f/`))).toBe('ENOTDIR')
        expect(await errCode(fs.readlink(`${r}/lf/`))).toBe('ENOTDIR')
        expect(await errCode(fs.readlink(`${r}/ld/`))).toBe('EINVAL')
        expect(await errCode(fs.openRead(`${r}/f/`))).toBe('ENOTDIR')
        expect(await errCode(fs.chmod(`${r}/f/`, 0o600))).toBe('ENOTDIR')
        expect(await errCode(fs.xattr.list(`${r}/f/`))).toBe('ENOTDIR')
      })

      it('make creating a file EISDIR, and a new non-directory name ENOENT', async () => {
        expect(await errCode(fs.openWrite(`${r}/f/`))).toBe('EISDIR')
        expect(await errCode(fs.openWrite(`${r}/new/`))).toBe('EISDIR')
        expect(await errCode(fs.symlink('x', `${r}/new/`))).toBe('ENOENT')
        expect(await errCode(fs.mknod(`${r}/new/`, 'fifo', 0o644))).toBe('ENOENT')
        expect(await errCode(fs.link(`${r}/f`, `${r}/new/`))).toBe('ENOENT')
        expect(await errCode(fs.link(`${r}/f/`, `${r}/new`))).toBe('ENOTDIR')
        await fs.mkdir(`${r}/newdir/`)
        expect((await fs.lstat(`${r}/newdir`))?.kind).toBe('dir')
        expect(await text(fs, `${r}/f`)).toBe('x')
      })

      it('make removing or renaming a non-directory ENOTDIR, a symlink to a directory included', async () => {
        expect(await errCode(fs.unlink(`${r}/f/`))).toBe('ENOTDIR')
        expect(await errCode(fs.unlink(`${r}/ld/`))).toBe('ENOTDIR')
        expect(await errCode(fs.rmdir(`${r}/ld/`))).toBe('ENOTDIR')
        expect(await errCode(fs.rename(`${r}/f/`, `${r}/g`))).toBe('ENOTDIR')
        expect(await errCode(fs.rename(`${r}/f`, `${r}/g/`))).toBe('ENOTDIR')
        expect((await fs.lstat(`${r}/ld`))?.kind).toBe('symlink')
        await fs.rename(`${r}/d/`, `${r}/d2/`)
        await fs.rmdir(`${r}/d2/`)
        expect(await fs.lstat(`${r}/d2`)).toBeUndefined()
      })
    })

    describe('name and path limits', () => {
      it('takes a name of 255 bytes and refuses one of 256 with ENAMETOOLONG, counting UTF-8 bytes', async () => {
        await put(fs, `${r}/${'a'.repeat(255)}`, 'x')
        expect(await errCode(fs.openWrite(`${r}/${'a'.repeat(256)}`))).toBe('ENAMETOOLONG')
        expect(await errCode(fs.lstat(`${r}/${'a'.repeat(256)}`))).toBe('ENAMETOOLONG')
        expect(await errCode(fs.mkdir(`${r}/${'a'.repeat(256)}`))).toBe('ENAMETOOLONG')
        expect(await errCode(fs.lstat(`${r}/${'a'.repeat(256)}/below`))).toBe('ENAMETOOLONG')
        // 127 two-byte characters fit, 128 do not: the limit is bytes, not characters.
        await fs.mkdir(`${r}/${'é'.repeat(127)}`)
        expect(await errCode(fs.mkdir(`${r}/${'é'.repeat(128)}`))).toBe('ENAMETOOLONG')
      })

      it('never lists a shorter path when a path longer than PATH_MAX is cut inside a character', async () => {
        // Dirs down to a path of 4094 bytes, then a child named by one 3-byte character: 4098 bytes in all.
        let dir = r
        while (Buffer.byteLength(dir) + 251 < 4094) {
          dir = `${dir}/${'d'.repeat(250)}`
          await fs.mkdir(dir)
        }
        const pad = 4094 - Buffer.byteLength(dir) - 1
        dir = `${dir}/${'p'.repeat(pad)}`
        await fs.mkdir(dir)
        expect(Buffer.byteLength(dir)).toBe(4094)
        const mode = (await fs.lstat(dir))?.mode
        const child = `${dir}/日`
        // Cut at 4095 bytes inside the character, the path would be `dir` itself (or its parent): listed, or chmod'ed.
        expect(await errCode(fs.readdir(child))).toBe('ENAMETOOLONG')
        expect(await errCode(fs.chmod(child, 0o700))).toBe('ENAMETOOLONG')
        expect((await fs.lstat(dir))?.mode).toBe(mode)
      })

      it('counts a byte that is not UTF-8 as one byte against the name limit', async () => {
        await put(fs, `${r}/${'\udce9'.repeat(255)}`, 'x')
        expect((await fs.readdir(r)).map((e) => e.name)).toEqual(['\udce9'.repeat(255)])
        expect(await errCode(fs.openWrite(`${r}/${'\udce9'.repeat(256)}`))).toBe('ENAMETOOLONG')
      })

      it('refuses a path of 4096 bytes with ENAMETOOLONG, slashes counted, and resolves one of 4095', async () => {
        await put(fs, `${r}/f`, 'x')
        const padded = (bytes: number): string => `${r}${'/'.repeat(bytes - r.length - 1)}f`
        expect(padded(4095)).toHaveLength(4095)
        expect((await fs.lstat(padded(4095)))?.kind).toBe('file')
        expect(await errCode(fs.lstat(padded(4096)))).toBe('ENAMETOOLONG')
        expect(await errCode(fs.openRead(padded(4096)))).toBe('ENAMETOOLONG')
      })

      it('stores a symlink target of 4095 bytes and refuses one of 4096', async () => {
        await fs.symlink('t'.repeat(4095), `${r}/long`)
        expect(await fs.readlink(`${r}/long`)).toHaveLength(4095)
        expect(await errCode(fs.symlink('t'.repeat(4096), `${r}/longer`))).toBe('ENAMETOOLONG')
      })
    })

    describe('modes and owners as the kernel sets them', () => {
      it('clears setuid on lchown, and setgid where group-exec is set, on anything but a directory', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        const cases: [string, number, number][] = [
          ['both', 0o6755, 0o755],
          ['setgid-no-exec', 0o6745, 0o2745],
          ['setuid', 0o4700, 0o700],
        ]
        for (const [name, before, after] of cases) {
          await put(fs, `${r}/${name}`, 'x')
          await fs.chmod(`${r}/${name}`, before)
          // Even to the owner it already has.
          await fs.lchown(`${r}/${name}`, 0, 0)
          expect([name, (await fs.lstat(`${r}/${name}`))?.mode]).toEqual([name, after])
        }
        await fs.mknod(`${r}/p`, 'fifo', 0o644)
        await fs.chmod(`${r}/p`, 0o6755)
        await fs.lchown(`${r}/p`, 5, 6)
        expect((await fs.lstat(`${r}/p`))?.mode).toBe(0o755)
        await fs.mkdir(`${r}/d`)
        await fs.chmod(`${r}/d`, 0o6755)
        await fs.lchown(`${r}/d`, 5, 6)
        expect((await fs.lstat(`${r}/d`))?.mode).toBe(0o6755)
      })

      it('makes a directory with mode & 01777 & ~umask: sticky stays, setuid and setgid go', async () => {
        await fs.mkdir(`${r}/all`, 0o7777)
        await fs.mkdir(`${r}/setgid`, 0o2777)
        expect((await fs.lstat(`${r}/all`))?.mode).toBe(0o1755)
        expect((await fs.lstat(`${r}/setgid`))?.mode).toBe(0o755)
      })

      it('gives what is made in a setgid directory its group, and a new directory the setgid bit', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mkdir(`${r}/sg`)
        await fs.lchown(`${r}/sg`, 0, 1234)
        await fs.chmod(`${r}/sg`, 0o2775)
        await fs.mkdir(`${r}/sg/sub`, 0o755)
        await fs.mkdir(`${r}/sg/all`, 0o7777)
        await put(fs, `${r}/sg/f`, 'x', 0o644)
        await fs.symlink('f', `${r}/sg/l`)
        expect(await fs.lstat(`${r}/sg/sub`)).toMatchObject({ mode: 0o2755, gid: 1234 })
        expect(await fs.lstat(`${r}/sg/all`)).toMatchObject({ mode: 0o3755, gid: 1234 })
        expect(await fs.lstat(`${r}/sg/f`)).toMatchObject({ mode: 0o644, gid: 1234 })
        expect((await fs.lstat(`${r}/sg/l`))?.gid).toBe(1234)
      })
    })

    describe('special files', () => {
      it('refuses an exclusive create over a symlink with EEXIST, dangling or not', async () => {
        await put(fs, `${r}/t`, 'keep')
        await fs.symlink('t', `${r}/l`)
        await fs.symlink('nowhere', `${r}/dangling`)
        expect(await errCode(fs.openWrite(`${r}/l`, { exclusive: true }))).toBe('EEXIST')
        expect(await errCode(fs.openWrite(`${r}/dangling`, { exclusive: true }))).toBe('EEXIST')
        expect(await fs.lstat(`${r}/nowhere`)).toBeUndefined()
        expect(await text(fs, `${r}/t`)).toBe('keep')
      })

      it('never opens a char or block device 0/0 for IO: ENXIO', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mknod(`${r}/c`, 'char', 0o600, { major: 0, minor: 0 })
        await fs.mknod(`${r}/b`, 'block', 0o600, { major: 0, minor: 0 })
        for (const dev of ['c', 'b']) {
          expect(await errCode(fs.openRead(`${r}/${dev}`))).toBe('ENXIO')
          expect(await errCode(fs.openWrite(`${r}/${dev}`))).toBe('ENXIO')
          await fs.fsync(`${r}/${dev}`)
        }
        expect((await fs.lstat(`${r}/c`))?.kind).toBe('char')
      })

      it('answers at once for a fifo: openRead and openWrite refuse it with ENXIO, fsync does nothing', async () => {
        await fs.mknod(`${r}/p`, 'fifo', 0o644)
        expect(await errCode(fs.openRead(`${r}/p`))).toBe('ENXIO')
        expect(await errCode(fs.openWrite(`${r}/p`))).toBe('ENXIO')
        await fs.fsync(`${r}/p`)
        expect((await fs.lstat(`${r}/p`))?.kind).toBe('fifo')
      })
    })

    describe('append, syncfs, locks and credentials', () => {
      it('appends to an existing file without truncating it, and creates a missing one', async () => {
        await put(fs, `${r}/journal`, 'one\n')
        const h = await fs.openWrite(`${r}/journal`, { append: true })
        await h.write(Buffer.from('two\n'))
        await h.write(Buffer.from('three\n'))
        await h.close()
        expect(await text(fs, `${r}/journal`)).toBe('one\ntwo\nthree\n')
        const n = await fs.openWrite(`${r}/new`, { append: true, mode: 0o600 })
        await n.write(Buffer.from('first'))
        await n.close()
        expect(await text(fs, `${r}/new`)).toBe('first')
        expect((await fs.lstat(`${r}/new`))?.mode).toBe(0o600)
      })

      it('syncs the filesystem holding a file or a directory, and fails with ENOENT on a missing path', async () => {
        await put(fs, `${r}/f`, 'x')
        await fs.syncfs(`${r}/f`)
        await fs.syncfs(r)
        expect(await errCode(fs.syncfs(`${r}/missing`))).toBe('ENOENT')
      })

      it('keeps every other lock out of an exclusive lock, naming this process as the holder', async () => {
        const first = await fs.tryLock(`${r}/lock`, 'exclusive', { create: true })
        expect(first.ok).toBe(true)
        expect(await fs.tryLock(`${r}/lock`, 'exclusive')).toEqual({ ok: false, holders: [process.pid] })
        expect(await fs.tryLock(`${r}/lock`, 'shared')).toEqual({ ok: false, holders: [process.pid] })
        if (first.ok) await first.lock.release()
      })

      it('lets shared locks in together and keeps an exclusive one out until all are released', async () => {
        await put(fs, `${r}/lock`, '')
        const a = await fs.tryLock(`${r}/lock`, 'shared')
        const b = await fs.tryLock(`${r}/lock`, 'shared')
        expect([a.ok, b.ok]).toEqual([true, true])
        expect((await fs.tryLock(`${r}/lock`, 'exclusive')).ok).toBe(false)
        if (a.ok) await a.lock.release()
        expect((await fs.tryLock(`${r}/lock`, 'exclusive')).ok).toBe(false)
        if (b.ok) {
          await b.lock.release()
          await b.lock.release()
        }
        const c = await fs.tryLock(`${r}/lock`, 'exclusive')
        expect(c.ok && c.lock.mode).toBe('exclusive')
        if (c.ok) await c.lock.release()
      })

      it('creates a missing lock file mode 0644 when asked, and answers ENOENT otherwise', async () => {
        expect(await errCode(fs.tryLock(`${r}/lock`, 'shared'))).toBe('ENOENT')
        expect(await errCode(fs.tryLock(`${r}/lock`, 'shared', { create: false }))).toBe('ENOENT')
        expect(await fs.lstat(`${r}/lock`)).toBeUndefined()
        const held = await fs.tryLock(`${r}/lock`, 'shared', { create: true })
        expect(await fs.lstat(`${r}/lock`)).toMatchObject({ kind: 'file', mode: 0o644, size: 0 })
        if (held.ok) await held.lock.release()
      })

      it('reports the credentials of this process and the capabilities root holds', async () => {
        const c = await fs.credentials()
        expect(c.uid).toBe(s.name === 'memory' ? 0 : process.getuid?.())
        expect(c.gid).toBe(s.name === 'memory' ? 0 : process.getgid?.())
        expect([c.capSysAdmin, c.capMknod]).toEqual([s.privileged, s.privileged])
      })
    })

    describe('names that are not UTF-8', () => {
      it('creates, lists, renames, links, points to and removes them byte for byte', async () => {
        const cafe = 'caf\udce9'
        const bad = 'bad\udcff\udcfe'
        await put(fs, `${r}/${cafe}`, 'latin-1')
        await fs.mkdir(`${r}/${cafe}.d`)
        await put(fs, `${r}/${cafe}.d/${bad}`, 'inside')
        expect((await fs.readdir(r)).map((e) => e.name).sort()).toEqual([cafe, `${cafe}.d`])
        expect((await fs.readdir(`${r}/${cafe}.d`)).map((e) => e.name)).toEqual([bad])
        await fs.rename(`${r}/${cafe}`, `${r}/${bad}`)
        expect(await fs.lstat(`${r}/${cafe}`)).toBeUndefined()
        await fs.link(`${r}/${bad}`, `${r}/${bad}.2`)
        expect((await fs.lstat(`${r}/${bad}`))?.nlink).toBe(2)
        await fs.symlink(bad, `${r}/l`)
        expect(await fs.readlink(`${r}/l`)).toBe(bad)
        // The target is five bytes on disk: "bad" and two bytes that are not UTF-8.
        expect((await fs.lstat(`${r}/l`))?.size).toBe(5)
        expect(await text(fs, `${r}/${bad}.2`)).toBe('latin-1')
        expect(await fs.realpath(`${r}/${cafe}.d/${bad}`)).toBe(`${await fs.realpath(r)}/${cafe}.d/${bad}`)
        await fs.unlink(`${r}/${bad}`)
        await fs.unlink(`${r}/${bad}.2`)
        await fs.unlink(`${r}/${cafe}.d/${bad}`)
        await fs.rmdir(`${r}/${cafe}.d`)
        expect((await fs.readdir(r)).map((e) => e.name)).toEqual(['l'])
      })
    })
  })
}

describe('the memory adapter as an unprivileged process', () => {
  it('enforces permission bits, trusted.* and mknod like the kernel does for a non-root user', async () => {
    const s = await memorySubject({ uid: 1000 })
    const fs = s.fs
    await fs.mkdir('/work/ro', 0o555)
    expect(await errCode(fs.mkdir('/work/ro/d'))).toBe('EACCES')
    expect(await errCode(fs.mknod('/work/c', 'char', 0, { major: 0, minor: 0 }))).toBe('EPERM')
    await fs.mkdir('/work/d')
    expect(await errCode(fs.xattr.set('/work/d', 'trusted.overlay.opaque', Buffer.from('y')))).toBe('EPERM')
    expect(await errCode(fs.lchown('/work/d', 0, 0))).toBe('EPERM')
    expect(await fs.credentials()).toEqual({ uid: 1000, gid: 0, capSysAdmin: false, capMknod: false })
  })

  it('answers inspect of a file it may not read with EACCES for that name alone, and never opens an empty one', async () => {
    const s = await memorySubject({ uid: 1000 })
    const fs = s.fs
    await put(fs, '/work/secret', 'x', 0o000)
    await put(fs, '/work/.wh.gone', '', 0o000)
    await put(fs, '/work/open', 'y', 0o644)
    const answers = await fs.inspect('/work', ['secret', '.wh.gone', 'open'], { readUpTo: 1024 })
    expect(answers.map((a) => [a.inode?.kind, a.errno, a.syscall, a.bytes && Buffer.from(a.bytes).toString()])).toEqual([
      ['file', 'EACCES', 'open', undefined],
      ['file', undefined, undefined, undefined],
      ['file', undefined, undefined, 'y'],
    ])
  })

  it('drops setgid from a group-exec file it creates in a setgid directory of a group it is not in', async () => {
    const root = createMemoryFs()
    await root.mkdir('/shared')
    await root.lchown('/shared', 0, 2000)
    await root.chmod('/shared', 0o2777)
    const fs = createMemoryFs({ volume: root.volume, uid: 1000, gid: 1000 })
    await put(fs, '/shared/run', 'x', 0o2755)
    expect(await fs.lstat('/shared/run')).toMatchObject({ mode: 0o755, gid: 2000 })
  })
})

describe('the memory adapter with capabilities that do not follow uid 0', () => {
  it('hides trusted.* and refuses devices to root without CAP_SYS_ADMIN and CAP_MKNOD', async () => {
    const fs = createMemoryFs({ capabilities: { sysAdmin: false, mknod: false } })
    const privileged = createMemoryFs({ volume: fs.volume })
    await fs.mkdir('/d')
    await privileged.xattr.set('/d', 'trusted.overlay.opaque', Buffer.from('y'))
    expect(await fs.xattr.list('/d')).toEqual([])
    expect(await fs.xattr.get('/d', 'trusted.overlay.opaque')).toBeUndefined()
    expect(await errCode(fs.xattr.set('/d', 'trusted.other', Buffer.from('y')))).toBe('EPERM')
    expect(await errCode(fs.mknod('/c', 'char', 0, { major: 0, minor: 0 }))).toBe('EPERM')
    await fs.mknod('/p', 'fifo', 0o644)
    expect(await fs.credentials()).toEqual({ uid: 0, gid: 0, capSysAdmin: false, capMknod: false })
  })

  it('lets a non-root process with CAP_SYS_ADMIN and CAP_MKNOD set trusted.* and make devices', async () => {
    const fs = createMemoryFs({ uid: 1000, gid: 1000, capabilities: { sysAdmin: true, mknod: true } })
    await fs.mkdir('/d')
    await fs.xattr.set('/d', 'trusted.overlay.opaque', Buffer.from('y'))
    expect(await fs.xattr.list('/d')).toEqual(['trusted.overlay.opaque'])
    await fs.mknod('/d/wh', 'char', 0, { major: 0, minor: 0 })
    expect((await fs.lstat('/d/wh'))?.kind).toBe('char')
  })
})

describe('the memory adapter as two processes on one volume', () => {
  it('names the other process as the holder of a lock, and lets it in once released', async () => {
    const agent = createMemoryFs({ pid: 4242 })
    const tool = createMemoryFs({ volume: agent.volume, pid: 5151 })
    const held = await agent.tryLock('/lock', 'exclusive', { create: true })
    expect(await tool.tryLock('/lock', 'shared')).toEqual({ ok: false, holders: [4242] })
    if (held.ok) await held.lock.release()
    const mine = await tool.tryLock('/lock', 'shared')
    expect(mine.ok).toBe(true)
    expect(await agent.tryLock('/lock', 'exclusive')).toEqual({ ok: false, holders: [5151] })
  })

  it('does not carry a lock over to a new file put in place of the locked one', async () => {
    const fs = createMemoryFs()
    const held = await fs.tryLock('/lock', 'exclusive', { create: true })
    expect(held.ok).toBe(true)
    await fs.unlink('/lock')
    expect((await fs.tryLock('/lock', 'exclusive', { create: true })).ok).toBe(true)
  })
})

describe('the memory adapter’s mount table lines that only describe a host', () => {
  it('keeps what a describe-only mount covers visible, under the mount’s dev and type', async () => {
    const fs = createMemoryFs()
    await fs.mkdir('/store')
    await put(fs, '/store/kept', 'x')
    const entry = fs.mount({ mountPoint: '/store', fsType: 'xfs', source: '/dev/sdb1', dtype: false, describeOnly: true })
    expect(await text(fs, '/store/kept')).toBe('x')
    expect((await fs.lstat('/store/kept'))?.dev).toEqual(entry.dev)
    expect(await fs.fsType('/store')).toMatchObject({ name: 'xfs', dtype: false })
    expect(await errCode(fs.rename('/store/kept', '/kept'))).toBe('EXDEV')
    await fs.unmount('/store')
    expect((await fs.mounts()).map((m) => m.mountPoint)).toEqual(['/'])
  })

  it('describes a host with setMounts without touching the tree, and finds each path’s mount', async () => {
    const fs = createMemoryFs()
    await fs.mkdir('/var')
    await put(fs, '/var/f', 'x')
    fs.setMounts([
      { mountPoint: '/', fsType: 'ext4', source: '/dev/sda1', dev: { major: 8, minor: 1 } },
      { mountPoint: '/var', fsType: 'xfs', source: '/dev/sdb1', dev: { major: 8, minor: 17 } },
      { mountPoint: '/proc', fsType: 'proc' },
    ])
    expect(await text(fs, '/var/f')).toBe('x')
    expect((await fs.lstat('/var/f'))?.dev).toEqual({ major: 8, minor: 17 })
    expect((await fs.lstat('/'))?.dev).toEqual({ major: 8, minor: 1 })
    expect((await fs.mounts()).map((m) => [m.id, m.parentId, m.mountPoint])).toEqual([
      [1, 0, '/'],
      [2, 1, '/var'],
      [3, 1, '/proc'],
    ])
  })

  it('hands back copies of the table, so a caller cannot change it', async () => {
    const fs = createMemoryFs()
    await fs.mkdir('/m')
    const entry = fs.mount({ mountPoint: '/m', fsType: 'tmpfs' })
    entry.mountPoint = '/elsewhere'
    ;(await fs.mounts())[1]!.options.push('ro')
    expect((await fs.mounts())[1]).toMatchObject({ mountPoint: '/m', options: ['rw', 'relatime'] })
  })
})

describe('the memory adapter over an existing memfs volume', () => {
  it('sees what the volume holds and writes what the volume then sees', async () => {
    const { Volume } = await import('memfs')
    const volume = Volume.fromJSON({ '/app/config.json': '{"a":1}' })
    const { createMemoryFs } = await import('../src/fs/memory.js')
    const fs = createMemoryFs({ volume })
    expect(await text(fs, '/app/config.json')).toBe('{"a":1}')
    await put(fs, '/app/new.txt', 'from the port')
    expect(volume.readFileSync('/app/new.txt', 'utf8')).toBe('from the port')
  })
})
