import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CrashError, withCrashAfter } from '../src/fs/crash.js'
import { makeDirs, readFileLimited, writeFileDurable } from '../src/fs/io.js'
import { inodeKey, type FsPort } from '../src/fs/port.js'
import { dirname } from '../src/fs/safe-path.js'
import { listTree } from '../src/testing/tree-spec.js'
import { memorySubject, SUBJECTS, type Subject } from './support/adapters.js'

describe('crash injection', () => {
  it('lets the first N mutating calls through and refuses every later one', async () => {
    const { fs, root } = await memorySubject()
    const crashing = withCrashAfter(fs, 2)
    await crashing.mkdir(`${root}/a`)
    await crashing.mkdir(`${root}/b`)
    await expect(crashing.mkdir(`${root}/c`)).rejects.toBeInstanceOf(CrashError)
    await expect(crashing.unlink(`${root}/a`)).rejects.toBeInstanceOf(CrashError)
    expect(crashing.steps).toBe(2)
    expect(crashing.crashed).toBe(true)
    expect((await crashing.readdir(root)).map((e) => e.name).sort()).toEqual(['a', 'b'])
    expect(crashing.journal).toEqual([`mkdir ${root}/a`, `mkdir ${root}/b`])
  })

  it('leaves either the old or the new file after a durable write crashes at any step', async () => {
    const count = withCrashAfter((await memorySubject()).fs, Infinity)
    await writeFileDurable(count, '/work/meta', Buffer.from('new'))
    const steps = count.steps
    expect(steps).toBeGreaterThanOrEqual(5)
    for (let n = 0; n <= steps; n++) {
      const { fs } = await memorySubject()
      await writeFileDurable(fs, '/work/meta', Buffer.from('old'))
      const crashing = withCrashAfter(fs, n)
      await writeFileDurable(crashing, '/work/meta', Buffer.from('new')).catch((err) => {
        if (!(err instanceof CrashError)) throw err
      })
      const text = Buffer.from(await (async () => {
        const chunks: Buffer[] = []
        for await (const c of await fs.openRead('/work/meta')) chunks.push(c as Buffer)
        return Buffer.concat(chunks)
      })()).toString()
      expect(n < steps ? ['old', 'new'] : ['new']).toContain(text)
      if (n === steps) expect(await listTree(fs, '/work')).not.toMatch(/layerfsck-tmp/)
    }
  })
})

// --- the power-loss model ---------------------------------------------------

const text = async (fs: FsPort, path: string): Promise<string> => Buffer.from(await readFileLimited(fs, path)).toString()

const writeUnsynced = async (fs: FsPort, path: string, data: string): Promise<void> => {
  const h = await fs.openWrite(path, { mode: 0o644 })
  await h.write(Buffer.from(data))
  await h.close()
}

const ignoreCrash = (err: unknown): void => {
  if (!(err instanceof CrashError)) throw err
}

for (const subject of SUBJECTS) {
  describe(`the power-loss crash model (${subject.name})`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await subject.make()
    })
    afterEach(async () => s.cleanup())

    it('leaves the old or the new bytes when writeFileDurable loses power at any crash point', async () => {
      const count = withCrashAfter(s.fs, Infinity, { model: 'power-loss' })
      await makeDirs(s.fs, `${s.root}/count`)
      await writeFileDurable(count, `${s.root}/count/meta`, Buffer.from('new'))
      const steps = count.steps
      expect(steps).toBeGreaterThanOrEqual(5)
      for (let n = 0; n <= steps; n++) {
        const dir = `${s.root}/n${n}`
        await makeDirs(s.fs, dir)
        await writeFileDurable(s.fs, `${dir}/meta`, Buffer.from('old'))
        const crashing = withCrashAfter(s.fs, n, { model: 'power-loss' })
        await writeFileDurable(crashing, `${dir}/meta`, Buffer.from('new')).catch(ignoreCrash)
        await crashing.recover()
        expect(n < steps ? ['old', 'new'] : ['new'], `after a crash at step ${n}`).toContain(await text(s.fs, `${dir}/meta`))
        // The temp file's name was never made durable on its own: it never outlives the crash.
        expect((await s.fs.readdir(dir)).map((e) => e.name), `after a crash at step ${n}`).toEqual(['meta'])
      }
    })

    it('loses the data of a write without fsync that is renamed into a fsynced dir (the classic bug)', async () => {
      const crashing = withCrashAfter(s.fs, Infinity, { model: 'power-loss' })
      await writeUnsynced(crashing, `${s.root}/meta.tmp`, 'precious')
      await crashing.rename(`${s.root}/meta.tmp`, `${s.root}/meta`)
      await crashing.fsync(s.root)
      expect(await text(s.fs, `${s.root}/meta`)).toBe('precious')
      const lost = await crashing.recover()
      expect(lost).toEqual([`data ${s.root}/meta.tmp`])
      expect((await s.fs.lstat(`${s.root}/meta`))?.size).toBe(0)
      expect(await s.fs.lstat(`${s.root}/meta.tmp`)).toBeUndefined()
    })

    it('keeps the data when the same write is synced before the rename', async () => {
      const crashing = withCrashAfter(s.fs, Infinity, { model: 'power-loss' })
      const h = await crashing.openWrite(`${s.root}/meta.tmp`)
      await h.write(Buffer.from('precious'))
      await h.sync()
      await h.close()
      await crashing.rename(`${s.root}/meta.tmp`, `${s.root}/meta`)
      await crashing.fsync(s.root)
      expect(await crashing.recover()).toEqual([])
      expect(await text(s.fs, `${s.root}/meta`)).toBe('precious')
    })

    it('makes an unfsynced mkdir disappear with everything below it, even what was fsynced inside', async () => {
      const crashing = withCrashAfter(s.fs, Infinity, { model: 'power-loss' })
      await crashing.mkdir(`${s.root}/d`, 0o755)
      const h = await crashing.openWrite(`${s.root}/d/f`)
      await h.write(Buffer.from('x'))
      await h.sync()
      await h.close()
      await crashing.fsync(`${s.root}/d`)
      await crashing.recover()
      expect(await s.fs.readdir(s.root)).toEqual([])
    })

    it('keeps a mkdir once its parent dir is fsynced', async () => {
      const crashing = withCrashAfter(s.fs, Infinity, { model: 'power-loss' })
      await crashing.mkdir(`${s.root}/d`, 0o750)
      await crashing.fsync(s.root)
      await crashing.recover()
      expect(await s.fs.lstat(`${s.root}/d`)).toMatchObject({ kind: 'dir', mode: 0o750 })
    })

    it('brings back an unfsynced unlink with its content, mode, owner, xattrs and mtime', async () => {
      const path = `${s.root}/victim`
      await writeUnsynced(s.fs, path, 'still here')
      await s.fs.chmod(path, 0o640)
      if (s.privileged) await s.fs.lchown(path, 1234, 5678)
      await s.fs.xattr.set(path, 'user.note', Buffer.from('kept'))
      await s.fs.lutimes(path, 1_000_000_123n, 1_000_000_123n)
      const before = await s.fs.lstat(path)
      const crashing = withCrashAfter(s.fs, Infinity, { model: 'power-loss' })
      await crashing.unlink(path)
      expect(await crashing.recover()).toEqual([`unlink ${path}`])
      expect(await text(s.fs, path)).toBe('still here')
      const after = await s.fs.lstat(path)
      expect(after).toMatchObject({ kind: 'file', mode: 0o640, uid: before?.uid, gid: before?.gid, mtimeNs: 1_000_000_123n })
      expect(Buffer.from((await s.fs.xattr.get(path, 'user.note')) ?? []).toString()).toBe('kept')
    })

    it('brings back an unfsynced rmdir of an empty dir and an unlinked symlink', async () => {
      await s.fs.mkdir(`${s.root}/empty`, 0o700)
      await s.fs.symlink('../somewhere', `${s.root}/link`)
      const crashing = withCrashAfter(s.fs, Infinity, { model: 'power-loss' })
      await crashing.rmdir(`${s.root}/empty`)
      await crashing.unlink(`${s.root}/link`)
      await crashing.recover()
      expect(await s.fs.lstat(`${s.root}/empty`)).toMatchObject({ kind: 'dir', mode: 0o700 })
      expect(await s.fs.readlink(`${s.root}/link`)).toBe('../somewhere')
    })

    it('makes a whole staged tree durable with syncfs, and still loses what follows it', async () => {
      const crashing = withCrashAfter(s.fs, Infinity, { model: 'power-loss' })
      await crashing.mkdir(`${s.root}/staged`, 0o755)
      await crashing.mkdir(`${s.root}/staged/sub`, 0o755)
      await writeUnsynced(crashing, `${s.root}/staged/sub/a`, 'aaa')
      await crashing.symlink('sub/a', `${s.root}/staged/link`)
      await crashing.chmod(`${s.root}/staged/sub/a`, 0o600)
      await crashing.syncfs(s.root)
      await writeUnsynced(crashing, `${s.root}/staged/late`, 'late')
      const expected = await listTree(s.fs, `${s.root}/staged`)
      expect(await crashing.recover()).toEqual([`data ${s.root}/staged/late`, `create ${s.root}/staged/late`])
      expect(await listTree(s.fs, `${s.root}/staged`)).toBe(expected.split('\n').filter((l) => !l.startsWith('late ')).join('\n'))
      expect(await text(s.fs, `${s.root}/staged/sub/a`)).toBe('aaa')
      expect((await s.fs.lstat(`${s.root}/staged/sub/a`))?.mode).toBe(0o600)
    })

    it('keeps a rename whose destination dir was fsynced', async () => {
      await makeDirs(s.fs, `${s.root}/from`)
      await makeDirs(s.fs, `${s.root}/to`)
      await writeFileDurable(s.fs, `${s.root}/from/x`, Buffer.from('x'))
      const crashing = withCrashAfter(s.fs, Infinity, { model: 'power-loss' })
      await crashing.rename(`${s.root}/from/x`, `${s.root}/to/x`)
      await crashing.fsync(`${s.root}/to`)
      expect(await crashing.recover()).toEqual([])
      expect(await text(s.fs, `${s.root}/to/x`)).toBe('x')
      expect(await s.fs.lstat(`${s.root}/from/x`)).toBeUndefined()
    })

    it('undoes a rename whole when only its source dir was fsynced', async () => {
      await makeDirs(s.fs, `${s.root}/from`)
      await makeDirs(s.fs, `${s.root}/to`)
      await writeFileDurable(s.fs, `${s.root}/from/x`, Buffer.from('x'))
      const crashing = withCrashAfter(s.fs, Infinity, { model: 'power-loss' })
      await crashing.rename(`${s.root}/from/x`, `${s.root}/to/x`)
      await crashing.fsync(`${s.root}/from`)
      await crashing.recover()
      expect(await text(s.fs, `${s.root}/from/x`)).toBe('x')
      expect(await s.fs.readdir(`${s.root}/to`)).toEqual([])
    })

    it('brings back the file an unfsynced rename replaced', async () => {
      await writeFileDurable(s.fs, `${s.root}/meta`, Buffer.from('old'))
      await writeFileDurable(s.fs, `${s.root}/next`, Buffer.from('new'))
      const crashing = withCrashAfter(s.fs, Infinity, { model: 'power-loss' })
      await crashing.rename(`${s.root}/next`, `${s.root}/meta`)
      await crashing.recover()
      expect(await text(s.fs, `${s.root}/meta`)).toBe('old')
      expect(await text(s.fs, `${s.root}/next`)).toBe('new')
    })

    it('reverts chmod, lchown and an xattr until the inode is fsynced, and keeps them after', async () => {
      for (const synced of [false, true]) {
        const path = `${s.root}/${synced ? 'synced' : 'unsynced'}`
        await writeFileDurable(s.fs, path, Buffer.from('x'))
        const crashing = withCrashAfter(s.fs, Infinity, { model: 'power-loss' })
        await crashing.chmod(path, 0o700)
        if (s.privileged) await crashing.lchown(path, 42, 43)
        await crashing.xattr.set(path, 'user.k', Buffer.from('v'))
        if (synced) await crashing.fsync(path)
        await crashing.recover()
        const st = await s.fs.lstat(path)
        const owner = s.privileged && synced ? { uid: 42, gid: 43 } : { uid: s.privileged ? 0 : st?.uid }
        expect(st, path).toMatchObject({ mode: synced ? 0o700 : 0o644, ...owner })
        const value = await s.fs.xattr.get(path, 'user.k')
        expect(value && Buffer.from(value).toString(), path).toBe(synced ? 'v' : undefined)
      }
    })

    it('rolls data written before its dir was moved back at the new place', async () => {
      await makeDirs(s.fs, `${s.root}/d`)
      await writeFileDurable(s.fs, `${s.root}/d/f`, Buffer.from('durable'))
      const crashing = withCrashAfter(s.fs, Infinity, { model: 'power-loss' })
      await writeUnsynced(crashing, `${s.root}/d/f`, 'lost')
      await crashing.rename(`${s.root}/d`, `${s.root}/e`)
      await crashing.fsync(s.root)
      expect(await crashing.recover()).toEqual([`data ${s.root}/d/f`])
      expect(await text(s.fs, `${s.root}/e/f`)).toBe('durable')
    })

    it('loses only the appended bytes of an append without sync', async () => {
      const journal = `${s.root}/journal`
      await writeFileDurable(s.fs, journal, Buffer.from('one\n'))
      const crashing = withCrashAfter(s.fs, Infinity, { model: 'power-loss' })
      const a = await crashing.openWrite(journal, { append: true })
      await a.write(Buffer.from('two\n'))
      await a.sync()
      await a.write(Buffer.from('three\n'))
      await a.close()
      expect(await text(s.fs, journal)).toBe('one\ntwo\nthree\n')
      await crashing.recover()
      expect(await text(s.fs, journal)).toBe('one\ntwo\n')
    })

    it('leaves exactly the first k names of a linkNames that crashes after k links, each rolled back as its link would be', async () => {
      const names = ['a', 'b', 'c', 'd']
      for (let k = 0; k <= names.length; k++) {
        const [viaLinkNames, viaLink] = [`${s.root}/k${k}`, `${s.root}/k${k}-link`]
        const lost: string[][] = []
        for (const base of [viaLinkNames, viaLink]) {
          await makeDirs(s.fs, `${base}/from`)
          await makeDirs(s.fs, `${base}/to`)
          for (const name of names) await writeFileDurable(s.fs, `${base}/from/${name}`, Buffer.from(name))
          const crashing = withCrashAfter(s.fs, k, { model: 'power-loss' })
          if (base === viaLinkNames) {
            const linking = crashing.linkNames(`${base}/from`, `${base}/to`, names)
            if (k < names.length) await expect(linking).rejects.toBeInstanceOf(CrashError)
            else expect(await linking).toEqual(names.map(() => undefined))
          } else {
            for (const name of names) await crashing.link(`${base}/from/${name}`, `${base}/to/${name}`).catch(ignoreCrash)
          }
          expect(crashing.journal, `after a crash at step ${k}`).toEqual(names.slice(0, k).map((n) => `link ${base}/to/${n}`))
          expect((await s.fs.readdir(`${base}/to`)).map((e) => e.name).sort(), `after a crash at step ${k}`).toEqual(names.slice(0, k))
          for (const name of names.slice(0, k)) {
            expect(inodeKey((await s.fs.lstat(`${base}/to/${name}`))!)).toBe(inodeKey((await s.fs.lstat(`${base}/from/${name}`))!))
          }
          lost.push((await crashing.recover()).map((l) => l.replace(base, '<base>')))
          // Never fsynced, the new names go; the files they named stay, each with its one name.
          expect(await s.fs.readdir(`${base}/to`)).toEqual([])
          for (const name of names) expect(await s.fs.lstat(`${base}/from/${name}`)).toMatchObject({ nlink: 1 })
        }
        expect(lost[0]).toEqual(names.slice(0, k).reverse().map((n) => `create <base>/to/${n}`))
        expect(lost[0]).toEqual(lost[1])
      }
    })

    it('keeps what linkNames linked once the directory is fsynced, and refuses its directories before any step', async () => {
      await makeDirs(s.fs, `${s.root}/from`)
      await makeDirs(s.fs, `${s.root}/to`)
      await writeFileDurable(s.fs, `${s.root}/from/a`, Buffer.from('a'))
      await s.fs.symlink('from', `${s.root}/from-link`)
      const crashing = withCrashAfter(s.fs, Infinity, { model: 'power-loss' })
      await expect(crashing.linkNames(`${s.root}/from-link`, `${s.root}/to`, ['a'])).rejects.toMatchObject({ code: 'ELOOP' })
      await expect(crashing.linkNames(`${s.root}/from`, `${s.root}/missing`, ['a'])).rejects.toMatchObject({ code: 'ENOENT' })
      expect(crashing.steps).toBe(0)
      expect(await crashing.linkNames(`${s.root}/from`, `${s.root}/to`, ['a', 'gone', '..'])).toEqual([undefined, 'ENOENT', 'EINVAL'])
      await crashing.fsync(`${s.root}/to`)
      expect(await crashing.recover()).toEqual([])
      expect(await text(s.fs, `${s.root}/to/a`)).toBe('a')
      expect((await s.fs.lstat(`${s.root}/from/a`))?.nlink).toBe(2)
    })

    it('drops a lock taken through the crashing port at the crash, as the kernel does for a killed process', async () => {
      const lockPath = `${s.root}/lock`
      const crashing = withCrashAfter(s.fs, 1, { model: 'power-loss' })
      const held = await crashing.tryLock(lockPath, 'exclusive', { create: true })
      expect(held.ok).toBe(true)
      expect((await s.fs.tryLock(lockPath, 'exclusive')).ok).toBe(false)
      await crashing.mkdir(`${s.root}/a`)
      await crashing.mkdir(`${s.root}/b`).catch(ignoreCrash)
      expect(crashing.crashed).toBe(true)
      const again = await s.fs.tryLock(lockPath, 'exclusive')
      expect(again.ok).toBe(true)
      if (again.ok) await again.lock.release()
      if (held.ok) await held.lock.release()
    })
  })
}

describe('recover under the SIGKILL model', () => {
  it('keeps every change that went through and refuses every later call', async () => {
    const { fs, root } = await memorySubject()
    const crashing = withCrashAfter(fs, Infinity)
    await writeUnsynced(crashing, `${root}/f`, 'kept')
    expect(crashing.model).toBe('sigkill')
    expect(await crashing.recover()).toEqual([])
    expect(await text(fs, `${root}/f`)).toBe('kept')
    await expect(crashing.mkdir(`${root}/d`)).rejects.toBeInstanceOf(CrashError)
    expect(await fs.lstat(`${root}/d`)).toBeUndefined()
  })
})

describe('the power-loss model as a property', () => {
  const PATHS = ['a', 'b', 'a/c', 'b/c', 'a/c/d', 'e'] as const
  const op = fc.record({
    call: fc.constantFrom(
      ...(['mkdir', 'create', 'append', 'truncate', 'unlink', 'rmdir', 'rename', 'link', 'symlink'] as const),
      ...(['chmod', 'xattr', 'unxattr', 'fsync-file'] as const),
    ),
    sync: fc.constantFrom('none', 'none', 'none', 'fsync', 'fsync-parent', 'fsync-root'),
    p: fc.constantFrom(...PATHS),
    q: fc.constantFrom(...PATHS),
    data: fc.constantFrom('1', '22', '333'),
  })
  type Op = typeof op extends fc.Arbitrary<infer T> ? T : never

  const apply = async (fs: FsPort, root: string, o: Op, old: Set<string>): Promise<void> => {
    const p = `${root}/${o.p}`
    const q = `${root}/${o.q}`
    const write = async (options: { append?: boolean; exclusive?: boolean }): Promise<void> => {
      const h = await fs.openWrite(p, options)
      try {
        await h.write(Buffer.from(o.data))
      } finally {
        await h.close()
      }
    }
    switch (o.call) {
      case 'mkdir': return fs.mkdir(p, 0o755)
      case 'create': return write({ exclusive: true })
      case 'append': return write({ append: true })
      case 'truncate': return write({})
      case 'unlink': return fs.unlink(p)
      case 'rmdir': return fs.rmdir(p)
      case 'rename': return fs.rename(p, q)
      case 'link': return fs.link(p, q)
      case 'symlink': return fs.symlink(o.data, p)
      case 'chmod': return fs.chmod(p, 0o600 + o.data.length)
      case 'xattr': return fs.xattr.set(p, 'user.k', Buffer.from(o.data))
      case 'unxattr': return fs.xattr.remove(p, 'user.k')
      // A new file's own fsync does not make its name durable.
      case 'fsync-file': {
        const st = await fs.lstat(p)
        if (st?.kind === 'file' && !old.has(inodeKey(st))) await fs.fsync(p)
        return
      }
    }
  }

  const start = async (): Promise<{ fs: FsPort; root: string; old: Set<string>; listing: string }> => {
    const { fs, root } = await memorySubject()
    await fs.mkdir(`${root}/a`, 0o755)
    await fs.mkdir(`${root}/a/c`, 0o750)
    await writeUnsynced(fs, `${root}/a/c/d`, 'deep')
    await writeUnsynced(fs, `${root}/b`, 'bee')
    await fs.xattr.set(`${root}/b`, 'user.k', Buffer.from('orig'))
    const listing = await listTree(fs, root, { content: 'full' })
    const old = new Set<string>()
    for (const p of ['a', 'a/c', 'a/c/d', 'b']) old.add(inodeKey((await fs.lstat(`${root}/${p}`))!))
    return { fs, root, old, listing }
  }
  const tolerate = (err: unknown): void => {
    if (typeof (err as { code?: unknown }).code !== 'string' || err instanceof CrashError) throw err
  }

  it('rolls back without a hitch whatever mix of fsyncs ran, and keeps all of it after a syncfs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 30 }), fc.boolean(), async (ops, syncAtEnd) => {
        const { fs, root, old } = await start()
        const crashing = withCrashAfter(fs, Infinity, { model: 'power-loss' })
        for (const o of ops) {
          await apply(crashing, root, o, old).catch(tolerate)
          const at = o.sync === 'fsync' ? `${root}/${o.p}` : o.sync === 'fsync-parent' ? dirname(`${root}/${o.p}`) : root
          if (o.sync !== 'none') await crashing.fsync(at).catch(tolerate)
        }
        if (syncAtEnd) await crashing.syncfs(root)
        const before = await listTree(fs, root, { content: 'full' })
        const lost = await crashing.recover()
        if (syncAtEnd) {
          expect(lost).toEqual([])
          expect(await listTree(fs, root, { content: 'full' })).toBe(before)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('rolls every change back to the starting tree when only new files were fsynced', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 30 }), async (ops) => {
        const { fs, root, old, listing } = await start()
        const crashing = withCrashAfter(fs, Infinity, { model: 'power-loss' })
        for (const o of ops) await apply(crashing, root, o, old).catch(tolerate)
        await crashing.recover()
        // Files created and fsynced are gone with their unfsynced names; the rest reverts.
        expect(await listTree(fs, root, { content: 'full' })).toBe(listing)
      }),
      { numRuns: 300 },
    )
  })
})
