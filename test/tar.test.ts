import { Readable } from 'node:stream'
import { pack as tarPack, type Header } from 'tar-stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readFileLimited, readTextLimited, writeFileAll } from '../src/fs/io.js'
import { decodePaxRecords, encodePaxRecords, paxHeaderBlock, sealHeader } from '../src/tar/pax.js'
import { exportLayerTar } from '../src/tar/export-layer.js'
import { HostileTarError, importLayerTar } from '../src/tar/import-layer.js'
import { TarHeaderError } from '../src/tar/raw-pax-tap.js'
import { listTree, materialize, parseTreeSpec } from '../src/testing/tree-spec.js'
import { blobPath, openFixture, WH_LAYERS } from './support/fixtures.js'
import { rootSkipReason, SUBJECTS, type Subject } from './support/adapters.js'

describe('PAX records', () => {
  it('keep binary values byte for byte, including NUL and invalid UTF-8', () => {
    const value = new Uint8Array([0x01, 0x00, 0x00, 0x02, 0xff, 0xfe, 0x0a, 0x3d])
    const encoded = encodePaxRecords([
      ['SCHILY.xattr.security.capability', value],
      ['path', Buffer.from('a'.repeat(300))],
    ])
    const decoded = decodePaxRecords(encoded)
    expect(decoded.get('SCHILY.xattr.security.capability')).toEqual(value)
    expect(Buffer.from(decoded.get('path')!).toString()).toBe('a'.repeat(300))
  })

  it('count their own length digits, across a digit boundary', () => {
    for (const n of [0, 1, 85, 86, 87, 990, 991, 992, 9990]) {
      const encoded = encodePaxRecords([['k', Buffer.alloc(n, 0x61)]])
      expect(Number(Buffer.from(encoded).toString('latin1').split(' ')[0])).toBe(encoded.length)
    }
  })
})

/** A tar made from tar-stream headers, plus raw blocks where a hostile tar needs them. */
async function makeTar(entries: (Partial<Header> & { name: string; body?: string } | Uint8Array)[]): Promise<Buffer> {
  const p = tarPack()
  const chunks: Buffer[] = []
  const done = (async () => {
    for await (const c of p as AsyncIterable<Buffer>) chunks.push(Buffer.from(c))
  })()
  for (const e of entries) {
    if (e instanceof Uint8Array) {
      p.push(e)
      continue
    }
    const { body, ...header } = e
    await new Promise<void>((resolve, reject) => p.entry({ mtime: new Date(0), ...header }, body ?? '', (err) => (err ? reject(err) : resolve())))
  }
  p.finalize()
  await done
  return Buffer.concat(chunks)
}

for (const { name, make } of SUBJECTS) {
  describe(`layer tars on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    const importFixture = async (digest: string, form: 'aufs' | 'overlay', dir: string): Promise<string> => {
      const target = `${s.root}/${dir}`
      await s.fs.mkdir(target, 0o755)
      await importLayerTar(s.fs, await openFixture(blobPath('oci-overlay', digest)), target, { form })
      return target
    }

    it('imports the real wh-delete layer in aufs form with its whiteout files as they are', async () => {
      const target = await importFixture(WH_LAYERS[1], 'aufs', 'l2')
      const listing = await listTree(s.fs, target)
      expect(listing).toContain('data/.wh.gone.txt file mode=0000')
      expect(listing).toContain('data/cache/.wh..wh..opq file mode=0755')
      expect(listing).toContain('var/log/.wh.old.log file mode=0000')
      expect(listing).toContain('etc/app.conf file mode=0644')
      expect(await readTextLimited(s.fs, `${target}/etc/app.conf`)).toBe('key=v2\n')
    })

    it('imports the real wh-base layer with its hard link and symlink', async () => {
      const target = await importFixture(WH_LAYERS[0], 'aufs', 'l1')
      const a = await s.fs.lstat(`${target}/data/keep.txt`)
      const b = await s.fs.lstat(`${target}/data/keep-hardlink.txt`)
      expect(a?.nlink).toBe(2)
      expect(a?.ino).toBe(b?.ino)
      expect(await s.fs.readlink(`${target}/bin/hello-link`)).toBe('hello')
      expect((await s.fs.lstat(`${target}/bin/hello`))?.mode).toBe(0o755)
    })

    it('imports the real wh-third layer in overlay form as devices and opaque xattrs', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const l2 = await importFixture(WH_LAYERS[1], 'overlay', 'l2')
      const listing = await listTree(s.fs, l2)
      expect(listing).toContain('data/gone.txt char mode=0000 uid=0 gid=0 rdev=0:0')
      expect(listing).toContain('data/cache dir mode=0755 uid=0 gid=0 xattr.trusted.overlay.opaque=y')
      expect(listing).not.toContain('.wh.')
    })

    for (const form of ['aufs', 'overlay'] as const) {
      it(`gives an identical directory when a ${form}-form layer is exported and imported again`, async ({ skip }) => {
        if (form === 'overlay' && !s.privileged) return skip(rootSkipReason())
        for (const [i, digest] of WH_LAYERS.entries()) {
          const first = await importFixture(digest, form, `a${i}`)
          const chunks: Uint8Array[] = []
          const report = await exportLayerTar(s.fs, first, async (c) => void chunks.push(c))
          expect(report.entries).toBeGreaterThan(0)
          const second = `${s.root}/b${i}`
          await s.fs.mkdir(second, 0o755)
          await importLayerTar(s.fs, Readable.from([Buffer.concat(chunks)]), second, { form })
          expect(await listTree(s.fs, second), `layer ${i}`).toBe(await listTree(s.fs, first))
        }
      })
    }

    it('writes the same tar bytes for a layer in aufs form and in overlay form', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const counts: unknown[] = []
      const bytes = async (dir: string): Promise<Buffer> => {
        const chunks: Uint8Array[] = []
        const { whiteouts, opaqueDirs } = await exportLayerTar(s.fs, dir, async (c) => void chunks.push(c))
        counts.push({ whiteouts, opaqueDirs })
        return Buffer.concat(chunks)
      }
      const aufs = await importFixture(WH_LAYERS[2], 'aufs', 'aufs')
      const overlay = await importFixture(WH_LAYERS[2], 'overlay', 'overlay')
      expect((await bytes(aufs)).equals(await bytes(overlay))).toBe(true)
      // And the same report: a whiteout is counted in either form.
      expect(counts[0]).toEqual(counts[1])
      expect(counts[0]).toEqual({ whiteouts: 2, opaqueDirs: 0 })
    })

    it('carries binary xattrs, long names and an opaque marker through export and import', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const src = `${s.root}/src`
      await s.fs.mkdir(src, 0o755)
      const deep = `${'d'.repeat(120)}/${'e'.repeat(120)}/f-${'x'.repeat(60)}`
      await materialize(
        s.fs,
        src,
        parseTreeSpec(`
          bin/ping file mode=04755 content=ping xattr.security.capability=hex:0100000200200000000000000000000000000000
          ${deep} file content=deep
          opaque dir xattr.trusted.overlay.opaque=y xattr.user.note=hex:00ff
          opaque/kept file
          gone char rdev=0:0 mode=0
        `),
      )
      const chunks: Uint8Array[] = []
      const report = await exportLayerTar(s.fs, src, async (c) => void chunks.push(c))
      expect(report).toMatchObject({ whiteouts: 1, opaqueDirs: 1 })
      const tar = Buffer.concat(chunks)
      expect(tar.includes(Buffer.from('SCHILY.xattr.security.capability=\x01\x00\x00\x02', 'latin1'))).toBe(true)
      expect(tar.includes(Buffer.from('trusted.overlay'))).toBe(false)
      const dst = `${s.root}/dst`
      await s.fs.mkdir(dst, 0o755)
      await importLayerTar(s.fs, Readable.from([tar]), dst, { form: 'overlay' })
      expect(await listTree(s.fs, dst)).toBe(await listTree(s.fs, src))
    })

    it('replaces an entry written again after many other directories, and links to a file written long before', async () => {
      // More directories in between than the import keeps in mind: the later entries are checked on disk instead.
      const entries: Parameters<typeof makeTar>[0] = [{ name: 'first/f', body: 'old' }]
      for (let i = 0; i < 100; i++) entries.push({ name: `d${i}/x`, body: `${i}` })
      entries.push({ name: 'first/f', body: 'new' }, { name: 'd99/hl', type: 'link', linkname: 'first/f' }, { name: 'first/g', body: 'g' })
      const dst = `${s.root}/dst`
      await s.fs.mkdir(dst, 0o755)
      await importLayerTar(s.fs, Readable.from([await makeTar(entries)]), dst, { form: 'aufs' })
      expect(Buffer.from(await readFileLimited(s.fs, `${dst}/first/f`)).toString()).toBe('new')
      expect((await s.fs.lstat(`${dst}/d99/hl`))?.ino).toBe((await s.fs.lstat(`${dst}/first/f`))?.ino)
      expect((await s.fs.readdir(`${dst}/first`)).map((e) => e.name).sort()).toEqual(['f', 'g'])
    })

    it('into a directory that was not empty, links only to what the tar itself wrote', async () => {
      const dst = `${s.root}/dst`
      await s.fs.mkdir(dst, 0o755)
      await writeFileAll(s.fs, `${dst}/there`, 'not the tar\'s')
      const run = importLayerTar(s.fs, Readable.from([await makeTar([{ name: 'hl', type: 'link', linkname: 'there' }])]), dst, { form: 'aufs' })
      await expect(run).rejects.toThrow(/not an earlier file/)
    })

    describe('hostile tars', () => {
      const cases: { title: string; entries: Parameters<typeof makeTar>[0]; error: RegExp; options?: object }[] = [
        { title: 'a path with ..', entries: [{ name: 'a/../../escaped', body: 'x' }], error: /contains \.\./ },
        { title: 'an absolute path', entries: [{ name: '/escaped', body: 'x' }], error: /is absolute/ },
        {
          title: 'a file written through a symlink it planted',
          entries: [
            { name: 'link', type: 'symlink', linkname: '..' },
            { name: 'link/escaped', body: 'x' },
          ],
          error: /link is a symlink/,
        },
        {
          title: 'a symlink replaced by nothing and written through after a directory of the same name',
          entries: [
            { name: 'dir', type: 'directory' },
            { name: 'dir', type: 'symlink', linkname: '/' },
            { name: 'dir/escaped', body: 'x' },
          ],
          error: /dir is a symlink/,
        },
        { title: 'a hard link to a file outside', entries: [{ name: 'hl', type: 'link', linkname: '../outside' }], error: /not an earlier file/ },
        { title: 'a hard link to a name no entry wrote', entries: [{ name: 'a', body: 'x' }, { name: 'hl', type: 'link', linkname: 'b' }], error: /not an earlier file/ },
        {
          title: 'a hard link to a directory of the layer',
          entries: [
            { name: 'd', type: 'directory' },
            { name: 'hl', type: 'link', linkname: 'd' },
          ],
          error: /not an earlier file/,
        },
        {
          title: 'a hard link through a symlink',
          entries: [
            { name: 'link', type: 'symlink', linkname: '..' },
            { name: 'hl', type: 'link', linkname: 'link/outside' },
          ],
          error: /not an earlier file/,
        },
        {
          title: 'a device when devices are not allowed',
          entries: [{ name: 'sda', type: 'block-device', devmajor: 8, devminor: 0 }],
          error: /devices were not allowed/,
        },
        { title: 'a PAX header claiming a gigabyte', entries: [hugePaxHeader()], error: /PAX header declares 1073741824 bytes/ },
      ]
      for (const c of cases) {
        it(`refuses ${c.title} and writes nothing outside the target`, async () => {
          await s.fs.mkdir(`${s.root}/outside-dir`, 0o755)
          const target = `${s.root}/outside-dir/t`
          await s.fs.mkdir(target, 0o755)
          const tar = await makeTar(c.entries)
          const run = importLayerTar(s.fs, Readable.from([tar]), target, { form: 'aufs', ...c.options })
          await expect(run).rejects.toThrow(c.error)
          await expect(run).rejects.toSatisfy((e) => e instanceof HostileTarError || e instanceof TarHeaderError)
          expect((await s.fs.readdir(`${s.root}/outside-dir`)).map((e) => e.name)).toEqual(['t'])
          expect((await s.fs.readdir(s.root)).map((e) => e.name).sort()).toEqual(['outside-dir'])
        })
      }
    })
  })
}

function hugePaxHeader(): Uint8Array {
  // A header block alone: the data it announces never comes.
  return patchSize(paxHeaderBlock(0), 1024 ** 3)
}

function patchSize(block: Uint8Array, size: number): Uint8Array {
  const b = Buffer.from(block.subarray(0, 512))
  b.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1')
  sealHeader(b)
  return new Uint8Array(b)
}
