/**
 * The seam between the command line and the library: argv, parsed as the
 * CLI parses it, becomes each command's typed options, or a usage error
 * (exit 16) that says what was wrong. One table, every command.
 */
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FAMILY_NAMES, type Args } from '../src/cli/args.js'
import { BACKEND_CHOICES, COMMANDS } from '../src/cli/commands.js'
import { checkOptions } from '../src/cli/commands/check.js'
import { detectOptions } from '../src/cli/commands/detect.js'
import { exportOptions } from '../src/cli/commands/export.js'
import { importOptions } from '../src/cli/commands/import.js'
import { gcOptions } from '../src/cli/commands/gc.js'
import { migrateOptions } from '../src/cli/commands/migrate.js'
import { parseArgs } from '../src/cli/main.js'
import { LayerfsckError } from '../src/errors.js'
import { BACKENDS, FAMILIES } from '../src/index.js'
import { memorySubject } from './support/adapters.js'
import { runCli } from './support/cli.js'

const OPTIONS: Record<string, (args: Args) => unknown> = {
  detect: detectOptions,
  check: checkOptions,
  import: importOptions,
  export: exportOptions,
  migrate: migrateOptions,
  gc: gcOptions,
}

/** argv through yargs, as `main` reads it, then through the command's own options function; nothing runs. */
async function optionsFor(argv: string[]): Promise<unknown> {
  const parsed = await parseArgs(argv)
  if (parsed === undefined) throw new Error(`${argv.join(' ')} printed help instead of naming a command`)
  return OPTIONS[parsed.command.name]!(parsed.args)
}

type Row = [argv: string, expected: Record<string, unknown>] | [argv: string, usageError: { exit16: string }]

const S = ['--store', '/s']
const ROWS: Row[] = [
  // no command, or a name that is none: every command is offered
  ['--store /s', { exit16: 'name a command' }],
  ['chek --store /s', { exit16: 'Did you mean check?' }],
  ['migrat --store /s --to-backend overlay', { exit16: 'Did you mean migrate?' }],
  // detect
  ['detect --store /s', { store: '/s' }],
  ['detect --store rel/store', { store: resolve('rel/store') }],
  ['detect --store /s --work-dir /w --wait 3 --family docker', { store: '/s', workDir: '/w', waitSeconds: 3, family: 'docker' }],
  ['detect --store /s --family mesos --json', { store: '/s', family: 'mesos' }],
  ['detect --store /s --wait=0', { store: '/s', waitSeconds: 0 }],
  ['detect', { exit16: 'Missing required argument: store' }],
  ['detect --store', { exit16: 'Not enough arguments following: store' }],
  ['detect --store /s --family podman', { exit16: 'Invalid values' }],
  ['detect --store /s --wait ten', { exit16: '--wait takes a number of seconds, not "ten"' }],
  ['detect --store /s --wait=-1', { exit16: '--wait takes a number of seconds, not "-1"' }],
  ['detect --store /s --wait=', { exit16: '--wait takes a number of seconds, not ""' }],
  ['detect --store /s --backend aufs', { exit16: 'Unknown argument: backend' }],

  // check
  ['check --store /s', { store: '/s', mode: 'no', only: [], skip: [] }],
  ['check --store /s -n', { store: '/s', mode: 'no', only: [], skip: [] }],
  ['check --store /s -p', { store: '/s', mode: 'preen', only: [], skip: [] }],
  ['check --store /s --preen', { store: '/s', mode: 'preen', only: [], skip: [] }],
  ['check --store /s -y --force', { store: '/s', mode: 'yes', force: true, only: [], skip: [] }],
  ['check --store /s -p -y', { exit16: 'choose one of -n, -p and -y' }],
  ['check --store /s -n --yes', { exit16: 'choose one of -n, -p and -y' }],
  ['check --store /s -py', { exit16: 'choose one of -n, -p and -y' }],
  ['check --store /s --only orphan-mount,staging-leftover --skip host-no-dtype', { store: '/s', mode: 'no', only: ['orphan-mount', 'staging-leftover'], skip: ['host-no-dtype'] }],
  ['check --store /s --only " orphan-mount, ,,staging-leftover " --skip ,', { store: '/s', mode: 'no', only: ['orphan-mount', 'staging-leftover'], skip: [] }],
  ['check --store /s --only orphan-mount,nope', { exit16: 'unknown check code nope' }],
  ['check --store /s --skip typo-code', { exit16: 'unknown check code typo-code' }],
  ['check --store /s --only', { exit16: 'Not enough arguments following: only' }],
  ['check --store /s --wait 2.5', { store: '/s', mode: 'no', waitSeconds: 2.5, only: [], skip: [] }],
  ['check --store /s --wait soon', { exit16: '--wait takes a number of seconds, not "soon"' }],
  ['check --store /s --wait', { exit16: 'Not enough arguments following: wait' }],
  ['check --store /s --backend aufs', { store: '/s', mode: 'no', backend: 'aufs', only: [], skip: [] }],
  ['check --store /s --backend zfs', { exit16: 'Invalid values' }],
  ['check --store /s --family docker', { store: '/s', family: 'docker', mode: 'no', only: [], skip: [] }],
  ['check --store /s --grace 30m', { store: '/s', mode: 'no', graceMs: 1_800_000, only: [], skip: [] }],
  ['check --store /s --grace soon', { exit16: '--grace takes a duration such as 90s, 30m, 1h or 2d, not "soon"' }],
  ['check --store /s --family lxc', { exit16: 'Invalid values' }],
  [
    'check --store /s --work-dir /w --runtime-dir /r --known-containers ids.txt',
    { store: '/s', mode: 'no', only: [], skip: [], workDir: '/w', runtimeDir: '/r', knownContainers: resolve('ids.txt') },
  ],
  ['check --store /s --json -p', { store: '/s', mode: 'preen', only: [], skip: [] }],
  ['check --store /s --bogus', { exit16: 'Unknown argument: bogus' }],

  // import
  ['import --store /s --backend copy --json oci:/img:v1', { store: '/s', backend: 'copy', image: 'oci:/img:v1', createStore: true, allowDevices: false }],
  [
    'import --store /s --backend aufs docker-archive:app.tar --reference app:2 --allow-devices --force --wait 1',
    { store: '/s', backend: 'aufs', image: `docker-archive:${resolve('app.tar')}`, createStore: true, waitSeconds: 1, force: true, allowDevices: true, reference: 'app:2' },
  ],
  ['import --store /s --backend overlay layout', { store: '/s', backend: 'overlay', image: resolve('layout'), createStore: true, allowDevices: false }],
  ['import --store /s oci:/img:v1', { exit16: 'Missing required argument: backend' }],
  ['import --store /s --backend zfs oci:/img:v1', { exit16: 'Invalid values' }],
  ['import --store /s --backend copy', { exit16: 'Not enough non-option arguments' }],
  ['import --store /s --backend copy --family mesos oci:/img:v1', { exit16: 'Unknown argument: family' }],

  // export
  ['export --store /s --layer abc', { store: '/s', layer: 'abc', allowIncomplete: false }],
  ['export --store /s --layer abc -o -', { store: '/s', layer: 'abc', allowIncomplete: false }],
  ['export --store /s --layer abc -o out.tar --json', { store: '/s', layer: 'abc', output: resolve('out.tar'), allowIncomplete: false }],
  [
    'export --store /s --layer abc --output /t.tar --backend overlay --family mesos --allow-incomplete --wait 0',
    { store: '/s', layer: 'abc', family: 'mesos', backend: 'overlay', output: '/t.tar', allowIncomplete: true, waitSeconds: 0 },
  ],
  ['export --store /s --layer abc --json', { exit16: '--json needs -o FILE' }],
  ['export --store /s --layer abc -o - --json', { exit16: '--json needs -o FILE' }],
  ['export --store /s', { exit16: 'Missing required argument: layer' }],
  ['export --store /s --layer abc --backend zfs', { exit16: 'Invalid values' }],
  ['export --store /s --layer abc --force', { exit16: 'Unknown argument: force' }],

  // gc
  ['gc --store /s', { store: '/s', pruneLayers: false, dryRun: false, yes: false }],
  [
    'gc --store rel/s --family mesos --work-dir /w --runtime-dir /r --known-containers k --grace 2h --prune-layers --dry-run --yes --json --wait 1 --force',
    { store: resolve('rel/s'), family: 'mesos', workDir: '/w', runtimeDir: '/r', knownContainers: resolve('k'), graceMs: 7_200_000, pruneLayers: true, dryRun: true, yes: true, waitSeconds: 1, force: true },
  ],
  ['gc --store /s -y --grace 0', { store: '/s', pruneLayers: false, dryRun: false, yes: true, graceMs: 0 }],
  ['gc --store /s --grace 90', { store: '/s', pruneLayers: false, dryRun: false, yes: false, graceMs: 90_000 }],
  ['gc --store /s --grace 1.5d', { store: '/s', pruneLayers: false, dryRun: false, yes: false, graceMs: 129_600_000 }],
  ['gc --store /s --grace -1h', { exit16: '--grace takes a duration such as 90s, 30m, 1h or 2d, not "-1h"' }],
  ['gc --store /s --grace', { exit16: 'Not enough arguments following: grace' }],
  ['gc --store /s --backend aufs', { exit16: 'Unknown argument: backend' }],
  ['gc', { exit16: 'Missing required argument: store' }],

  // migrate
  ['migrate --store /s --to-backend overlay', { store: '/s', toBackend: 'overlay', strategy: 'convert', copy: false, pruneSource: false, dryRun: false }],
  [
    'migrate --store rel/store --work-dir /w --to-backend aufs --to-format 1.5.0 --copy --prune-source --dry-run --json --wait 2 --force',
    { store: resolve('rel/store'), toBackend: 'aufs', strategy: 'convert', copy: true, pruneSource: true, dryRun: true, waitSeconds: 2, force: true, workDir: '/w', toFormat: '1.5.0' },
  ],
  ['migrate --store /s --to-backend copy --strategy ignore', { store: '/s', toBackend: 'copy', strategy: 'ignore', copy: false, pruneSource: false, dryRun: false }],
  ['migrate --store /s --to-backend bind --strategy convert', { store: '/s', toBackend: 'bind', strategy: 'convert', copy: false, pruneSource: false, dryRun: false }],
  ['migrate --store /s', { exit16: 'Missing required argument: to-backend' }],
  ['migrate --to-backend overlay', { exit16: 'Missing required argument: store' }],
  ['migrate --store /s --to-backend zfs', { exit16: 'Invalid values' }],
  ['migrate --store /s --to-backend overlay --strategy both', { exit16: 'Invalid values' }],
  ['migrate --store /s --to-backend overlay --to-format 2.0', { exit16: '--to-format 2.0 is no Mesos store format this build knows' }],
  ['migrate --store /s --to-backend overlay --to-format', { exit16: 'Not enough arguments following: to-format' }],
  ['migrate --store /s --to-backend overlay --strategy ignore --copy', { exit16: '--copy changes how layers are converted; --strategy ignore converts none' }],
  ['migrate --store /s --to-backend overlay --strategy ignore --prune-source --json', { exit16: '--prune-source changes how layers are converted' }],
  ['migrate --store /s --to-backend overlay --wait soon', { exit16: '--wait takes a number of seconds, not "soon"' }],
  ['migrate --store /s --to-backend overlay --family mesos', { exit16: 'Unknown argument: family' }],
  ['migrate --store /s --to-backend copy --backend overlay', { exit16: 'Unknown argument: backend' }],
]

/** argv as a shell splits it: words, with "double quotes" holding spaces and commas. */
const split = (line: string): string[] => [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!)

describe('argv to typed options', () => {
  it('splits the table rows as a shell would', () => {
    expect(split('check --only " a, b" x')).toEqual(['check', '--only', ' a, b', 'x'])
    expect(split('detect --store /s').slice(1)).toEqual(S)
  })

  for (const [line, expected] of ROWS) {
    if ('exit16' in expected) {
      it(`refuses \`${line}\` as a usage error (exit 16) naming what is wrong`, async () => {
        const err = await optionsFor(split(line)).then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(err).toBeInstanceOf(LayerfsckError)
        expect((err as LayerfsckError).exitCode).toBe(16)
        expect((err as LayerfsckError).message).toContain(expected.exit16)
        // The same through main: exit 16, the reason on stderr, and on stdout only the error document --json asks for.
        const { fs } = await memorySubject()
        const r = await runCli(fs, split(line))
        expect(r.code).toBe(16)
        expect(r.stderr).toContain(expected.exit16)
        if (split(line).includes('--json')) expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'LAYERFSCK_USAGE', exitCode: 16 })
        else expect(r.stdout).toBe('')
      })
    } else {
      it(`reads \`${line}\` as ${JSON.stringify(expected)}`, async () => {
        expect(await optionsFor(split(line))).toStrictEqual(expected)
      })
    }
  }

  it('has a row for every option of every command', () => {
    for (const spec of COMMANDS) {
      const rows = ROWS.filter(([line]) => line.startsWith(`${spec.name} `) || line === spec.name).map(([line]) => line)
      for (const option of Object.keys(spec.options)) {
        const alias = spec.options[option]!.alias
        const flags = [`--${option}`, ...(option.length === 1 ? [`-${option}`] : []), ...(alias !== undefined ? [`-${alias}`] : [])]
        const used = rows.some((line) => split(line).some((w) => flags.includes(w) || w.startsWith(`--${option}=`)))
        expect(used, `${spec.name} --${option}`).toBe(true)
      }
    }
  })

  it('offers --family on detect, check and export, with the families this build has (import and migrate are Mesos only)', () => {
    expect([...FAMILY_NAMES].sort()).toEqual(FAMILIES.map((f) => f.name).sort())
    for (const spec of COMMANDS) {
      const family = spec.options['family']
      if (spec.name === 'import' || spec.name === 'migrate') expect(family).toBeUndefined()
      else expect(family).toMatchObject({ choices: FAMILY_NAMES, describe: 'the store family; detected from the store when left out' })
    }
  })

  it('offers exactly the Mesos backends as --backend choices', () => {
    expect([...BACKEND_CHOICES].sort()).toEqual([...BACKENDS].sort())
  })

  it('prints help and names no command for --help', async () => {
    const log = console.log
    console.log = () => undefined
    try {
      expect(await parseArgs(['check', '--help'])).toBeUndefined()
    } finally {
      console.log = log
    }
  })
})
