/**
 * Names are bytes, end to end: a layer whose names are not valid UTF-8, or
 * hold a newline or a terminal escape, goes through import, check, export
 * and the human renderers byte for byte, and is shown escaped.
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { Chalk } from 'chalk'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCheck } from '../src/check/run.js'
import { renderCheck } from '../src/cli/render/check.js'
import { renderDetect } from '../src/cli/render/detect.js'
import type { Style } from '../src/cli/style.js'
import { detect } from '../src/detect/detect.js'
import { makeDirs, writeFileAll } from '../src/fs/io.js'
import { decodeName, encodeName } from '../src/fs/name-bytes.js'
import { importImage } from '../src/families/mesos/import.js'
import { exportLayerTar } from '../src/tar/export-layer.js'
import { importLayerTar } from '../src/tar/import-layer.js'
import { encodePaxRecords, paxEntry, sealHeader } from '../src/tar/pax.js'
import { readTextLimited } from '../src/fs/io.js'
import { removeTree } from '../src/fs/remove.js'
import { rootSkipReason, SUBJECTS, type Subject } from './support/adapters.js'

const b = (s: string): Buffer => Buffer.from(s, 'latin1')

// --- a tar written block by block, so names can be any bytes -------------------

interface RawHeader {
  name: Buffer
  type: '0' | '1' | '2' | '5' | 'L' | 'K' | 'x' | 'g'
  mode?: number
  size?: number
  linkname?: Buffer
  prefix?: Buffer
}

function headerBlock(h: RawHeader): Buffer {
  const block = Buffer.alloc(512)
  const octal = (offset: number, width: number, value: number): void => {
    block.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, 'latin1')
  }
  h.name.copy(block, 0, 0, 100)
  octal(100, 8, h.mode ?? 0o644)
  octal(108, 8, 0)
  octal(116, 8, 0)
  octal(124, 12, h.size ?? 0)
  octal(136, 12, 1_700_000_000)
  block.write(h.type, 156, 'latin1')
  h.linkname?.copy(block, 157, 0, 100)
  block.write('ustar\x0000', 257, 'latin1')
  h.prefix?.copy(block, 345, 0, 155)
  sealHeader(block)
  return block
}

const padded = (data: Buffer): Buffer => Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)])

type Entry = {
  name: Buffer
  type: 'file' | 'dir' | 'symlink' | 'link'
  body?: string
  target?: Buffer
  mode?: number
  form?: 'ustar' | 'prefix' | 'pax' | 'gnu'
  /** Where a link target too long for the header goes: a PAX `linkpath` or a GNU `K` long link. */
  linkForm?: 'pax' | 'gnu'
}

/**
 * One entry in the form asked for: the name in the ustar field, split into
 * prefix and name, in a PAX `path`, or in a GNU long name; a link target in
 * the header, a PAX `linkpath` or a GNU long link.
 */
function entryBlocks(e: Entry): Buffer[] {
  const type = { file: '0', dir: '5', symlink: '2', link: '1' }[e.type] as RawHeader['type']
  const body = Buffer.from(e.body ?? '')
  const base = { type, mode: e.mode ?? (e.type === 'dir' ? 0o755 : 0o644), size: body.length, ...(e.target ? { linkname: e.target.subarray(0, 100) } : {}) }
  const name = e.type === 'dir' ? Buffer.concat([e.name, b('/')]) : e.name
  const out: Buffer[] = []
  if (e.linkForm === 'pax') out.push(Buffer.from(paxEntry([['linkpath', e.target!]])))
  if (e.linkForm === 'gnu') {
    const long = Buffer.concat([e.target!, Buffer.alloc(1)])
    out.push(headerBlock({ name: b('././@LongLink'), type: 'K', size: long.length }), padded(long))
  }
  switch (e.form ?? 'ustar') {
    case 'ustar':
      out.push(headerBlock({ ...base, name }))
      break
    case 'prefix': {
      const slash = name.lastIndexOf(0x2f, name.length - 2)
      out.push(headerBlock({ ...base, prefix: name.subarray(0, slash), name: name.subarray(slash + 1) }))
      break
    }
    case 'pax':
      out.push(Buffer.from(paxEntry([['path', name]])), headerBlock({ ...base, name: b('placeholder') }))
      break
    case 'gnu': {
      const long = Buffer.concat([name, Buffer.alloc(1)])
      out.push(headerBlock({ name: b('././@LongLink'), type: 'L', size: long.length }), padded(long), headerBlock({ ...base, name: name.subarray(0, 99) }))
      break
    }
  }
  if (body.length > 0) out.push(padded(body))
  return out
}

const tarOf = (entries: Entry[]): Buffer => Buffer.concat([...entries.flatMap(entryBlocks), Buffer.alloc(1024)])

const LONG = b(`long/${'n'.repeat(120)}\xff`)
const PAX_TARGET = b(`t\xff/${'x'.repeat(120)}`)
const BASE: Entry[] = [
  { name: b('d\xe9'), type: 'dir' },
  { name: b('caf\xe9.txt'), type: 'file', body: 'cafe' },
  { name: b('bad\xff\xfe'), type: 'file', body: 'bad', form: 'pax' },
  { name: b('x\n  error fake'), type: 'file', body: 'newline' },
  { name: b('\x1b[31mred'), type: 'file', body: 'escape' },
  { name: b('gone\xe9'), type: 'file', body: 'to be whited out' },
  { name: b('d\xe9/inner\xfe'), type: 'file', body: 'inner', form: 'prefix' },
  { name: b('link\xfe'), type: 'symlink', target: b('caf\xe9.txt') },
  { name: b('hard\xe9'), type: 'link', target: b('caf\xe9.txt') },
  { name: b('long'), type: 'dir' },
  { name: LONG, type: 'file', body: 'long', form: 'gnu' },
  { name: b('plink'), type: 'symlink', target: PAX_TARGET, linkForm: 'pax' },
  { name: b('khard'), type: 'link', target: LONG, linkForm: 'gnu' },
]
const TOP: Entry[] = [
  { name: b('.wh.gone\xe9'), type: 'file', mode: 0 },
  { name: b('d\xe9'), type: 'dir' },
  { name: b('d\xe9/.wh..wh..opq'), type: 'file', mode: 0 },
  { name: b('new\xff'), type: 'file', body: 'new' },
]

/** The names in a tar as bytes (latin1 strings), read independently of the code under test: ustar, prefix, GNU L and PAX path. */
function tarNames(tar: Buffer): string[] {
  const names: string[] = []
  let at = 0
  let long: Buffer | undefined
  let pax: Buffer | undefined
  while (at + 512 <= tar.length) {
    const block = tar.subarray(at, at + 512)
    at += 512
    if (block.every((x) => x === 0)) continue
    const field = (o: number, n: number): Buffer => {
      const f = block.subarray(o, o + n)
      const end = f.indexOf(0)
      return end === -1 ? f : f.subarray(0, end)
    }
    const size = Number.parseInt(field(124, 12).toString('latin1').trim() || '0', 8)
    const data = tar.subarray(at, at + size)
    at += Math.ceil(size / 512) * 512
    const type = String.fromCharCode(block[156]!)
    if (type === 'L') {
      long = data.subarray(0, data.indexOf(0))
      continue
    }
    if (type === 'x') {
      for (let i = 0; i < data.length; ) {
        const space = data.indexOf(0x20, i)
        const len = Number(data.subarray(i, space).toString('latin1'))
        const rec = data.subarray(space + 1, i + len - 1)
        const eq = rec.indexOf(0x3d)
        if (rec.subarray(0, eq).toString('latin1') === 'path') pax = rec.subarray(eq + 1)
        i += len
      }
      continue
    }
    let name = field(0, 100)
    if (block[345] !== 0) name = Buffer.concat([field(345, 155), b('/'), name])
    name = pax ?? long ?? name
    pax = long = undefined
    names.push(name.toString('latin1').replace(/\/$/, ''))
  }
  return names.sort()
}

const plain: Style = { c: new Chalk({ level: 0 }), width: 80, tty: false }

/** An OCI layout holding one image of uncompressed layers, written through the port. */
async function ociLayout(s: Subject, dir: string, layers: Buffer[]): Promise<string> {
  const sha = (x: Buffer | string): string => `sha256:${createHash('sha256').update(x).digest('hex')}`
  const blob = async (x: Buffer | string): Promise<string> => {
    const digest = sha(x)
    await writeFileAll(s.fs, `${dir}/blobs/sha256/${digest.slice(7)}`, typeof x === 'string' ? Buffer.from(x) : x)
    return digest
  }
  await makeDirs(s.fs, `${dir}/blobs/sha256`)
  await writeFileAll(s.fs, `${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}')
  const diffIds = layers.map(sha)
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, config: {} })
  const configDigest = await blob(config)
  const layerDescs = []
  for (const l of layers) layerDescs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: await blob(l), size: l.length })
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: layerDescs,
  })
  const manifestDigest = await blob(manifest)
  await writeFileAll(
    s.fs,
    `${dir}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'names' } }],
    }),
  )
  return `oci:${dir}:names`
}

const namesOf = (entries: Entry[]): string[] => entries.map((e) => e.name.toString('latin1')).sort()

for (const { name, make } of SUBJECTS) {
  describe(`names that are bytes on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    const layerTars = [tarOf(BASE), tarOf(TOP)]

    for (const backend of ['copy', 'overlay'] as const) {
      it(`imports, checks clean and exports a layer with non-UTF-8, newline and escape names byte for byte (${backend} backend)`, async ({ skip }) => {
        if (backend === 'overlay' && !s.privileged) return skip(rootSkipReason())
        const store = `${s.root}/store`
        const image = await ociLayout(s, `${s.root}/layout`, layerTars)
        const imported = await importImage(s.fs, { store, backend, image, createStore: true, preserveOwners: s.privileged })
        const variant = backend === 'overlay' ? 'rootfs.overlay' : 'rootfs'
        const rootfs = imported.layers.map((l) => `${store}/layers/${l.id}/${variant}`)

        const names = (await s.fs.readdir(rootfs[0]!)).map((e) => e.name).sort()
        expect(names).toEqual(['\x1b[31mred', 'bad\udcff\udcfe', 'caf\udce9.txt', 'd\udce9', 'gone\udce9', 'hard\udce9', 'khard', 'link\udcfe', 'long', 'plink', 'x\n  error fake'])
        const links = async (root: string): Promise<void> => {
          expect(await s.fs.readlink(`${root}/link\udcfe`)).toBe('caf\udce9.txt')
          expect(await s.fs.readlink(`${root}/plink`)).toBe(decodeName(PAX_TARGET))
          expect((await s.fs.lstat(`${root}/hard\udce9`))?.ino).toBe((await s.fs.lstat(`${root}/caf\udce9.txt`))?.ino)
          expect((await s.fs.lstat(`${root}/khard`))?.ino).toBe((await s.fs.lstat(`${root}/${decodeName(LONG)}`))?.ino)
        }
        await links(rootfs[0]!)
        expect((await s.fs.readdir(`${rootfs[0]}/d\udce9`)).map((e) => e.name)).toEqual(['inner\udcfe'])
        expect((await s.fs.readdir(`${rootfs[0]}/long`)).map((e) => e.name)).toEqual([decodeName(LONG.subarray(5))])
        const whiteout = await s.fs.lstat(`${rootfs[1]}/${backend === 'overlay' ? 'gone\udce9' : '.wh.gone\udce9'}`)
        expect(whiteout?.kind).toBe(backend === 'overlay' ? 'char' : 'file')
        if (s.name === 'disk') {
          const listing = execFileSync('ls', ['-b', rootfs[0]!], { encoding: 'latin1' })
          expect(listing.split('\n')).toEqual(expect.arrayContaining(['caf\\351.txt', 'bad\\377\\376', 'x\\n\\ \\ error\\ fake', '\\033[31mred']))
        }

        const report = await runCheck(s.fs, { store })
        expect(report.passes.flatMap((p) => p.findings.map((f) => `${f.code} ${f.path}`))).toEqual([])
        expect(report.exitCode).toBe(0)

        for (const [i, entries] of [BASE, TOP].entries()) {
          const chunks: Uint8Array[] = []
          await exportLayerTar(s.fs, rootfs[i]!, async (c) => void chunks.push(c))
          const tar = Buffer.concat(chunks)
          expect(tarNames(tar), `layer ${i}`).toEqual(namesOf(entries))
          // Read back by layerfsck itself, the same tree again.
          const again = `${s.root}/again${i}`
          await s.fs.mkdir(again, 0o755)
          await importLayerTar(s.fs, Readable.from([tar]), again, { form: 'aufs' })
          expect((await s.fs.readdir(again)).map((e) => e.name).sort()).toEqual(
            i === 0 ? names : ['.wh.gone\udce9', 'd\udce9', 'new\udcff'],
          )
          if (i === 0) await links(again)
          if (s.name === 'disk') {
            // GNU tar reads the same bytes (it warns that it does not know hdrcharset, and keeps them as they are).
            const path = `${s.root}/layer${i}.tar`
            await writeFileAll(s.fs, path, tar)
            const listed = execFileSync('tar', ['-tf', path, '--quoting-style=escape'], {
              encoding: 'latin1',
              env: { ...process.env, LC_ALL: 'C' },
              stdio: ['ignore', 'pipe', 'pipe'],
            })
            const expected = entries.map((e) => e.name.toString('latin1'))
            const escaped = (x: string): string => x.replace(/[\x00-\x1f\x7f-\xff]/g, (c) => (c === '\n' ? '\\n' : `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`))
            expect(listed.trim().split('\n').map((l) => l.replace(/\/$/, '')).sort()).toEqual(expected.map(escaped).sort())
          }
        }
      })
    }

    it('shows every name escaped in human output and exact in JSON', async () => {
      const store = `${s.root}/store`
      const image = await ociLayout(s, `${s.root}/layout`, layerTars)
      await importImage(s.fs, { store, backend: 'copy', image, createStore: true, preserveOwners: s.privileged })
      // Names a store must not hold at its top level: check and detect both list them.
      for (const n of ['x\n  error fake', '\x1b[31mred\udcff']) await writeFileAll(s.fs, `${store}/${n}`, '')

      const report = await runCheck(s.fs, { store })
      const paths = report.passes.flatMap((p) => p.findings.map((f) => f.path))
      expect(paths).toEqual(expect.arrayContaining([`${store}/x\n  error fake`, `${store}/\x1b[31mred\udcff`]))
      const human = renderCheck(report, plain)
      expect(human).not.toMatch(/^\s*error fake/m)
      expect(human).not.toContain('\x1b')
      expect(human).not.toMatch(/[\ud800-\udfff]/)
      expect(human).toContain('x\\n  error fake')
      expect(human).toContain('\\033[31mred\\377')
      expect(JSON.stringify(report)).toContain('\\u001b[31mred\\udcff')

      const detected = renderDetect(await detect(s.fs, { store }), plain)
      expect(detected).not.toMatch(/^\s*error fake/m)
      expect(detected).not.toContain('\x1b')
      expect(detected).toContain('x\\n  error fake')
      expect(detected).toContain('\\033[31mred\\377')
    })

    it('converts a .wh. file whose name is not UTF-8 into a whiteout device of exactly that name with check -p', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const store = `${s.root}/store`
      const image = await ociLayout(s, `${s.root}/layout`, layerTars)
      const imported = await importImage(s.fs, { store, backend: 'overlay', image, createStore: true })
      // What Mesos 1.1.0 left: rootfs.overlay holding the tar's .wh. files as they are.
      const top = `${store}/layers/${imported.layers[1]!.id}/rootfs.overlay`
      await removeTree(s.fs, top)
      await s.fs.mkdir(top, 0o755)
      await importLayerTar(s.fs, Readable.from([layerTars[1]!]), top, { form: 'aufs' })
      expect((await s.fs.lstat(`${top}/.wh.gone\udce9`))?.kind).toBe('file')

      const fixed = await runCheck(s.fs, { store, mode: 'preen' })
      expect(fixed.passes.flatMap((p) => p.findings.map((f) => [f.code, f.status]))).toContainEqual(['aufs-whiteout-in-overlay', 'fixed'])
      expect(fixed.exitCode & 8).toBe(0)
      const device = await s.fs.lstat(`${top}/gone\udce9`)
      expect(device).toMatchObject({ kind: 'char', rdev: { major: 0, minor: 0 } })
      expect(await s.fs.lstat(`${top}/.wh.gone\udce9`)).toBeUndefined()
      expect((await s.fs.readdir(top)).map((e) => e.name).sort()).toEqual(['d\udce9', 'gone\udce9', 'new\udcff'])
      if (s.name === 'disk') {
        expect(execFileSync('ls', ['-b', top], { encoding: 'latin1' }).split('\n')).toContain('gone\\351')
        expect(encodeName('gone\udce9')).toEqual(b('gone\xe9'))
      }
      const again = await runCheck(s.fs, { store })
      expect(again.passes.flatMap((p) => p.findings.map((f) => f.code))).toEqual([])
    })
  })
}

for (const { name, make } of SUBJECTS) {
  describe(`the tar header tap on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    const importTar = async (tar: Buffer): Promise<string> => {
      const target = `${s.root}/layer`
      await s.fs.mkdir(target, 0o755)
      await importLayerTar(s.fs, Readable.from([tar]), target, { form: 'aufs' })
      return target
    }

    it('keeps each name with its own data when a global PAX header carries a size (tar-stream ignores it)', async () => {
      const records = Buffer.from(encodePaxRecords([['size', Buffer.from('1024')]]))
      const global = [headerBlock({ name: b('pax_global_header'), type: 'g', size: records.length }), padded(records)]
      const tar = Buffer.concat([
        ...global,
        ...entryBlocks({ name: b('one\xe9'), type: 'file', body: 'first' }),
        ...entryBlocks({ name: b('two\xe9'), type: 'file', body: 'second' }),
        Buffer.alloc(1024),
      ])
      const target = await importTar(tar)
      expect(await readTextLimited(s.fs, `${target}/one\udce9`)).toBe('first')
      expect(await readTextLimited(s.fs, `${target}/two\udce9`)).toBe('second')
    })

    it('skips a block that is empty but for its checksum, as tar-stream does, and names the next entry right', async () => {
      const empty = Buffer.alloc(512)
      sealHeader(empty)
      const tar = Buffer.concat([
        ...entryBlocks({ name: b('one\xe9'), type: 'file', body: 'first' }),
        empty,
        ...entryBlocks({ name: b('two\xe9'), type: 'file', body: 'second' }),
        Buffer.alloc(1024),
      ])
      const target = await importTar(tar)
      expect((await s.fs.readdir(target)).map((e) => e.name).sort()).toEqual(['one\udce9', 'two\udce9'])
      expect(await readTextLimited(s.fs, `${target}/two\udce9`)).toBe('second')
    })
  })
}
