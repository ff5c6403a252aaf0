/**
 * Whether a dockerd runs on this data root. A daemon on another data root
 * is no reason to refuse, and one whose command line cannot be read is
 * taken to be ours (refusing is the side that loses nothing). The data root
 * comes from `--data-root` (or the old `-g`/`--graph`), else the default;
 * a data-root set only in daemon.json is not seen, so the default there
 * also counts as ours.
 */
import type { FsPort } from '../../fs/port.js'
import { readProcesses } from '../../fs/processes.js'
import { DAEMON_PROCESSES } from './paths.js'

export const DEFAULT_DATA_ROOT = '/var/lib/docker'

export function dataRootOf(argv: readonly string[]): string | undefined {
  let root: string | undefined
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!
    for (const flag of ['--data-root', '--graph', '-g']) {
      if (a === flag && i + 1 < argv.length) root = argv[++i]
      else if (a.startsWith(`${flag}=`)) root = a.slice(flag.length + 1)
    }
  }
  return root
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
    const root = p.argv === undefined ? undefined : (dataRootOf(p.argv) ?? DEFAULT_DATA_ROOT)
    // A relative --data-root is relative to the daemon's cwd, which this cannot know: ours, to be safe.
    if (root === undefined || !root.startsWith('/') || (await real(fs, root)) === mine) out.push({ pid: p.pid, name: p.name })
  }
  return out
}
