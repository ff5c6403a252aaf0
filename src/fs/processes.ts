/**
 * The processes of this host, as /proc shows them, read through the port so
 * that tests fake a /proc tree in memory. One walk of `<procRoot>/<pid>`
 * answers what callers ask of a process: its name (`comm`: a guard refuses
 * to change a store while a program that uses it runs) and the directories
 * it stands in (`root`, `cwd`: a mount a process uses is live).
 *
 * A process that exits, or hides, between the listing and the look is
 * skipped, never an error. A proc root that does not exist lists no process
 * (the memory adapter has none unless a test builds one; on Linux the mount
 * table comes from /proc too, so a host without it fails earlier). Any other
 * error reading the listing is thrown: a guard that could not look must not
 * answer "nothing runs".
 */
import { isErrno } from '../errors.js'
import { readTextLimited } from './io.js'
import type { DevNo, FsPort, Inode } from './port.js'

export const DEFAULT_PROC_ROOT = '/proc'

/** A directory a process stands in: its root or its working directory. */
export interface ProcessUse {
  pid: number
  as: 'root' | 'cwd'
  /** The link as it reads, without the kernel's ` (deleted)` suffix. */
  path: string
  /** The directory it leads to, when it could be looked at. */
  dev: DevNo | undefined
  ino: bigint | undefined
}

export interface ProcessInfo {
  pid: number
  /** `comm`, trailing newline removed; undefined when not asked for or gone. */
  name: string | undefined
  /** Its cwd and root, those that could be read; empty when not asked for. */
  uses: ProcessUse[]
  /** Its argv (`cmdline`, NUL-separated); undefined when not asked for or gone. */
  argv?: string[]
}

export interface ReadProcessesOptions {
  procRoot?: string
  /** Read each process's `comm`. */
  names?: boolean
  /** Read each process's `root` and `cwd` links and the directories they lead to. */
  uses?: boolean
  /** Read the argv of processes whose `comm` is one of these (needs `names`). */
  argvOf?: readonly string[]
}

/** What a process gone or hidden between the listing and the look answers. */
const RACES = ['ENOENT', 'ESRCH', 'EACCES', 'EPERM', 'ENOTDIR', 'EINVAL']
const COMM_LIMIT = 4096

/** Every process under the proc root, in pid order, with what `options` asks for. */
export async function readProcesses(fs: FsPort, options: ReadProcessesOptions = {}): Promise<ProcessInfo[]> {
  const procRoot = options.procRoot ?? DEFAULT_PROC_ROOT
  let entries
  try {
    entries = await fs.readdir(procRoot)
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return []
    throw err
  }
  const out: ProcessInfo[] = []
  for (const e of entries) {
    if (!/^\d+$/.test(e.name)) continue
    const pid = Number(e.name)
    const dir = `${procRoot}/${e.name}`
    const name = options.names ? await readComm(fs, dir) : undefined
    const info: ProcessInfo = { pid, name, uses: options.uses ? await readUses(fs, dir, pid) : [] }
    if (name !== undefined && options.argvOf?.includes(name)) {
      const argv = await readArgv(fs, dir)
      if (argv !== undefined) info.argv = argv
    }
    out.push(info)
  }
  return out.sort((a, b) => a.pid - b.pid)
}

async function readComm(fs: FsPort, dir: string): Promise<string | undefined> {
  try {
    return (await readTextLimited(fs, `${dir}/comm`, COMM_LIMIT)).replace(/\n$/, '')
  } catch (err) {
    if (isErrno(err, ...RACES)) return undefined
    throw err
  }
}

async function readArgv(fs: FsPort, dir: string): Promise<string[] | undefined> {
  try {
    const text = await readTextLimited(fs, `${dir}/cmdline`, 256 * 1024)
    return text.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1)
  } catch (err) {
    if (isErrno(err, ...RACES)) return undefined
    throw err
  }
}

async function readUses(fs: FsPort, dir: string, pid: number): Promise<ProcessUse[]> {
  const uses: ProcessUse[] = []
  for (const as of ['cwd', 'root'] as const) {
    const link = `${dir}/${as}`
    let path: string
    try {
      path = (await fs.readlink(link)).replace(/ \(deleted\)$/, '')
    } catch (err) {
      if (isErrno(err, ...RACES)) continue
      throw err
    }
    // `link/.` resolves the link as a directory on the way, as the kernel does for /proc's magic links.
    let inode: Inode | undefined
    try {
      inode = await fs.lstat(`${link}/.`)
    } catch (err) {
      if (!isErrno(err, ...RACES)) throw err
    }
    uses.push({ pid, as, path, dev: inode?.dev, ino: inode?.ino })
  }
  return uses
}

/** The running processes whose `comm` is one of `names`, in pid order. */
export async function findProcesses(fs: FsPort, names: readonly string[], procRoot = DEFAULT_PROC_ROOT): Promise<{ pid: number; name: string }[]> {
  if (names.length === 0) return []
  const wanted = new Set(names)
  const found: { pid: number; name: string }[] = []
  for (const p of await readProcesses(fs, { procRoot, names: true })) {
    if (p.name !== undefined && wanted.has(p.name)) found.push({ pid: p.pid, name: p.name })
  }
  return found
}

/** Every process's cwd and root, in pid order. */
export async function readProcessUses(fs: FsPort, procRoot = DEFAULT_PROC_ROOT): Promise<ProcessUse[]> {
  return (await readProcesses(fs, { procRoot, uses: true })).flatMap((p) => p.uses)
}
