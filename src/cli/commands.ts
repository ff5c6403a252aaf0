/**
 * The command registry: every `layerfsck` command in one list (changesets'
 * style). A command declares its options as data and loads its code lazily,
 * so `layerfsck --help` does not import the whole library, and command
 * modules never see the argument parser.
 */
import type { FsPort } from '../fs/port.js'
import type { OutputStream, Style } from './style.js'

export interface OptionSpec {
  type: 'string' | 'boolean'
  describe: string
  alias?: string
  demandOption?: boolean
  default?: string | boolean
}

export interface CommandContext {
  fs: FsPort
  stdout: OutputStream
  stderr: OutputStream
  /** Style for stdout (reports); stderr gets its own for progress. */
  style: Style
  errStyle: Style
}

export interface CommandSpec {
  name: string
  describe: string
  /** Shown under --help: what the command reads, writes and returns (one paragraph; yargs wraps it). */
  details: string
  options: Record<string, OptionSpec>
  examples: [string, string][]
  run(args: Record<string, unknown>, ctx: CommandContext): Promise<number>
}

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'detect',
    describe: 'Tell which store format a Mesos docker store is in, and what it holds',
    details:
      'Reads the store (and the provisioner dir when --work-dir is given) and reports the ' +
      'format version with the evidence for it, which backends each layer is present for, ' +
      'counts of layers, images, containers and rootfses, and every entry it cannot ' +
      'classify. Changes nothing.',
    options: {
      store: { type: 'string', describe: 'the Mesos docker store (--docker_store_dir)', demandOption: true },
      'work-dir': { type: 'string', describe: 'the agent work dir (--work_dir); its provisioner/ is read too' },
      json: { type: 'boolean', describe: 'print one JSON document (schemaVersion 1) instead of text', default: false },
    },
    examples: [
      ['layerfsck detect --store /tmp/mesos/store/docker', 'the default Mesos store location'],
      ['layerfsck detect --store S --work-dir /var/lib/mesos/agent --json', 'store and provisioner, as JSON'],
    ],
    run: async (args, ctx) => (await import('./commands/detect.js')).runDetect(args, ctx),
  },
]
