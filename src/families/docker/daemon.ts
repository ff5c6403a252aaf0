/**
 * Whether a dockerd runs on this data root. A daemon on another data root
 * is no reason to refuse, and one whose data root cannot be told is taken
 * to be ours (refusing is the side that loses nothing). The data root comes
 * from `--data-root` (or the old `-g`/`--graph`), else from its config file
 * (`--config-file`, /etc/docker/daemon.json by default: `data-root`, or the
 * old `graph`), read as the daemon sees it (through /proc/<pid>/root), else
 * the default.
 */
import { isErrno } from '../../errors.js'
import { readTextLimited } from '../../fs/io.js'
import type { FsPort } from '../../fs/port.js'
import { DEFAULT_PROC_ROOT, readProcesses } from '../../fs/processes.js'
import { DAEMON_PROCESSES } from './paths.js'

export const DEFAULT_DATA_ROOT = '/var/lib/docker'
export const DEFAULT_DAEMON_CONFIG = '/etc/docker/daemon.json'

function flag(argv: readonly string[], names: readonly string[]): string | undefined {
  let value: string | undefined
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!
    for (const name of names) {
      if (a === name && i + 1 < argv.length) value = argv[++i]
      else if (a.startsWith(`${name}=`)) value = a.slice(name.length + 1)
    }
  }
  return value
}

/**
 * The data root a dockerd with this argv uses, or undefined when it cannot
 * be told (a relative path, a config file that is there but unreadable or
 * not JSON).
 */
async function dataRootOfDaemon(fs: FsPort, argv: readonly string[], pid: number, procRoot: string): Promise<string | undefined> {
  const given = dataRootOf(argv)
  if (given !== undefined) return given.startsWith('/') ? given : undefined
  const config = flag(argv, ['--config-file']) ?? DEFAULT_DAEMON_CONFIG
  if (!config.startsWith('/')) return undefined
  let text: string
  try {
    text = await readTextLimited(fs, `${procRoot}/${pid}/root${config}`, 1024 * 1024)
  } catch (err) {
    // No config file is dockerd's own default; anything else leaves the data root unknown.
    return isErrno(err, 'ENOENT') ? DEFAULT_DATA_ROOT : undefined
  }
  try {
    const o = JSON.parse(text) as Record<string, unknown>
    const root = o['data-root'] ?? o['graph']
    if (root === undefined) return DEFAULT_DATA_ROOT
    return typeof root === 'string' && root.startsWith('/') ? root : undefined
  } catch {
    return undefined
  }
}

/** The data root a dockerd's command line names, if it names one. */
export function dataRootOf(argv: readonly string[]): string | undefined {
  return flag(argv, ['--data-root', '--graph', '-g'])
}

async function real(fs: FsPort, path: string): Promise<string> {
  return fs.realpath(path).catch(() => path)
}

export async function daemonsOn(fs: FsPort, store: string, procRoot: string | undefined): Promise<{ pid: number; name: string }[]> {
  const mine = await real(fs, store)
  const out: { pid: number; name: string }[] = []
  const processes = await readProcesses(fs, { ...(procRoot !== undefined ? { procRoot } : {}), names: true, argvOf: DAEMON_PROCESSES })
  for (const p of processes) {
    if (p.name === undefined || !DAEMON_PROCESSES.includes(p.name)) continue
    const root = p.argv === undefined ? undefined : await dataRootOfDaemon(fs, p.argv, p.pid, procRoot ?? DEFAULT_PROC_ROOT)
    if (root === undefined || (await real(fs, root)) === mine) out.push({ pid: p.pid, name: p.name })
  }
  return out
}
