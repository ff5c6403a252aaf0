/**
 * The command registry: every `layerfsck` command in one list (changesets'
 * style). A command declares its options as data and loads its code lazily,
 * so `layerfsck --help` does not import the whole library, and command
 * modules never see the argument parser. It names no family's directories:
 * help describes each family in words an operator knows from its own docs.
 */
import type { FsPort } from '../fs/port.js'
import { FAMILY_NAMES, type Args } from './args.js'
import type { OutputStream, Style } from './style.js'

export interface OptionSpec {
  /** `number`: "10" reaches the command as 10, but "ten" or "" as given (never NaN or 0), so the command can say what was wrong. */
  type: 'string' | 'boolean' | 'number'
  describe: string
  alias?: string
  demandOption?: boolean
  default?: string | boolean
  choices?: readonly string[]
}

export interface CommandContext {
  /** Aborted at the first Ctrl-C: a changing command stops between steps and cleans up after itself. */
  signal?: AbortSignal
  /** Asks the operator on the terminal (gc's "collect these?"); absent without one. */
  ask?: (question: string) => Promise<string>
  fs: FsPort
  stdout: OutputStream
  stderr: OutputStream
  /** Style for stdout (reports); stderr gets its own for progress. */
  style: Style
  errStyle: Style
}

export interface PositionalSpec {
  describe: string
  /** Shown in the usage line as `<name>`; always required. */
  type: 'string'
}

export interface CommandSpec {
  name: string
  positionals?: Record<string, PositionalSpec>
  describe: string
  /** Shown under --help: what the command reads, writes and returns (one paragraph; yargs wraps it). */
  details: string
  options: Record<string, OptionSpec>
  /** [command line, what it does]; help shows the purpose, then the command on a line of its own, so keep each within 76 columns. */
  examples: [string, string][]
  run(args: Args, ctx: CommandContext): Promise<number>
}

/** Every command that takes the store lock. */
const LOCK_OPTIONS: Record<string, OptionSpec> = {
  wait: { type: 'number', describe: 'SECONDS to wait while another layerfsck holds the store lock; then exit 8 naming its pid [default: 10]' },
}

/** Every command that may change a store. */
const CHANGE_OPTIONS: Record<string, OptionSpec> = {
  ...LOCK_OPTIONS,
  force: {
    type: 'boolean',
    describe:
      "change the store even while the store's daemon runs on this host: a process named mesos-agent, mesos-slave or dockerd " +
      '(/proc/<pid>/comm). Without --force, check -p, check -y, import, migrate and gc --yes exit 8 if one runs',
    default: false,
  },
}

/** The Mesos backends; a test holds this list equal to the family's. */
export const BACKEND_CHOICES = ['overlay', 'aufs', 'copy', 'bind'] as const

const STORE: OptionSpec = {
  type: 'string',
  describe: 'the store: a Mesos docker store (--docker_store_dir) or a Docker data root (/var/lib/docker)',
  demandOption: true,
}

const FAMILY: OptionSpec = { type: 'string', describe: 'the store family; detected from the store when left out', choices: FAMILY_NAMES }

const RUNTIME_DIR: OptionSpec = {
  type: 'string',
  describe: "where the runtime says what runs: the Mesos agent's runtime dir or dockerd's --exec-root [default: /var/run/mesos, /var/run/docker]",
}

const KNOWN_CONTAINERS: OptionSpec = { type: 'string', describe: 'FILE with the live container ids, one a line (parent/child when nested)' }

const GRACE: OptionSpec = {
  type: 'string',
  describe: 'DURATION a leftover must be untouched before it is garbage (a pull may be writing it): 90s, 30m, 1h, 2d, 0 [default: 1h]',
}

const JSON_OPTION: OptionSpec = { type: 'boolean', describe: 'print the report as one JSON document (with its schemaVersion) instead of text', default: false }

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'detect',
    describe: 'Tell which family and format version a store is in, and what it holds',
    details:
      'Reads the store (and the Mesos agent work dir when --work-dir is given) and reports its family ' +
      '(a Mesos docker store or a Docker data root) and format version with the evidence for them, ' +
      'the layers and what each is laid out for, the images, the containers and their mounts, and ' +
      'every entry it cannot classify. A directory is taken for a store only on evidence its ' +
      'family defines (layers laid out as the family lays them, image records that decode, a ' +
      'layerfsck stamp); anything else exits 8 and says what it looks like instead (empty, a ' +
      'containers/storage graphroot, a storage driver layerfsck does not read, ...). Changes nothing.',
    options: {
      store: STORE,
      family: FAMILY,
      'work-dir': { type: 'string', describe: 'the Mesos agent work dir (--work_dir); its containers are read too' },
      json: JSON_OPTION,
      ...LOCK_OPTIONS,
    },
    examples: [
      ['layerfsck detect --store /tmp/mesos/store/docker', 'the default Mesos store location'],
      ['layerfsck detect --store /var/lib/docker', 'a Docker data root, its daemon stopped'],
      ['layerfsck detect --store S --work-dir /var/lib/mesos --json', "a store and the agent's containers, as JSON"],
    ],
    run: async (args, ctx) => (await import('./commands/detect.js')).runDetect(args, ctx),
  },
  {
    name: 'check',
    describe: 'Check a Mesos or Docker store, e2fsck-style, and fix what is safe',
    details:
      'Runs its passes in order: store structure (what belongs at each level, leftovers of ' +
      'interrupted writers), layer contents (every file; whiteouts in the form the layer is ' +
      'read in), references (image and layer records naming what they need), containers and ' +
      'mounts (orphan mounts, missing lower layers, what this host cannot mount), and the host ' +
      'filesystem. -n (the default) changes nothing; -p applies only fixes that are safe ' +
      'unattended; -y applies every fix check knows. Each finding has a stable code (docs/checks.md). ' +
      'Exit status is a bitmask: 1 corrected, 4 left uncorrected, 8 operational error.',
    options: {
      store: STORE,
      family: FAMILY,
      'work-dir': { type: 'string', describe: 'the Mesos agent work dir; its containers and mounts are checked too' },
      'runtime-dir': RUNTIME_DIR,
      'known-containers': KNOWN_CONTAINERS,
      grace: GRACE,
      backend: { type: 'string', describe: 'the Mesos backend references are checked for [default: detected]', choices: BACKEND_CHOICES },
      // No default shown: "[default: false]" beside "the default" reads as a contradiction.
      n: { type: 'boolean', describe: 'change nothing (the default)' },
      preen: { type: 'boolean', alias: 'p', describe: 'apply the fixes that are safe unattended', default: false },
      yes: { type: 'boolean', alias: 'y', describe: 'apply every fix, including unmounts and staging removal', default: false },
      only: { type: 'string', describe: 'run only these check codes (comma-separated)' },
      skip: { type: 'string', describe: 'skip these check codes (comma-separated)' },
      json: JSON_OPTION,
      ...CHANGE_OPTIONS,
    },
    examples: [
      ['layerfsck check --store /tmp/mesos/store/docker --work-dir /var/lib/mesos', 'before an upgrade: report only'],
      ['layerfsck check --store S --work-dir W -p', 'after a crash: apply the safe fixes'],
      ['layerfsck check --store /var/lib/docker', 'a Docker data root, dockerd stopped: report only'],
    ],
    run: async (args, ctx) => (await import('./commands/check.js')).runCheckCommand(args, ctx),
  },
  {
    name: 'gc',
    describe: 'Remove exactly the garbage crashes leave in a store, offline, and say what it frees',
    details:
      'Plans first: every item with why it is garbage (the rule check uses, so check -n after gc finds nothing gc ' +
      'would take), the disk space removing it really frees (each inode once, hard links shared with what stays ' +
      'count nothing, no mount crossed) and what it pins. Mesos: containers that are not live (their mounts ' +
      'unmounted children first, their links temp dirs), mounts nothing owns, staging dirs and checkpoint temp ' +
      'files older than --grace, gc/ entries, layerfsck\'s own leftovers; with --prune-layers, layers no image and ' +
      'no live container uses. Docker (dockerd stopped): layer dirs nothing names, -removing records, write-set ' +
      'leftovers, dangling l/ links, stale merged mounts. Then, with --yes (or a yes at the terminal), collects ' +
      'it through the step engine: each dir is renamed out of the way before it is deleted, busy ones are retried ' +
      'and left for the next run, and a crash anywhere is finished by running gc again. Without a source of ' +
      'liveness nothing live-dependent is taken. Exit status: 0 done or nothing to do, 4 items left behind (each ' +
      'with its reason), 8 operational error, 16 usage, 32 cancelled.',
    options: {
      store: STORE,
      family: FAMILY,
      'work-dir': { type: 'string', describe: 'the Mesos agent work dir; the containers it left and their mounts are collected too' },
      'runtime-dir': RUNTIME_DIR,
      'known-containers': KNOWN_CONTAINERS,
      grace: GRACE,
      'prune-layers': { type: 'boolean', describe: 'also remove layers that no image and no live container uses (Mesos\' image prune)', default: false },
      'dry-run': { type: 'boolean', describe: 'print the plan; change nothing', default: false },
      yes: { type: 'boolean', alias: 'y', describe: 'collect what is planned without asking', default: false },
      json: { type: 'boolean', describe: 'print the plan and each collected item as JSON lines, then the report as the last line', default: false },
      ...CHANGE_OPTIONS,
    },
    examples: [
      ['layerfsck gc --store S --work-dir W --runtime-dir /var/run/mesos', 'what gc would take'],
      ['layerfsck gc --store S --work-dir W --runtime-dir R --yes --prune-layers', 'after a crash, agent stopped'],
      ['layerfsck gc --store /var/lib/docker --yes', 'a Docker data root, dockerd stopped'],
    ],
    run: async (args, ctx) => (await import('./commands/gc.js')).runGcCommand(args, ctx),
  },
  {
    name: 'import',
    positionals: {
      image: { type: 'string', describe: '[oci:|oci-archive:|docker-archive:]PATH[:TAG], as skopeo writes it' },
    },
    describe: 'Import an image into a Mesos docker store, laid out as Mesos pulls it',
    details:
      'Reads an OCI image layout dir, an oci-archive tar or a docker save archive, and ' +
      'writes each layer under layers/<id>/ in the directory and whiteout form the store\'s ' +
      'format version gives the backend. Layers are built under staging/ and renamed into ' +
      'place when whole and verified against their digests; a layer already there is reused. ' +
      'The image is then recorded in the store\'s image list. Tar entries that would write ' +
      'outside a layer are refused. Creates the store if it does not exist.',
    options: {
      store: { type: 'string', describe: 'the Mesos docker store (--docker_store_dir)', demandOption: true },
      backend: { type: 'string', describe: 'the Mesos backend the layers are for', demandOption: true, choices: BACKEND_CHOICES },
      reference: { type: 'string', describe: 'record the image as NAME[:TAG] instead of the name the source gives' },
      'allow-devices': { type: 'boolean', describe: 'create char and block devices found in layers', default: false },
      json: JSON_OPTION,
      ...CHANGE_OPTIONS,
    },
    examples: [
      ['layerfsck import --store /tmp/mesos/store/docker --backend aufs oci:dir:app', 'the tag app of the OCI layout in dir'],
      ['layerfsck import --store S --backend copy app.docker-archive.tar', 'a docker save archive (kind detected)'],
    ],
    run: async (args, ctx) => (await import('./commands/import.js')).runImport(args, ctx),
  },
  {
    name: 'export',
    describe: 'Write one layer of a store as an OCI layer tar (aufs-form whiteouts)',
    details:
      'Writes the layer in the form registries carry whichever form it is stored in: ' +
      'whiteouts as .wh.<name> entries, opaque directories followed by their ' +
      '.wh..wh..opq marker, hard links as link entries, xattrs as PAX records (overlay\'s own ' +
      'left out), in a fixed order. Output goes to stdout when it is not a terminal, or to ' +
      'FILE: written to a temp name beside it and renamed over it, so an existing regular file ' +
      'there is replaced (as tar -f does), but never a directory, symlink, device, fifo or ' +
      'socket, and never a path inside the store. Changes nothing in the store.',
    options: {
      store: STORE,
      family: FAMILY,
      layer: { type: 'string', describe: 'a Mesos layer id or a Docker chain id: 64 hex digits or sha256:<64 hex>', demandOption: true },
      backend: { type: 'string', describe: 'read the variant this Mesos backend uses (default: whichever the layer has)', choices: BACKEND_CHOICES },
      output: { type: 'string', alias: 'o', describe: 'write the tar to FILE instead of stdout; replaces FILE if it is a regular file' },
      'allow-incomplete': {
        type: 'boolean',
        describe: 'export an overlay-form layer even without CAP_SYS_ADMIN, whose opaque markers (trusted.* xattrs) it cannot read; warns',
        default: false,
      },
      json: { type: 'boolean', describe: 'with -o, print one JSON document about the tar instead of text', default: false },
      ...LOCK_OPTIONS,
    },
    examples: [
      ['layerfsck export --store S --layer sha256:0a3c… -o layer.tar', 'one layer to a file'],
      ['layerfsck export --store S --layer sha256:0a3c… | tar -tvf -', 'list it'],
      ['layerfsck export --store S --layer sha256:0a3c… -o layer.tar --json', 'to a file, counts as JSON'],
    ],
    run: async (args, ctx) => (await import('./commands/export.js')).runExport(args, ctx),
  },
  {
    name: 'migrate',
    describe: 'Move a Mesos docker store to another backend (and a newer format) without pulling images again',
    details:
      'For every layer that lacks the tree the target backend reads in the target format, builds it from the ' +
      'tree the layer has: regular files hard-linked (--copy copies them), everything else made anew with its ' +
      'modes, owners, times and xattrs, and whiteouts converted between the aufs form (.wh. files) and the ' +
      'overlay form (0/0 devices, opaque xattrs). Each new tree is built under staging/, compared with its ' +
      'source entry by entry, made durable and renamed into place; a mismatch keeps the layer as it was (exit 4). ' +
      'Then the format steps up to --to-format run and the store is stamped, last. A preflight refuses before ' +
      'any change when the target cannot work here (no overlay in the kernel, no d_type, not root; exit 8). ' +
      '--strategy ignore changes nothing and says per image what the agent will pull again. Containers made ' +
      'under another backend are listed (the agent must be stopped to remove them). Crash-safe: a re-run after ' +
      'a kill or a power cut continues where it stopped. Exit status: 0 done or nothing to do, 4 a layer left ' +
      'as it was, 8 operational error or a preflight blocker.',
    options: {
      store: { type: 'string', describe: 'the Mesos docker store (--docker_store_dir)', demandOption: true },
      'work-dir': { type: 'string', describe: "the Mesos agent work dir; containers made under another backend are listed" },
      'to-backend': { type: 'string', describe: 'the backend the agent will run with', demandOption: true, choices: BACKEND_CHOICES },
      strategy: {
        type: 'string',
        describe: 'convert: build the missing trees; ignore: change nothing, report what the agent pulls again',
        choices: ['convert', 'ignore'],
        default: 'convert',
      },
      'to-format': { type: 'string', describe: 'the Mesos store format VERSION to move to [default: the newest this build knows]' },
      copy: { type: 'boolean', describe: 'copy file data instead of hard-linking it (needs the space)', default: false },
      'prune-source': {
        type: 'boolean',
        describe: 'remove, once a layer has its new tree, the trees the target backend does not read (without it, migrating back is instant)',
        default: false,
      },
      'dry-run': { type: 'boolean', describe: 'print the plan and the preflight per layer; change nothing', default: false },
      json: { type: 'boolean', describe: 'print progress events as JSON lines, then the report as the last line', default: false },
      ...CHANGE_OPTIONS,
    },
    examples: [
      ['layerfsck migrate --store S --to-backend overlay --dry-run', 'what moving to overlay would do'],
      ['layerfsck migrate --store S --work-dir /var/lib/mesos --to-backend overlay', 'convert, agent stopped'],
      ['layerfsck migrate --store S --to-backend overlay --strategy ignore', 'what the agent would pull again'],
    ],
    run: async (args, ctx) => (await import('./commands/migrate.js')).runMigrate(args, ctx),
  },
]
