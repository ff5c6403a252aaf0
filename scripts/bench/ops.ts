/**
 * The operations the benchmark times, each as a set of contenders (the
 * layerfsck command and its references) run in alternating order every
 * round, with what each run must have done checked after it (untimed), and
 * the pairs whose per-round ratios are reported.
 */
import { fileURLToPath } from 'node:url'
import type { FsPort } from '../../src/fs/port.js'
import { layerDir } from '../../src/families/mesos/paths.js'
import { rootfsDirFor } from '../../src/families/mesos/descriptor.js'
import { latestMesosFormat } from '../../src/families/mesos/formats/index.js'
import { DOCKER_ORPHANS, WHITEOUTS_PER_LAYER, type Fixtures } from './fixtures.js'
import { check, countEntries, lastJson, q, sh, shell, warm, type Sample } from './run.js'

export const OPERATIONS = ['check', 'detect', 'import', 'export', 'migrate', 'gc', 'gc-docker', 'startup'] as const
export type Operation = (typeof OPERATIONS)[number]
/** Operations that write or remove a whole tree per run: they run min(--rounds, --heavy-rounds) rounds. */
export const HEAVY: readonly Operation[] = ['import', 'export', 'migrate', 'gc', 'gc-docker']
/**
 * Names --only takes besides the operations' own: `gc` is every gc row (the
 * Mesos op keeps the name `gc` in the JSON, as in earlier results), and
 * `gc-mesos` the Mesos one alone.
 */
export const SELECTORS: Readonly<Record<string, readonly Operation[]>> = { gc: ['gc', 'gc-docker'], 'gc-mesos': ['gc'] }

/** The operations --only's names select, in OPERATIONS order; throws on a name that is neither an operation nor a selector. */
export function selectOperations(names: readonly string[]): Operation[] {
  const chosen = new Set<Operation>()
  for (const name of names) {
    const ops = SELECTORS[name] ?? ((OPERATIONS as readonly string[]).includes(name) ? [name as Operation] : undefined)
    if (ops === undefined) throw new Error(`--only: unknown operation ${name}`)
    for (const op of ops) chosen.add(op)
  }
  return OPERATIONS.filter((op) => chosen.has(op))
}

export interface Contender {
  id: string
  side: 'layerfsck' | 'reference'
  /** How the table names it. */
  label: string
  argv: string[]
  stdout: 'pipe' | 'null'
  /** Untimed, before each run: puts the tree in the state the run starts from. */
  before?: () => Promise<void> | void
  /** Untimed, after each run: throws unless the run did its work. */
  verify: (s: Sample) => Promise<void> | void
  after?: () => Promise<void> | void
}

export interface Row {
  name: string
  a: string
  b: string
}

export interface Comparison {
  op: Operation
  /** What the entries/s column counts. */
  entries: number
  contenders: Contender[]
  rows: Row[]
}

const BIN = fileURLToPath(new URL('../../../bin/layerfsck.js', import.meta.url))
const NODE = process.execPath
const layerfsck = (...args: string[]): string[] => [NODE, BIN, ...args]

const kilo = (n: number): string => (n >= 1e6 ? `${+(n / 1e6).toFixed(1)}M` : `${Math.round(n / 1000)}k`)

function findingCodes(stdout: string): string[] {
  const report = JSON.parse(stdout) as { passes?: { findings?: { code: string }[] }[] }
  return (report.passes ?? []).flatMap((p) => (p.findings ?? []).map((f) => f.code))
}

const exited = (s: Sample, what: string, ...codes: number[]): void =>
  check(codes.includes(s.status ?? -1), `${what} exited ${s.status}, expected ${codes.join(' or ')}: ${s.stderr.slice(-1500)}`)

/** The find references check and detect are held to. */
function findReferences(store: string): Contender[] {
  return [
    {
      id: 'find',
      side: 'reference',
      label: "find -printf ''",
      argv: ['find', store, '-printf', ''],
      stdout: 'null',
      verify: (s) => exited(s, 'find', 0),
    },
    {
      id: 'find-stat',
      side: 'reference',
      label: "find -printf '%s %m %i\\n' >/dev/null",
      argv: ['find', store, '-printf', '%s %m %i\n'],
      stdout: 'null',
      verify: (s) => exited(s, 'find', 0),
    },
  ]
}

export async function buildComparison(op: Operation, f: Fixtures, fs: FsPort): Promise<Comparison | { skipped: string }> {
  switch (op) {
    case 'check': {
      const s = await f.mainStore()
      warm(s.store, 'tree')
      const a: Contender = {
        id: 'check',
        side: 'layerfsck',
        label: 'check -n',
        argv: layerfsck('check', '--store', s.store, '-n', '--grace', '0', '--json'),
        stdout: 'pipe',
        verify: (x) => {
          exited(x, 'check -n', 4)
          const codes = findingCodes(x.stdout)
          for (const code of s.planted) check(codes.includes(code), `check -n did not report the planted ${code} (found: ${codes.join(', ')})`)
        },
      }
      return {
        op,
        entries: s.entries,
        contenders: [a, ...findReferences(s.store)],
        rows: [
          { name: `check -n, ${kilo(s.entries)}-entry store`, a: 'check', b: 'find' },
          { name: `check -n, ${kilo(s.entries)}-entry store`, a: 'check', b: 'find-stat' },
        ],
      }
    }
    case 'detect': {
      const s = await f.mainStore()
      warm(s.store, 'tree')
      const a: Contender = {
        id: 'detect',
        side: 'layerfsck',
        label: 'detect',
        argv: layerfsck('detect', '--store', s.store, '--json'),
        stdout: 'pipe',
        verify: (x) => {
          const report = JSON.parse(x.stdout) as { family?: string; layers?: unknown[] }
          check(report.family === 'mesos', `detect said family ${report.family}`)
          check(report.layers?.length === s.layerIds.length, `detect listed ${report.layers?.length} layers, not ${s.layerIds.length}`)
        },
      }
      return {
        op,
        entries: s.entries,
        contenders: [a, ...findReferences(s.store)],
        rows: [
          { name: `detect, ${kilo(s.entries)}-entry store`, a: 'detect', b: 'find' },
          { name: `detect, ${kilo(s.entries)}-entry store`, a: 'detect', b: 'find-stat' },
        ],
      }
    }
    case 'import': {
      const b = await f.bigLayer()
      warm(b.tar, 'file')
      const target = `${f.root}/import-store`
      const extracted = `${f.root}/import-tar`
      const variant = rootfsDirFor(latestMesosFormat(), f.backend).dir
      const layerId = b.digest
      return {
        op,
        entries: b.entries,
        contenders: [
          {
            id: 'import',
            side: 'layerfsck',
            label: 'import',
            argv: layerfsck('import', '--store', target, '--backend', f.backend, '--json', b.image),
            stdout: 'pipe',
            before: () => void shell(`rm -rf ${q(target)}`),
            verify: (x) => {
              exited(x, 'import', 0)
              const report = JSON.parse(x.stdout) as { layers?: { id: string; status: string }[] }
              check(report.layers?.[0]?.id === layerId && report.layers[0].status === 'imported', `import reported ${JSON.stringify(report.layers)}`)
              const n = countEntries(`${layerDir(target, layerId)}/${variant}`)
              check(n === b.entries, `the imported layer has ${n} entries, the tar's tree ${b.entries}`)
            },
            after: () => void shell(`rm -rf ${q(target)}`),
          },
          {
            id: 'tar-x',
            side: 'reference',
            label: 'tar -xf && sync -f',
            argv: ['sh', '-c', `tar -xf ${q(b.tar)} -C ${q(extracted)} && sync -f ${q(extracted)}`],
            stdout: 'null',
            before: () => void shell(`rm -rf ${q(extracted)} && mkdir ${q(extracted)}`),
            verify: (x) => {
              exited(x, 'tar -xf', 0)
              const n = countEntries(extracted)
              check(n === b.entries, `tar -xf made ${n} entries, the tree has ${b.entries}`)
            },
            after: () => void shell(`rm -rf ${q(extracted)}`),
          },
        ],
        rows: [{ name: `import, one ${kilo(b.entries)}-file layer`, a: 'import', b: 'tar-x' }],
      }
    }
    case 'export': {
      const b = await f.bigLayer()
      warm(b.tree, 'tree')
      const out = `${f.root}/export.tar`
      // Both write the tar to a file through stdout: layerfsck's -o would also fsync it, tar -cf does not.
      const listed = (): number => sh(['tar', '-tf', out]).split('\n').filter((l) => l !== '').length
      return {
        op,
        entries: b.entries,
        contenders: [
          {
            id: 'export',
            side: 'layerfsck',
            label: 'export > file',
            argv: ['sh', '-c', `exec ${q(NODE)} ${q(BIN)} export --store ${q(b.store)} --layer ${b.layerId} > ${q(out)}`],
            stdout: 'null',
            verify: (x) => {
              exited(x, 'export', 0)
              const n = listed()
              check(Math.abs(n - b.entries) <= 1, `the exported tar lists ${n} entries, the layer has ${b.entries}`)
            },
            after: () => void shell(`rm -f ${q(out)}`),
          },
          {
            id: 'tar-c',
            side: 'reference',
            label: 'tar -cf - > file',
            argv: ['sh', '-c', `exec tar -cf - -C ${q(b.tree)} . > ${q(out)}`],
            stdout: 'null',
            verify: (x) => {
              exited(x, 'tar -cf', 0)
              const n = listed()
              check(n === b.entries, `tar -cf listed ${n} entries, the tree has ${b.entries}`)
            },
            after: () => void shell(`rm -f ${q(out)}`),
          },
        ],
        rows: [{ name: `export, one ${kilo(b.entries)}-entry layer`, a: 'export', b: 'tar-c' }],
      }
    }
    case 'migrate': {
      if (!f.isRoot) return { skipped: 'migrate --to-backend overlay needs root (mknod of whiteout devices)' }
      const a = await f.aufsStore()
      // Every run of either side starts from a store just restored from its tar (and warmed): a restore leaves
      // the filesystem in another state than the generator does (inode order, the trees it just removed), and
      // a first-round migrate on the generated store was the fastest round of every run, while cp -al always
      // ran on a restored one.
      const fresh = async (): Promise<void> => {
        await f.restoreAufsStore(a)
        warm(a.store, 'tree')
      }
      const linked = `${a.store}/.bench-linked`
      const overlayVariant = rootfsDirFor(latestMesosFormat(), 'overlay').dir
      return {
        op,
        entries: a.entries,
        contenders: [
          {
            id: 'migrate',
            side: 'layerfsck',
            label: 'migrate --to-backend overlay',
            argv: layerfsck('migrate', '--store', a.store, '--to-backend', 'overlay', '--json'),
            stdout: 'pipe',
            before: fresh,
            verify: (x) => {
              exited(x, 'migrate', 0)
              const report = lastJson(x.stdout) as { totals?: { converted?: number; copiedBytes?: number } }
              check(report.totals?.converted === a.layers, `migrate converted ${report.totals?.converted} layers, not ${a.layers}`)
              check(report.totals?.copiedBytes === 0, `migrate copied ${report.totals?.copiedBytes} bytes of file data`)
              const variants = countEntries(`${a.store}/layers`, '-mindepth', '2', '-maxdepth', '2', '-name', overlayVariant, '-type', 'd')
              check(variants === a.layers, `${variants} layers have ${overlayVariant}, not ${a.layers}`)
              const devices = countEntries(`${a.store}/layers`, '-type', 'c')
              const expected = (a.layers - 1) * WHITEOUTS_PER_LAYER
              check(devices === expected, `the migrated store has ${devices} whiteout devices, not ${expected}`)
            },
          },
          {
            id: 'cp-al',
            side: 'reference',
            label: 'cp -al && sync -f',
            argv: ['sh', '-c', `cp -al ${q(`${a.store}/layers`)} ${q(linked)} && sync -f ${q(a.store)}`],
            stdout: 'null',
            before: fresh,
            verify: (x) => {
              exited(x, 'cp -al', 0)
              const n = countEntries(linked)
              const source = countEntries(`${a.store}/layers`)
              check(n === source, `cp -al linked ${n} entries of ${source}`)
            },
            after: () => void shell(`rm -rf ${q(linked)}`),
          },
        ],
        rows: [{ name: `migrate to overlay (hard links), ${kilo(a.entries)}-entry store`, a: 'migrate', b: 'cp-al' }],
      }
    }
    case 'gc': {
      const a = await f.aufsStore()
      const w = await f.gcWork()
      const refBase = `${f.root}/gc-ref`
      const refTree = `${refBase}/${w.container.slice(w.container.lastIndexOf('/') + 1)}`
      const refRootfs = `${refTree}${w.rootfs.slice(w.container.length)}`
      let built = false
      const rebuild = async (): Promise<void> => {
        if (!built) await f.rebuildContainer(w, a)
        built = true
      }
      await rebuild()
      const entries = countEntries(w.container)
      warm(w.workDir, 'tree')
      return {
        op,
        entries,
        contenders: [
          {
            id: 'gc',
            side: 'layerfsck',
            label: 'gc --yes',
            argv: layerfsck(
              'gc',
              '--store', w.store,
              '--work-dir', w.workDir,
              '--runtime-dir', w.runtimeDir,
              '--known-containers', w.knownContainers,
              '--yes', '--json',
            ),
            stdout: 'pipe',
            before: rebuild,
            verify: async (x) => {
              built = false
              exited(x, 'gc --yes', 0)
              const report = lastJson(x.stdout) as { totals?: { collected?: number; left?: number } }
              check(report.totals?.collected === 1 && report.totals.left === 0, `gc reported ${JSON.stringify(report.totals)}`)
              check((await fs.lstat(w.container)) === undefined, `gc left ${w.container}`)
            },
          },
          {
            id: 'rm',
            side: 'reference',
            label: 'rm -rf',
            argv: ['rm', '-rf', refTree],
            stdout: 'null',
            before: () =>
              void shell(
                `rm -rf ${q(refBase)} && mkdir ${q(refBase)} && tar -xf ${q(w.skeletonTar)} -C ${q(refBase)} && ` +
                  `tar -xf ${q(a.tar)} -C ${q(refRootfs)}`,
              ),
            verify: async (x) => {
              exited(x, 'rm -rf', 0)
              check((await fs.lstat(refTree)) === undefined, `rm -rf left ${refTree}`)
            },
          },
        ],
        rows: [{ name: `gc of a dead container, ${kilo(entries)} entries`, a: 'gc', b: 'rm' }],
      }
    }
    case 'gc-docker': {
      if (!f.isRoot) return { skipped: 'the Docker data root needs root (0/0 whiteout devices, trusted.overlay.* xattrs)' }
      const d = await f.dockerOrphans()
      const refTree = `${f.root}/gc-docker-ref/overlay2`
      const checkArgv = layerfsck('check', '--store', d.store, '-n', '--grace', '0', '--json', '--known-containers', d.knownContainers)
      /** check -n's findings on the data root, as `code path`. */
      const findings = (): string[] => {
        // 4 when it reports anything.
        const report = JSON.parse(sh(checkArgv, 'check -n', [0, 4])) as { passes?: { findings?: { code: string; path: string }[] }[] }
        return (report.passes ?? []).flatMap((p) => (p.findings ?? []).map((x) => `${x.code} ${x.path}`)).sort()
      }
      // The fixture is what it claims once, before any timing: the orphans and nothing else are what check reports.
      const planted = findings()
      const expected = d.dirs.map((dir) => `docker-layer-dir-orphan ${dir}`).sort()
      check(JSON.stringify(planted) === JSON.stringify(expected), `check -n of the planted data root reported ${planted.join('; ')}`)
      let dirty = false
      const fresh = async (): Promise<void> => {
        if (dirty) await f.restoreDockerOrphans(d)
        dirty = false
      }
      warm(d.store, 'tree')
      return {
        op,
        entries: d.entries,
        contenders: [
          {
            id: 'gc-docker',
            side: 'layerfsck',
            label: 'gc --yes',
            // --grace 0: the orphans were written minutes ago; gc sizes and ages them the same whatever the grace.
            argv: layerfsck('gc', '--store', d.store, '--known-containers', d.knownContainers, '--grace', '0', '--yes', '--json'),
            stdout: 'pipe',
            before: fresh,
            verify: async (x) => {
              dirty = true
              exited(x, 'gc --yes', 0)
              const report = lastJson(x.stdout) as {
                family?: string
                items?: { code: string; path: string; status: string }[]
                totals?: { items?: number; collected?: number; left?: number }
              }
              check(report.family === 'docker', `gc read the data root as ${report.family}`)
              check(
                report.totals?.items === DOCKER_ORPHANS && report.totals.collected === DOCKER_ORPHANS && report.totals.left === 0,
                `gc reported ${JSON.stringify(report.totals)}, not ${DOCKER_ORPHANS} collected`,
              )
              const items = (report.items ?? []).map((i) => `${i.code} ${i.path} ${i.status}`).sort()
              check(
                JSON.stringify(items) === JSON.stringify(d.dirs.map((dir) => `docker-layer-dir-orphan ${dir} collected`).sort()),
                `gc collected ${items.join('; ')}`,
              )
              for (const p of [...d.dirs, ...d.links]) check((await fs.lstat(p)) === undefined, `gc left ${p}`)
              const drv = `${d.store}/overlay2`
              const dirs = (await fs.readdir(drv)).filter((e) => e.name !== 'l').length
              const links = (await fs.readdir(`${drv}/l`)).length
              check(
                dirs === d.realDirs && links === d.realLinks,
                `overlay2/ holds ${dirs} layer dirs and ${links} short links after gc, not the real ${d.realDirs} and ${d.realLinks}`,
              )
              const after = findings()
              check(after.length === 0, `check -n after gc reported ${after.join('; ')}`)
            },
          },
          {
            id: 'rm-docker',
            side: 'reference',
            label: 'rm -rf',
            argv: ['rm', '-rf', refTree],
            stdout: 'null',
            before: () => f.extractDockerOrphans(d, refTree),
            verify: async (x) => {
              exited(x, 'rm -rf', 0)
              check((await fs.lstat(refTree)) === undefined, `rm -rf left ${refTree}`)
            },
          },
        ],
        rows: [{ name: `gc of Docker orphan dirs, ${kilo(d.entries)} entries`, a: 'gc-docker', b: 'rm-docker' }],
      }
    }
    case 'startup': {
      const s = await f.smallStore()
      warm(s.store, 'tree')
      return {
        op,
        entries: s.entries,
        contenders: [
          {
            id: 'version',
            side: 'layerfsck',
            label: '--version',
            argv: layerfsck('--version'),
            stdout: 'pipe',
            verify: (x) => {
              exited(x, '--version', 0)
              check(/^\d+\.\d+\.\d+/.test(x.stdout.trim()), `--version printed ${JSON.stringify(x.stdout)}`)
            },
          },
          {
            id: 'check-1',
            side: 'layerfsck',
            label: 'check -n (1 layer)',
            argv: layerfsck('check', '--store', s.store, '-n', '--grace', '0', '--json'),
            stdout: 'pipe',
            verify: (x) => {
              exited(x, 'check -n', 4)
              const codes = findingCodes(x.stdout)
              for (const code of s.planted) check(codes.includes(code), `check -n did not report the planted ${code}`)
            },
          },
          { id: 'node', side: 'reference', label: 'node -e 0', argv: [NODE, '-e', '0'], stdout: 'null', verify: (x) => exited(x, 'node', 0) },
        ],
        rows: [
          { name: 'startup: --version', a: 'version', b: 'node' },
          { name: `startup: check -n of a 1-layer store (${kilo(s.entries)} entries)`, a: 'check-1', b: 'node' },
        ],
      }
    }
  }
}
