/**
 * Export encodes its tar in place (src/tar/tar-writer.ts). Its oracles:
 * tar-stream's own header encoder, block by block; import (which parses
 * with tar-stream and reads PAX records itself), through which every kind
 * of entry must come back as it was; and GNU tar, which must list what
 * export wrote. Each tree case runs on both adapters.
 */
import { Readable } from 'node:stream'
import { pack as tarPack, type Header } from 'tar-stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LayerfsckError } from '../src/errors.js'
import { makeDirs, writeFileAll } from '../src/fs/io.js'
import type { FsPort } from '../src/fs/port.js'
import { exportLayerTar, type LayerExportReport } from '../src/tar/export-layer.js'
import { encodeHeader, OUTPUT_BATCH, type TarHeader } from '../src/tar/tar-writer.js'
import { spawnSync } from 'node:child_process'
import { importLayerTar } from '../src/tar/import-layer.js'
import { listTree } from '../src/testing/tree-spec.js'
import { SUBJECTS, type Subject } from './support/adapters.js'

/** Bytes that differ from offset to offset, so a shifted or dropped block shows. */
function content(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) b[i] = (i * 131 + seed * 17 + (i >> 9)) & 0xff
  return b
}

const s2ns = (seconds: number): bigint => BigInt(seconds) * 1_000_000_000n

/** Writes a file below root, making its parents. */
const fileWriter =
  (fs: FsPort, root: string) =>
  async (rel: string, data: Uint8Array | string, mode = 0o644): Promise<void> => {
    const slash = rel.lastIndexOf('/')
    if (slash !== -1) await makeDirs(fs, `${root}/${rel.slice(0, slash)}`)
    await writeFileAll(fs, `${root}/${rel}`, data, mode)
  }

/**
 * Every kind of entry export writes, and every reason it has to write a
 * PAX record: long names and link targets, names that are UTF-8 and names
 * that are not, ids and times past ustar's fields, binary and overlay
 * xattrs, whiteouts in both forms, and bodies on either side of the size
 * where export stops reading a file whole.
 */
async function buildTree(s: Subject, root: string): Promise<void> {
  const fs = s.fs
  const file = fileWriter(fs, root)
  await file('empty', '')
  await file('small.txt', 'hello\n')
  await file('bin/ping', content(3000, 1), 0o4755)
  await file('one-block', content(512, 2))
  for (const [name, size] of [
    ['64k', 64 * 1024],
    ['64k-plus-one', 64 * 1024 + 1],
    ['100k', 100 * 1024],
    ['1m', 1024 * 1024],
    ['3m-odd', 3 * 1024 * 1024 + 77],
  ] as const) {
    await file(`big/${name}`, content(size, size))
  }
  // Names: exactly 100 bytes, a prefix split, one component past 100, past 255 in all.
  await file('n'.repeat(100), 'hundred')
  await file(`${'p'.repeat(60)}/${'q'.repeat(90)}`, 'split')
  await file(`${'d'.repeat(120)}/${'e'.repeat(120)}/f-${'x'.repeat(60)}`, 'deep')
  await file(`long/${'l'.repeat(150)}`, 'one long component')
  await file('café.txt', 'utf-8 but not ascii')
  await file('caf\udce9.txt', 'latin-1 bytes')
  await file('d\udce9/inner\udcfe', 'escaped dir and file')
  await file('ctrl\x01name', 'a control byte')
  // Hard links: plain, to an escaped name, to a long name.
  await fs.link(`${root}/small.txt`, `${root}/small-hard`)
  await fs.link(`${root}/caf\udce9.txt`, `${root}/hard\udce9`)
  await fs.link(`${root}/long/${'l'.repeat(150)}`, `${root}/khard`)
  await fs.link(`${root}/big/1m`, `${root}/big/1m-again`)
  // Symlinks: short, escaped, a target past 100 bytes, a dangling one.
  await fs.symlink('small.txt', `${root}/link`)
  await fs.symlink('caf\udce9.txt', `${root}/link\udcfe`)
  await fs.symlink(`../${'t'.repeat(140)}/target`, `${root}/long-link`)
  await fs.symlink('nowhere', `${root}/dangling`)
  await fs.mknod(`${root}/pipe`, 'fifo', 0o600)
  // aufs form: whiteout files and an opaque marker, written as they are.
  await file('aufs/.wh.gone', '', 0o000)
  await file('aufs/.wh..wh..opq', '', 0o755)
  await file('aufs/kept', 'kept')
  await fs.xattr.set(`${root}/small.txt`, 'user.note', new Uint8Array([0x00, 0xff, 0x0a, 0x3d]))
  await fs.xattr.set(`${root}/aufs`, 'user.empty', new Uint8Array(0))
  // Times: nanoseconds, before 1970, past 2038 (tar-stream wraps them), past ustar's 11 digits.
  await fs.lutimes(`${root}/small.txt`, 0n, s2ns(1_500_000_000) + 123_456_789n)
  await fs.lutimes(`${root}/empty`, 0n, s2ns(-5))
  await fs.lutimes(`${root}/one-block`, 0n, s2ns(2 ** 31 + 5))
  await fs.lutimes(`${root}/bin/ping`, 0n, s2ns(2 ** 33 + 1))
}

/**
 * The overlay-form part (root only): whiteout devices and opaque xattrs,
 * which export turns into aufs markers and an overlay import turns back;
 * other devices (numbers past six octal digits); ids past ustar's fields.
 */
async function buildOverlayTree(s: Subject, root: string): Promise<void> {
  const fs = s.fs
  const file = fileWriter(fs, root)
  await file('small.txt', 'hello\n')
  await file('small-hard', 'linked')
  await file('big/100k', content(100 * 1024, 3))
  await file('bin/ping', content(3000, 1), 0o4755)
  await fs.symlink('small.txt', `${root}/link`)
  await makeDirs(fs, `${root}/aufs`)
  await fs.mknod(`${root}/gone`, 'char', 0o000, { major: 0, minor: 0 })
  await fs.mknod(`${root}/aufs/also-gone`, 'char', 0o000, { major: 0, minor: 0 })
  await fs.mknod(`${root}/null`, 'char', 0o666, { major: 1, minor: 3 })
  await fs.mknod(`${root}/sda`, 'block', 0o660, { major: 8, minor: 0 })
  await fs.mknod(`${root}/wide`, 'char', 0o600, { major: 4095, minor: 0o3777777 })
  await makeDirs(fs, `${root}/opaque/sub`)
  await file('opaque/sub/kept', 'kept')
  await fs.xattr.set(`${root}/opaque`, 'trusted.overlay.opaque', new Uint8Array([0x79]))
  await fs.xattr.set(`${root}/opaque`, 'user.note', new Uint8Array([0x01, 0x02]))
  await fs.xattr.set(`${root}/bin/ping`, 'security.capability', Buffer.from('0100000200200000000000000000000000000000', 'hex'))
  await fs.lchown(`${root}/big/100k`, 0o1000000, 0o1000001)
  await fs.lchown(`${root}/small-hard`, 0o10000000, 7)
  await fs.lchown(`${root}/link`, 1000, 0o20000000)
  await fs.lchown(`${root}/small.txt`, 0o777777, 0o1000000 + 5)
}

async function exported(fs: FsPort, root: string): Promise<{ tar: Buffer; report: LayerExportReport }> {
  const chunks: Uint8Array[] = []
  const report = await exportLayerTar(fs, root, async (c) => void chunks.push(c))
  return { tar: Buffer.concat(chunks), report }
}

/** What GNU tar lists of a tar (names as it prints them), or its complaint. */
function gnuTarList(tar: Buffer): { status: number | null; names: string[]; stderr: string } {
  const r = spawnSync('tar', ['-tf', '-'], { input: tar, encoding: 'latin1', maxBuffer: 1 << 26 })
  return { status: r.status, names: r.stdout.split('\n').filter((n) => n !== ''), stderr: r.stderr }
}

/** The first block where two tars differ, for a failure message that says where. */
function firstDifference(a: Buffer, b: Buffer): string {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return `byte ${i} (block ${Math.floor(i / 512)})`
  return 'none'
}

for (const { name, make } of SUBJECTS) {
  describe(`export written in place on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    it('writes a tree of every kind of entry that import gives back as it was, and GNU tar lists', async () => {
      const root = `${s.root}/layer`
      await s.fs.mkdir(root, 0o755)
      await buildTree(s, root)
      const { tar, report } = await exported(s.fs, root)
      // The tree held what the round trip is meant to cover.
      expect(report).toMatchObject({ hardLinks: 4, whiteouts: 1, opaqueDirs: 1 })
      expect(tar.includes(Buffer.from('hdrcharset=BINARY'))).toBe(true)
      expect(tar.includes(Buffer.from(`linkpath=../${'t'.repeat(140)}/target`))).toBe(true)
      const back = `${s.root}/back`
      await s.fs.mkdir(back, 0o755)
      await importLayerTar(s.fs, Readable.from([tar]), back, { form: 'aufs' })
      expect(await listTree(s.fs, back)).toBe(await listTree(s.fs, root))
      // A tar keeps whole seconds; these are the ones past what the header's field holds either way.
      for (const [rel, seconds] of [
        ['empty', -5],
        ['one-block', 2 ** 31 + 5],
        ['bin/ping', 2 ** 33 + 1],
        ['small.txt', 1_500_000_000],
      ] as const) {
        expect([rel, (await s.fs.lstat(`${back}/${rel}`))?.mtimeNs]).toEqual([rel, s2ns(seconds)])
      }
      const gnu = gnuTarList(tar)
      // POSIX's hdrcharset, which GNU tar does not know, is its only remark.
      expect(gnu.stderr.split('\n').filter((l) => l !== '' && !l.includes("unknown extended header keyword 'hdrcharset'"))).toEqual([])
      expect(gnu.status).toBe(0)
      expect(gnu.names).toHaveLength(report.entries)
    })

    it('writes overlay whiteouts, devices and ids past the header fields so that an overlay import gives them back', async ({ skip }) => {
      if (!s.privileged) return skip('needs root (mknod, trusted.* xattrs, chown)')
      const root = `${s.root}/layer`
      await s.fs.mkdir(root, 0o755)
      await buildOverlayTree(s, root)
      const { tar, report } = await exported(s.fs, root)
      expect(report).toMatchObject({ whiteouts: 2, opaqueDirs: 1 })
      // Six octal digits hold 262143 at most: one more goes in a PAX record, as does a 20-bit device minor.
      expect(tar.includes(Buffer.from('gid=262149'))).toBe(true)
      expect(tar.includes(Buffer.from('SCHILY.devminor=1048575'))).toBe(true)
      const back = `${s.root}/back`
      await s.fs.mkdir(back, 0o755)
      await importLayerTar(s.fs, Readable.from([tar]), back, { form: 'overlay', allowDevices: true, preserveOwners: true })
      expect(await listTree(s.fs, back)).toBe(await listTree(s.fs, root))
      expect(gnuTarList(tar).status).toBe(0)
    })

    it('writes a thousand small files across many batches, each whole', async () => {
      const root = `${s.root}/many`
      for (let d = 0; d < 4; d++) {
        await makeDirs(s.fs, `${root}/d${d}`)
        for (let f = 0; f < 250; f++) await writeFileAll(s.fs, `${root}/d${d}/f${f}`, content((f * 37) % 4097, f))
      }
      const { tar } = await exported(s.fs, root)
      expect(tar.length).toBeGreaterThan(4 * OUTPUT_BATCH)
      const back = `${s.root}/back`
      await s.fs.mkdir(back, 0o755)
      await importLayerTar(s.fs, Readable.from([tar]), back, { form: 'aufs' })
      expect(await listTree(s.fs, back)).toBe(await listTree(s.fs, root))
    })

    it('hands the tar over in batches and holds the walk back while a slow writer has more than 2 MiB unwritten', async () => {
      const root = `${s.root}/slow`
      await s.fs.mkdir(root, 0o755)
      for (let i = 0; i < 40; i++) await writeFileAll(s.fs, `${root}/f${String(i).padStart(2, '0')}`, content(256 * 1024, i))
      let written = 0
      let ahead = 0
      const sizes: number[] = []
      await exportLayerTar(
        s.fs,
        root,
        async (chunk) => {
          sizes.push(chunk.length)
          await new Promise((r) => setTimeout(r, 2))
          written += chunk.length
        },
        { onProgress: ({ bytes }) => void (ahead = Math.max(ahead, bytes - written)) },
      )
      expect(Math.max(...sizes)).toBeLessThanOrEqual(OUTPUT_BATCH)
      expect(written).toBe(40 * (512 + 256 * 1024) + 1024)
      expect(ahead).toBeLessThanOrEqual(3 * 1024 * 1024)
    })

    it('reports a failed write and makes no write after it', async () => {
      const root = `${s.root}/fail`
      await s.fs.mkdir(root, 0o755)
      for (let i = 0; i < 8; i++) await writeFileAll(s.fs, `${root}/f${i}`, content(200 * 1024, i))
      let calls = 0
      const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
      const run = exportLayerTar(s.fs, root, async () => {
        calls += 1
        if (calls === 2) throw enospc
      })
      await expect(run).rejects.toBe(enospc)
      expect(calls).toBe(2)
    })

    for (const [how, delta] of [
      ['grows', 100],
      ['shrinks', -100],
    ] as const) {
      it(`refuses a large file that ${how} while it is streamed instead of writing a tar that does not parse`, async () => {
        const root = `${s.root}/changing`
        await s.fs.mkdir(root, 0o755)
        await writeFileAll(s.fs, `${root}/big`, content(200 * 1024, 1))
        const fs = new Proxy(s.fs, {
          get(target, prop, receiver) {
            if (prop === 'openRead') return async () => Readable.from([content(200 * 1024 + delta, 1)])
            return Reflect.get(target, prop, receiver) as unknown
          },
        })
        const run = exportLayerTar(fs, root, async () => {})
        await expect(run).rejects.toBeInstanceOf(LayerfsckError)
        await expect(run).rejects.toThrow(/big changed size while it was exported/)
      })
    }
  })
}

describe('ustar header blocks', () => {
  /** What tar-stream's pack writes for a header; a directory keeps any size, so the size field can be probed. */
  async function tarStreamBlock(h: TarHeader): Promise<Buffer> {
    const p = tarPack()
    const chunks: Buffer[] = []
    const done = (async () => {
      for await (const c of p as AsyncIterable<Buffer>) chunks.push(Buffer.from(c))
    })()
    const header: Header = {
      ...h,
      // Type bits keep a mode of 0 from becoming tar-stream's default; they are masked off when written.
      mode: h.mode | 0o100000,
      mtime: new Date(h.mtime * 1000),
      uname: '',
      gname: '',
    }
    await new Promise<void>((resolve, reject) => p.entry(header, (err) => (err ? reject(err) : resolve())))
    p.finalize()
    await done
    return Buffer.concat(chunks).subarray(0, 512)
  }

  const base: TarHeader = { name: 'dir', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000, linkname: '', devmajor: 0, devminor: 0 }
  const cases: [string, Partial<TarHeader>][] = [
    ['a plain directory', {}],
    ['mode 0 and setuid bits', { mode: 0o4000 }],
    ['ids at the edge of six octal digits and past it', { uid: 0o777777, gid: 0o1000000 }],
    ['a size past eleven octal digits (base 256)', { size: 2 ** 33 + 5 }],
    ['a size just inside eleven octal digits', { size: 2 ** 33 - 1 }],
    ['an mtime of 0', { mtime: 0 }],
    ['device numbers past six octal digits', { type: 'character-device', devmajor: 0o10000000, devminor: 0o777777 }],
    ['a name of exactly 100 bytes', { name: 'n'.repeat(100) }],
    ['a name split into prefix and name', { name: `${'p'.repeat(150)}/${'q'.repeat(100)}` }],
    ['a symlink with a 100-byte target', { type: 'symlink', linkname: 't'.repeat(100) }],
    ['a hard link', { type: 'link', name: 'b', linkname: 'a/b/c' }],
    ['a fifo', { type: 'fifo' }],
    ['a block device', { type: 'block-device', devmajor: 8, devminor: 1 }],
  ]
  for (const [title, change] of cases) {
    it(`encodes ${title} as tar-stream does`, async () => {
      const h = { ...base, ...change }
      const ours = Buffer.alloc(512)
      expect(encodeHeader(h, ours, 0)).toBe(true)
      expect(firstDifference(ours, await tarStreamBlock(h))).toBe('none')
    })
  }

  it('writes an mtime past 2038 as its eleven octal digits hold it, not wrapped at 32 bits as tar-stream does', () => {
    const buf = Buffer.alloc(512)
    expect(encodeHeader({ ...base, mtime: 2 ** 31 + 5 }, buf, 0)).toBe(true)
    expect(buf.toString('latin1', 136, 148)).toBe(`${(2 ** 31 + 5).toString(8).padStart(11, '0')} `)
  })

  it('declines names no ustar header holds, for the caller to put in PAX records', () => {
    const buf = Buffer.alloc(512)
    expect(encodeHeader({ ...base, name: 'x'.repeat(101) }, buf, 0)).toBe(false)
    expect(encodeHeader({ ...base, name: `${'p'.repeat(156)}/q` }, buf, 0)).toBe(false)
    expect(encodeHeader({ ...base, name: 'café' }, buf, 0)).toBe(false)
    expect(encodeHeader({ ...base, type: 'symlink', linkname: 't'.repeat(101) }, buf, 0)).toBe(false)
  })
})
