import fc from 'fast-check'
import { Chalk } from 'chalk'
import { describe, expect, it } from 'vitest'
import { main } from '../src/cli/main.js'
import { hang, name, visibleWidth, wrap } from '../src/cli/render/wrap.js'
import { styleFor } from '../src/cli/style.js'
import { escapeName } from '../src/fs/name-bytes.js'
import type { FsPort } from '../src/fs/port.js'
import { generateMesosStore } from '../src/testing/index.js'
import { SUBJECTS } from './support/adapters.js'
import { Capture } from './support/cli.js'

// eslint-disable-next-line no-control-regex
const plain = (text: string): string => text.replace(/\x1b\[[0-9;]*m/g, '')

describe('wrap', () => {
  it('breaks prose at spaces, each break taking the place of one space', () => {
    const text = 'the layer record names a cache dir that is not there, so every image built on it is lost'
    const pieces = wrap(text, { width: 30, indent: 4 })
    expect(pieces.join(' ')).toBe(text)
    for (const p of pieces.slice(1)) expect(p.length).toBeLessThanOrEqual(26)
    expect(pieces[0]!.length).toBeLessThanOrEqual(26)
    expect(pieces.every((p) => !p.startsWith(' ') && !p.endsWith(' '))).toBe(true)
  })

  it('breaks a path longer than a line only after a slash, and the pieces joined are the path', () => {
    const path = '/var/lib/mesos/store/docker/layers/0a3c41e2225f0a3c41e2225f/rootfs/usr/share/doc/some-package/changelog'
    const pieces = wrap(path, { width: 40, indent: 10, name: true })
    expect(pieces.join('')).toBe(path)
    for (const p of pieces) expect(p.length).toBeLessThanOrEqual(30)
    for (const p of pieces.slice(0, -1)) expect(p.endsWith('/')).toBe(true)
  })

  it('splits a name with no slash in reach anywhere, losing nothing', () => {
    const id = 'f'.repeat(64)
    const pieces = wrap(id, { width: 30, indent: 0, name: true })
    expect(pieces).toEqual(['f'.repeat(30), 'f'.repeat(30), 'f'.repeat(4)])
  })

  it('never breaks a name at a space it holds, so a name with spaces comes back exact', () => {
    const path = '/store/staging/a name with spaces in it that goes on and on/and then some more words'
    const pieces = wrap(path, { width: 24, indent: 2, name: true })
    expect(pieces.join('')).toBe(path)
    for (const p of pieces.slice(0, -1)) expect(p.endsWith('/') || p.length === 22).toBe(true)
  })

  it('starts the text on the next line when the label leaves no room on the first', () => {
    expect(wrap('abc def', { width: 10, start: 12, indent: 2 })).toEqual(['', 'abc def'])
  })

  it('never puts half of a character beyond the BMP on a line', () => {
    const text = 'ab😀cd😀ef'
    const pieces = wrap(text, { width: 3, name: true })
    expect(pieces.join('')).toBe(text)
    for (const p of pieces) expect(p).not.toMatch(/^[\udc00-\udfff]|[\ud800-\udbff]$/)
  })

  it('keeps every line within the width and loses no character, for any text and width', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('a', 'b', '/', ' ', '.'), maxLength: 300 }),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 0, max: 20 }),
        fc.boolean(),
        (text, room, indent, isName) => {
          const width = room + indent
          const pieces = wrap(text, { width, indent, name: isName })
          for (const p of pieces) expect(p.length).toBeLessThanOrEqual(room)
          if (isName) expect(pieces.join('')).toBe(text)
          else {
            // Prose: a piece that ends at a break drops at most the one space the break stands for.
            expect(pieces.join('').replace(/ /g, '')).toBe(text.replace(/ /g, ''))
            expect(text.length - pieces.join('').length).toBeLessThanOrEqual(pieces.length)
          }
        },
      ),
    )
  })

  it('counts no colour code as a column and keeps each span in its colour across a break', () => {
    const c = new Chalk({ level: 2 })
    const path = `/store/${'d'.repeat(30)}/${'e'.repeat(30)}/file`
    const lines = hang(c.bold('path      '), [name(path, c.cyan), { text: ' is gone', paint: c.dim }], 40, 10)
    expect(lines.join('\n')).not.toBe(plain(lines.join('\n')))
    for (const line of lines) expect(visibleWidth(line)).toBeLessThanOrEqual(40)
    for (const line of lines.slice(1)) expect(line.startsWith(' '.repeat(10))).toBe(true)
    const text = lines.map((l) => plain(l).slice(10)).join('')
    expect(text).toBe(`${path} is gone`)
    expect(lines.filter((l) => l.includes('\x1b[36m'))).toHaveLength(lines.length)
  })
})

describe('the width of human output', () => {
  it('is the terminal width on a terminal, however wide, at least 40, and 80 through a pipe', () => {
    const width = (isTTY: boolean, columns: number): number => styleFor(new Capture(isTTY, columns), {}).width
    expect(width(true, 200)).toBe(200)
    expect(width(true, 120)).toBe(120)
    expect(width(true, 20)).toBe(40)
    expect(width(false, 200)).toBe(80)
  })
})

/**
 * A Mesos store whose findings name paths of 200 characters and more: a
 * layers/ entry with a long name that is no layer id, a staging/ entry with
 * a long name holding spaces, and (where mknod works) an overlay whiteout
 * deep inside an aufs-form layer.
 */
async function longPathStore(fs: FsPort, root: string, privileged: boolean): Promise<string> {
  const store = `${root}/var/lib/mesos/store/docker`
  const g = await generateMesosStore(fs, store, { format: '1.1.0', layers: 2, backends: ['aufs'] })
  await fs.mkdir(`${store}/layers/${'not-a-layer-id-'.repeat(14)}`, 0o755)
  await fs.mkdir(`${store}/staging/${'a leftover with spaces '.repeat(9)}end`, 0o755)
  if (privileged) {
    const [variant] = (await fs.readdir(`${store}/layers/${g.layerIds[0]}`)).filter((e) => e.kind === 'dir')
    let dir = `${store}/layers/${g.layerIds[0]}/${variant!.name}`
    for (let i = 0; i < 6; i++) {
      dir += `/a-directory-named-at-some-length-${i}`
      await fs.mkdir(dir, 0o755)
    }
    await fs.mknod(`${dir}/deleted-file`, 'char', 0o000, { major: 0, minor: 0 })
  }
  return store
}

async function run(fs: FsPort, args: string[], tty?: { columns: number }) {
  const stdout = tty ? new Capture(true, tty.columns) : new Capture()
  const stderr = new Capture()
  const code = await main(args, { stdout, stderr, env: tty ? { FORCE_COLOR: '1' } : {}, fs })
  return { code, stdout: plain(stdout.text), stderr: stderr.text }
}

interface JsonFinding {
  path: string
  message: string
  status: string
  fix: { describe: string } | null
}

/** A check report's text with each finding's continuation lines joined back to the line they continue. */
const unwrapFindings = (text: string): string => text.replace(/\n {10}/g, '')
const squeeze = (text: string): string => text.replace(/\s+/g, '')

describe('check output on a store with 200-character paths', () => {
  for (const subject of SUBJECTS) {
    it(`prints every path, message and fix whole within 80 columns through a pipe, on the ${subject.name} adapter`, async () => {
      const s = await subject.make()
      try {
        const store = await longPathStore(s.fs, s.root, s.privileged)
        const json = await run(s.fs, ['check', '--store', store, '--json'])
        const findings: JsonFinding[] = JSON.parse(json.stdout).passes.flatMap((p: { findings: JsonFinding[] }) => p.findings)
        expect(findings.filter((f) => f.path.length >= 200).length).toBeGreaterThanOrEqual(2)

        const text = await run(s.fs, ['check', '--store', store])
        expect(text.code).toBe(json.code)
        for (const line of text.stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80)
        const unwrapped = unwrapFindings(text.stdout)
        for (const f of findings) {
          // A path is a name: joined back, it is exact, spaces and all.
          expect(unwrapped).toContain(escapeName(f.path))
          expect(squeeze(unwrapped)).toContain(squeeze(escapeName(f.message)))
          if (f.fix) expect(squeeze(unwrapped)).toContain(squeeze(escapeName(f.fix.describe)))
        }
        expect(text.stdout).not.toContain('…')
      } finally {
        await s.cleanup()
      }
    })
  }

  it('uses the whole width of a 120-column terminal, and no more', async () => {
    const s = await SUBJECTS[0]!.make()
    const store = await longPathStore(s.fs, s.root, s.privileged)
    const text = await run(s.fs, ['check', '--store', store], { columns: 120 })
    const lengths = text.stdout.split('\n').map((l) => l.length)
    expect(Math.max(...lengths)).toBeLessThanOrEqual(120)
    expect(Math.max(...lengths)).toBeGreaterThan(100)
    const narrow = await run(s.fs, ['check', '--store', store])
    expect(text.stdout.split('\n').length).toBeLessThan(narrow.stdout.split('\n').length)
  })

  it('prints detect whole as well: the store path, every layer id and every unclassified name', async () => {
    const s = await SUBJECTS[0]!.make()
    const store = await longPathStore(s.fs, s.root, s.privileged)
    const doc = JSON.parse((await run(s.fs, ['detect', '--store', store, '--json'])).stdout)
    for (const columns of [undefined, 120]) {
      const text = await run(s.fs, ['detect', '--store', store], columns ? { columns } : undefined)
      expect(text.code).toBe(0)
      for (const line of text.stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(columns ?? 80)
      const squeezed = squeeze(text.stdout)
      expect(squeezed).toContain(squeeze(store))
      for (const layer of doc.layers as { id: string }[]) expect(text.stdout).toContain(layer.id)
      for (const u of doc.unclassified as { path: string }[]) expect(squeezed).toContain(squeeze(escapeName(u.path.slice(store.length + 1))))
    }
  })
})
