/**
 * The filesystem contract: every port operation, run against the memory
 * adapter and the disk adapter with the same expectations. When this suite
 * passes, a feature test that passes in memory says something about Linux.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isErrno } from '../src/errors.js'
import { readFileLimited, writeFileDurable } from '../src/fs/io.js'
import type { FsPort } from '../src/fs/port.js'
import { inodeKey } from '../src/fs/port.js'
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

      it('reports char and block devices as such', async ({ skip }) => {
        if (rootOnly()) return skip('needs root (mknod, trusted.* xattrs or mounts)')
        await fs.mknod(`${r}/c`, 'char', 0o000, { major: 0, minor: 0 })
        await fs.mknod(`${r}/b`, 'block', 0o600, { major: 7, minor: 200 })
        const kinds = Object.fromEntries((await fs.readdir(r)).map((e) => [e.name, e.kind]))
        expect(kinds).toEqual({ c: 'char', b: 'block' })
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
