import { describe, expect, it } from 'vitest'
import { main } from '../src/cli/main.js'
import type { OutputStream } from '../src/cli/style.js'
import type { FsPort } from '../src/fs/port.js'
import { generateMesosStore } from '../src/families/mesos/testing.js'
import { listTree } from '../src/testing/tree-spec.js'
import { memorySubject, SUBJECTS } from './support/adapters.js'
import { imagesOn, WH_LAYERS } from './support/fixtures.js'
import { Readable } from 'node:stream'
import { importLayerTar } from '../src/tar/import-layer.js'

class Capture implements OutputStream {
  text = ''
  bytes: Buffer[] = []
  constructor(
    readonly isTTY = false,
    readonly columns = 80,
  ) {}
  write(chunk: string | Uint8Array): boolean {
    if (typeof chunk === 'string') this.text += chunk
    else this.bytes.push(Buffer.from(chunk))
    return true
  }
}

async function run(args: string[], fs?: FsPort, tty = false) {
  const stdout = new Capture(tty)
  const stderr = new Capture(false)
  const code = await main(args, { stdout, stderr, env: tty ? { FORCE_COLOR: '1' } : {}, ...(fs ? { fs } : {}) })
  return { code, stdout: stdout.text, stderr: stderr.text, bytes: Buffer.concat(stdout.bytes) }
}

describe('the layerfsck command line', () => {
  it('prints the detected format as one JSON document with a schemaVersion', async () => {
    const { fs } = await memorySubject()
    await generateMesosStore(fs, '/store', { format: '1.1.0', layers: 2 })
    const r = await run(['detect', '--store', '/store', '--json'], fs)
    expect(r.code).toBe(0)
    const doc = JSON.parse(r.stdout)
    expect(doc.schemaVersion).toBe(2)
    expect(doc.family).toBe('mesos')
    expect(doc.format.version).toBe('1.1.0')
    expect(doc.adapter).toBe('memory')
  })

  it('keeps human output within 80 columns, colours and all', async () => {
    const { fs } = await memorySubject()
    await generateMesosStore(fs, '/a-rather-long-path/that/goes/on/and/on/to/the/store', { format: '1.1.0', layers: 30 })
    const r = await run(['detect', '--store', '/a-rather-long-path/that/goes/on/and/on/to/the/store'], fs, true)
    expect(r.code).toBe(0)
    // eslint-disable-next-line no-control-regex
    const plain = r.stdout.replace(/\x1b\[[0-9;]*m/g, '')
    expect(r.stdout).not.toBe(plain)
    for (const line of plain.split('\n')) expect(line.length).toBeLessThanOrEqual(80)
    expect(plain).toMatch(/format\s+mesos-docker 1\.1\.0/)
    expect(plain).toMatch(/and 10 more/)
  })

  it('answers 16 for a usage error: a missing --store, a missing option value or an unknown command', async () => {
    expect((await run(['detect'])).code).toBe(16)
    const noValue = await run(['detect', '--store'])
    expect(noValue.code).toBe(16)
    expect(noValue.stderr).not.toContain('internal error')
    expect((await run(['frobnicate'])).code).toBe(16)
    expect((await run([])).code).toBe(16)
    const r = await run(['detect', '--bogus', 'x', '--store', '/s'])
    expect(r.code).toBe(16)
    expect(r.stderr).toMatch(/Unknown argument/i)
  })

  it('answers 8 for a store that does not exist, with the reason on stderr', async () => {
    const { fs } = await memorySubject()
    const r = await run(['detect', '--store', '/nowhere'], fs)
    expect(r.code).toBe(8)
    expect(r.stderr).toMatch(/store \/nowhere does not exist/)
  })

  for (const subject of SUBJECTS) {
    it(`answers 8 for a store stamped by a newer major format on the ${subject.name} adapter, names both versions and changes nothing`, async () => {
      const s = await subject.make()
      try {
        const store = `${s.root}/store`
        await generateMesosStore(s.fs, store, { format: '1.0.0', layers: 1, backends: ['aufs'] })
        await s.fs.mkdir(`${store}/.layerfsck`)
        const h = await s.fs.openWrite(`${store}/.layerfsck/format.json`)
        await h.write(Buffer.from('{"schemaVersion":1,"family":"mesos-docker","version":"3.1.0","writtenBy":"layerfsck 7.2.0"}'))
        await h.close()
        const before = await listTree(s.fs, s.root, { mtime: true })
        const r = await run(['detect', '--store', store, '--json'], s.fs)
        expect(r.code).toBe(8)
        expect(r.stderr).toMatch(/mesos-docker 3\.1\.0 by layerfsck 7\.2\.0.*up to 1\.x/)
        expect(r.stderr).toMatch(/hint: use layerfsck 7\.2\.0 or newer/)
        expect(JSON.parse(r.stdout).error.code).toBe('LAYERFSCK_FORMAT_TOO_NEW')
        expect(await listTree(s.fs, s.root, { mtime: true })).toBe(before)
      } finally {
        await s.cleanup()
      }
    })
  }

  it('prints help that names every command and the exit codes, and answers 0', async () => {
    const out: string[] = []
    const log = console.log
    console.log = (...a: unknown[]) => void out.push(a.join(' '))
    try {
      expect((await run(['--help'])).code).toBe(0)
    } finally {
      console.log = log
    }
    expect(out.join('\n')).toMatch(/detect/)
    expect(out.join('\n')).toMatch(/16 usage error/)
  })

  it('imports an image and reports each layer as JSON', async () => {
    const { fs } = await memorySubject()
    const images = await imagesOn(fs)
    const r = await run(['import', '--store', '/store', '--backend', 'copy', '--json', `oci:${images}/oci-overlay:wh-delete`], fs)
    expect(r.code).toBe(0)
    const doc = JSON.parse(r.stdout)
    expect(doc.schemaVersion).toBe(2)
    expect(doc.layers.map((l: { id: string; status: string }) => [l.id, l.status])).toEqual([
      [WH_LAYERS[0], 'imported'],
      [WH_LAYERS[1], 'imported'],
    ])
    expect(doc.reference).toBe('wh-delete:latest')
  })

  it('explains that a tag needs a transport when given a missing PATH:TAG', async () => {
    const { fs } = await memorySubject()
    const r = await run(['import', '--store', '/store', '--backend', 'copy', '/nowhere/layout:v1'], fs)
    expect(r.code).toBe(8)
    expect(r.stderr).toContain('oci:DIR:TAG')
  })

  it('exports a layer as a tar on stdout and to a file, refusing a terminal', async () => {
    const { fs } = await memorySubject()
    const images = await imagesOn(fs)
    await run(['import', '--store', '/store', '--backend', 'copy', `oci:${images}/oci-overlay:wh-delete`], fs)
    const piped = await run(['export', '--store', '/store', '--layer', WH_LAYERS[1]], fs)
    expect(piped.code).toBe(0)
    await fs.mkdir('/again', 0o755)
    await importLayerTar(fs, Readable.from([piped.bytes]), '/again', { form: 'aufs' })
    expect(await listTree(fs, '/again')).toBe(await listTree(fs, `/store/layers/${WH_LAYERS[1]}/rootfs`))
    const file = await run(['export', '--store', '/store', '--layer', WH_LAYERS[1], '-o', '/l2.tar'], fs)
    expect(file.code).toBe(0)
    expect((await fs.lstat('/l2.tar'))?.size).toBe(piped.bytes.length)
    const tty = await run(['export', '--store', '/store', '--layer', WH_LAYERS[1]], fs, true)
    expect(tty.code).toBe(16)
  })

  it('checks a store as JSON with every finding and exits with the e2fsck bits', async () => {
    const { fs } = await memorySubject()
    const images = await imagesOn(fs)
    await run(['import', '--store', '/store', '--backend', 'copy', `oci:${images}/oci-overlay:wh-third`], fs)
    const { writeFileAll } = await import('../src/fs/io.js')
    // An empty temp file: what a crash before state::checkpoint's write leaves.
    await writeFileAll(fs, '/store/k3Jd9Q', '')
    const found = await run(['check', '--store', '/store', '--json', '--grace', '0'], fs)
    expect(found.code).toBe(4)
    const doc = JSON.parse(found.stdout)
    expect(doc.schemaVersion).toBe(2)
    expect(doc.passes.map((p: { name: string }) => p.name)).toEqual(['structure', 'contents', 'references', 'containers', 'host'])
    expect(doc.passes[0].findings[0]).toMatchObject({
      code: 'checkpoint-temp',
      severity: 'warning',
      path: '/store/k3Jd9Q',
      fix: { by: 'check', safe: true },
      status: 'open',
    })
    const fixed = await run(['check', '--store', '/store', '-p', '--grace', '0'], fs, true)
    expect(fixed.code).toBe(1)
    const plain = fixed.stdout.replace(/\x1b\[[0-9;]*m/g, '')
    expect(plain).toContain('fixed: remove the temp file')
    expect(Math.max(...plain.split('\n').map((l) => l.length))).toBeLessThanOrEqual(80)
    expect((await run(['check', '--store', '/store'], fs)).code).toBe(0)
  })

  it('refuses two modes at once and an unknown check code as usage errors', async () => {
    const { fs } = await memorySubject()
    await fs.mkdir('/store', 0o755)
    expect((await run(['check', '--store', '/store', '-p', '-y'], fs)).code).toBe(16)
    const unknown = await run(['check', '--store', '/store', '--only', 'nope'], fs)
    expect(unknown.code).toBe(16)
    expect(unknown.stderr).toContain('unknown check code nope')
  })
})
