/**
 * What the command line prints when something goes wrong, and what --help
 * tells a new user: error lines no file name can forge, --json read as yargs
 * reads it, one error document shape for every command, and help that
 * carries the exit codes and readable examples.
 */
import { describe, expect, it } from 'vitest'
import { COMMANDS } from '../src/cli/commands.js'
import { argvWantsJson } from '../src/cli/main.js'
import { errnoError, LayerfsckError } from '../src/errors.js'
import type { FsPort } from '../src/fs/port.js'
import { generateMesosStore } from '../src/families/mesos/testing.js'
import { memorySubject, SUBJECTS } from './support/adapters.js'
import { runCli } from './support/cli.js'

/** The port with realpath (the first call every command makes) replaced. */
function realpathThrows(fs: FsPort, err: unknown): FsPort {
  return new Proxy(fs, {
    get(target, prop, receiver) {
      if (prop === 'realpath') return async () => Promise.reject(err)
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
}

const FORGED = 'x\nlayerfsck: error: forged\nhint: forged too'

/** Every stderr line is one the CLI wrote itself: an error line, a hint, or an indented stack frame. */
function expectOnlyOwnLines(stderr: string): void {
  const lines = stderr.replace(/\n$/, '').split('\n')
  expect(lines.filter((l) => l.startsWith('layerfsck: error:'))).toHaveLength(1)
  expect(lines.filter((l) => l.startsWith('hint:')).length).toBeLessThanOrEqual(1)
  for (const line of lines) expect(line).toMatch(/^(layerfsck: error: |hint: | {4}at )/)
  expect(stderr).not.toMatch(/^layerfsck: error: forged/m)
  expect(stderr).not.toMatch(/^hint: forged/m)
}

describe('error lines on stderr', () => {
  it('escape a newline in a store path so it cannot forge a line', async () => {
    const { fs } = await memorySubject()
    const r = await runCli(fs, ['check', '--store', `/${FORGED}`])
    expect(r.code).toBe(8)
    expectOnlyOwnLines(r.stderr)
    expect(r.stderr).toContain('/x\\nlayerfsck: error: forged\\nhint: forged too does not exist')
  })

  it('escape a raw path inside an errno message, and the hint too', async () => {
    const { fs } = await memorySubject()
    const errno = await runCli(realpathThrows(fs, errnoError('EIO', 'realpath', `/${FORGED}`)), ['detect', '--store', '/s'])
    expect(errno.code).toBe(8)
    expectOnlyOwnLines(errno.stderr)
    expect(errno.stderr).toContain("EIO: i/o error, realpath '/x\\nlayerfsck: error: forged\\nhint: forged too'")
    const hinted = await runCli(realpathThrows(fs, new LayerfsckError('TEST', 'plain message', { hint: `try ${FORGED}` })), ['detect', '--store', '/s'])
    expectOnlyOwnLines(hinted.stderr)
    expect(hinted.stderr).toContain('hint: try x\\nlayerfsck: error: forged')
  })

  it('do not escape twice a message that already escaped its names', async () => {
    const { fs } = await memorySubject()
    await fs.mkdir('/a\nb', 0o755)
    await fs.mkdir('/a\nb/stuff', 0o755)
    const r = await runCli(fs, ['check', '--store', '/a\nb'])
    expect(r.code).toBe(8)
    expect(r.stderr).toContain('/a\\nb is not a store layerfsck reads')
    expect(r.stderr).not.toContain('\\\\n')
  })

  it('keep an internal error\'s stack one frame a line, its message escaped onto the first', async () => {
    const { fs } = await memorySubject()
    const r = await runCli(realpathThrows(fs, new TypeError(`cannot read ${FORGED}`)), ['detect', '--store', '/s'])
    expect(r.code).toBe(8)
    expectOnlyOwnLines(r.stderr)
    const lines = r.stderr.split('\n')
    expect(lines[0]).toBe('layerfsck: error: internal error: TypeError: cannot read x\\nlayerfsck: error: forged\\nhint: forged too')
    expect(lines.filter((l) => l.startsWith('    at ')).length).toBeGreaterThan(0)
    expect(r.stderr).toMatch(/^hint: this is a bug in layerfsck/m)
  })
})

describe('--json', () => {
  it('is read from argv as yargs reads a boolean flag, for errors before a command runs', () => {
    expect(argvWantsJson(['check', '--json'])).toBe(true)
    expect(argvWantsJson(['check', '--json=true'])).toBe(true)
    expect(argvWantsJson(['check', '--json', 'true'])).toBe(true)
    expect(argvWantsJson(['check', '--json=false'])).toBe(false)
    expect(argvWantsJson(['check', '--json', 'false'])).toBe(false)
    expect(argvWantsJson(['check', '--json', '--no-json'])).toBe(false)
    expect(argvWantsJson(['check', '--', '--json'])).toBe(false)
    expect(argvWantsJson(['check', '--jsonx'])).toBe(false)
  })

  it('prints an error document for --json=true and none for --json=false', async () => {
    const { fs } = await memorySubject()
    const yes = await runCli(fs, ['detect', '--store', '/nowhere', '--json=true'])
    expect(yes.code).toBe(8)
    expect(JSON.parse(yes.stdout).error).toMatchObject({ code: 'LAYERFSCK_ROOT_MISSING', exitCode: 8 })
    const no = await runCli(fs, ['detect', '--store', '/nowhere', '--json=false'])
    expect(no.code).toBe(8)
    expect(no.stdout).toBe('')
    const usage = await runCli(fs, ['check', '--bogus', '--json=true'])
    expect(usage.code).toBe(16)
    expect(JSON.parse(usage.stdout).error.exitCode).toBe(16)
  })

  for (const subject of SUBJECTS) {
    it(`gives a not-a-store error document its path and what the directory looks like, for every command, on the ${subject.name} adapter`, async () => {
      const s = await subject.make()
      try {
        const dir = `${s.root}/not-a-store`
        await s.fs.mkdir(dir, 0o755)
        await s.fs.mkdir(`${dir}/overlay-layers`, 0o755)
        const h = await s.fs.openWrite(`${dir}/overlay-layers/layers.json`)
        await h.write(Buffer.from('[]'))
        await h.close()
        await (await s.fs.openWrite(`${dir}/storage.lock`)).close()
        const runs: [string, string[]][] = [
          ['detect', ['detect', '--store', dir, '--json']],
          ['check', ['check', '--store', dir, '--json']],
          ['check -p', ['check', '--store', dir, '-p', '--json']],
          ['export', ['export', '--store', dir, '--layer', 'a'.repeat(64), '-o', `${s.root}/l.tar`, '--json']],
          ['import', ['import', '--store', dir, '--backend', 'copy', '--json', `oci:${s.root}/nowhere:tag`]],
        ]
        for (const [what, args] of runs) {
          const r = await runCli(s.fs, args)
          expect(r.code, what).toBe(8)
          const doc = JSON.parse(r.stdout)
          expect(doc.schemaVersion, what).toBe(1)
          expect(doc.error, what).toMatchObject({ code: 'LAYERFSCK_NOT_A_STORE', exitCode: 8, path: dir, looksLike: { kind: 'containers-storage' } })
        }
        expect((await s.fs.readdir(s.root)).map((e) => e.name)).toEqual(['not-a-store'])
      } finally {
        await s.cleanup()
      }
    })
  }
})

describe('--wait', () => {
  it('takes SECONDS and answers anything else as a usage error (16) naming what it got', async () => {
    const { fs } = await memorySubject()
    await generateMesosStore(fs, '/store', { format: '1.1.0', layers: 1 })
    for (const bad of ['abc', '', '-1', '1s']) {
      const r = await runCli(fs, ['detect', '--store', '/store', '--wait', bad])
      expect(r.code, JSON.stringify(bad)).toBe(16)
      expect(r.stderr).toContain(`--wait takes a number of seconds, not ${JSON.stringify(bad)}`)
    }
    const missing = await runCli(fs, ['detect', '--store', '/store', '--wait'])
    expect(missing.code).toBe(16)
    expect(missing.stderr).toBe('layerfsck: error: Not enough arguments following: wait\nhint: run `layerfsck <command> --help` for the options\n')
    expect((await runCli(fs, ['detect', '--store', '/store', '--wait', '0'])).code).toBe(0)
    expect((await runCli(fs, ['detect', '--store', '/store', '--wait=2.5'])).code).toBe(0)
  })
})

async function help(args: string[]): Promise<string> {
  const out: string[] = []
  const log = console.log
  console.log = (...a: unknown[]) => void out.push(a.join(' '))
  try {
    const { fs } = await memorySubject()
    expect((await runCli(fs, args)).code).toBe(0)
  } finally {
    console.log = log
  }
  return out.join('\n')
}

describe('--help', () => {
  for (const spec of COMMANDS) {
    it(`for ${spec.name} names the exit codes, fits 80 columns and shows each example on a line of its own`, async () => {
      const text = await help([spec.name, '--help'])
      expect(text).toContain('Exit codes: 0 clean')
      expect(text).toContain('16 usage error')
      for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80)
      const lines = text.split('\n').map((l) => l.trim())
      for (const [cmd, purpose] of spec.examples) {
        expect(lines, cmd).toContain(cmd)
        expect(lines).toContain(`# ${purpose}`)
      }
      if ('wait' in spec.options) {
        expect(text).toMatch(/--wait\s+SECONDS to wait/)
        expect(text).not.toMatch(/--wait[^\n]*\n?[^\n]*\[string\]/)
      }
    })
  }

  it('for check shows no default beside "-n change nothing (the default)"', async () => {
    const text = await help(['check', '--help'])
    const line = text.split('\n').find((l) => /^\s*-n\s/.test(l))
    expect(line).toMatch(/change nothing \(the default\)/)
    expect(line).not.toContain('[default')
  })

  it("for --force says how the store's daemon is found and what happens without it", async () => {
    const text = (await help(['import', '--help'])).replace(/\s+/g, ' ')
    expect(text).toContain('a process named mesos-agent, mesos-slave or dockerd')
    expect(text).toContain('Without --force, check -p, check -y, import, migrate and gc --yes exit 8 if one runs')
  })

  it('for export says an existing regular file is replaced and what is refused', async () => {
    const text = (await help(['export', '--help'])).replace(/\s+/g, ' ')
    expect(text).toContain('an existing regular file there is replaced (as tar -f does)')
    expect(text).toContain('never a directory, symlink, device, fifo or socket, and never a path inside the store')
  })
})
