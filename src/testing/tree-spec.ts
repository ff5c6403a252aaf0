/**
 * Tree specs: filesystem trees as text, because git cannot hold char
 * devices, xattrs or hard-link identity (umoci makes the same move with
 * mtree). One entry per line:
 *
 *   # comment
 *   <path> <type> [mode=0644] [uid=0] [gid=0] [key=value ...]
 *
 * type: file dir symlink char block fifo link (a hard link to `target`)
 * keys: content=<text>  target=<path>  rdev=<major>:<minor>  mtime=<ns>
 *       xattr.<name>=<value>  size=<n> sha256=<hex> (describe output only)
 * Values are bare tokens, JSON strings ("a b\n"), or hex:<bytes> for binary.
 * Paths are relative to the root the spec is materialized under; `.` is the
 * root itself. Missing parent directories are created with mode 0755.
 */
import { createHash } from 'node:crypto'
import { LayerfsckError } from '../errors.js'
import { makeDirs, readFileLimited } from '../fs/io.js'
import { createLike } from '../layer/clone.js'
import type { DevNo, FsPort, InodeKind } from '../fs/port.js'
import { inodeKey } from '../fs/port.js'
import { checkRelative, dirname } from '../fs/safe-path.js'
import { walkTree } from '../fs/walk.js'

export type SpecType = InodeKind | 'link'

export interface TreeEntry {
  path: string
  type: SpecType
  mode?: number
  uid?: number
  gid?: number
  content?: Uint8Array
  target?: string
  rdev?: DevNo
  mtimeNs?: bigint
  xattrs?: Record<string, Uint8Array>
  /** Only in describe output, when content is summarized. */
  size?: number
  sha256?: string
}

const TYPES: readonly SpecType[] = ['file', 'dir', 'symlink', 'char', 'block', 'fifo', 'socket', 'link']

export const DEFAULT_MODES: Readonly<Record<SpecType, number>> = {
  file: 0o644,
  dir: 0o755,
  symlink: 0o777,
  char: 0o000,
  block: 0o600,
  fifo: 0o644,
  socket: 0o755,
  link: 0o644,
}

// --- values ----------------------------------------------------------------

const PRINTABLE = /^[\x21-\x7e]*$/

function encodeValue(bytes: Uint8Array): string {
  const text = Buffer.from(bytes).toString('utf8')
  const roundTrips = Buffer.compare(Buffer.from(text, 'utf8'), Buffer.from(bytes)) === 0
  if (!roundTrips || /[\x00-\x08\x0b-\x1f\x7f]/.test(text)) return `hex:${Buffer.from(bytes).toString('hex')}`
  if (text !== '' && PRINTABLE.test(text) && !text.startsWith('"') && !text.startsWith('hex:')) return text
  return JSON.stringify(text)
}

function decodeValue(raw: string): Uint8Array {
  if (raw.startsWith('hex:')) return new Uint8Array(Buffer.from(raw.slice(4), 'hex'))
  if (raw.startsWith('"')) return new Uint8Array(Buffer.from(JSON.parse(raw) as string, 'utf8'))
  return new Uint8Array(Buffer.from(raw, 'utf8'))
}

/** Splits a line into tokens; a token may hold a JSON string after `=`. */
function tokenize(line: string, lineNo: number): string[] {
  const tokens: string[] = []
  let i = 0
  while (i < line.length) {
    while (line[i] === ' ' || line[i] === '\t') i++
    if (i >= line.length) break
    let token = ''
    while (i < line.length && line[i] !== ' ' && line[i] !== '\t') {
      if (line[i] === '"') {
        let j = i + 1
        while (j < line.length && line[j] !== '"') j += line[j] === '\\' ? 2 : 1
        if (j >= line.length) throw new LayerfsckError('TREE_SPEC', `line ${lineNo}: unterminated string`)
        token += line.slice(i, j + 1)
        i = j + 1
      } else token += line[i++]
    }
    tokens.push(token)
  }
  return tokens
}

// --- parse and format --------------------------------------------------------

export function parseTreeSpec(text: string): TreeEntry[] {
  const entries: TreeEntry[] = []
  text.split('\n').forEach((rawLine, index) => {
    const lineNo = index + 1
    const line = rawLine.trim()
    if (line === '' || line.startsWith('#')) return
    const [rawPath, type, ...rest] = tokenize(line, lineNo)
    if (rawPath === undefined || type === undefined) throw new LayerfsckError('TREE_SPEC', `line ${lineNo}: expected "<path> <type>"`)
    if (!(TYPES as readonly string[]).includes(type)) throw new LayerfsckError('TREE_SPEC', `line ${lineNo}: unknown type ${type}`)
    const path = rawPath.startsWith('"') ? (JSON.parse(rawPath) as string) : rawPath
    if (path !== '.') {
      const checked = checkRelative(path)
      if (!checked.ok) throw new LayerfsckError('TREE_SPEC', `line ${lineNo}: path ${path} ${checked.reason}`)
    }
    const entry: TreeEntry = { path, type: type as SpecType }
    for (const token of rest) {
      const eq = token.indexOf('=')
      if (eq <= 0) throw new LayerfsckError('TREE_SPEC', `line ${lineNo}: expected key=value, got ${token}`)
      const key = token.slice(0, eq)
      const value = token.slice(eq + 1)
      if (key === 'mode') entry.mode = parseInt(value, 8)
      else if (key === 'uid') entry.uid = Number(value)
      else if (key === 'gid') entry.gid = Number(value)
      else if (key === 'content') entry.content = decodeValue(value)
      else if (key === 'target') entry.target = Buffer.from(decodeValue(value)).toString('utf8')
      else if (key === 'mtime') entry.mtimeNs = BigInt(value)
      else if (key === 'size') entry.size = Number(value)
      else if (key === 'sha256') entry.sha256 = value
      else if (key === 'rdev') {
        const m = /^(\d+):(\d+)$/.exec(value)
        if (!m) throw new LayerfsckError('TREE_SPEC', `line ${lineNo}: rdev must be major:minor`)
        entry.rdev = { major: Number(m[1]), minor: Number(m[2]) }
      } else if (key.startsWith('xattr.')) {
        entry.xattrs = { ...(entry.xattrs ?? {}), [key.slice(6)]: decodeValue(value) }
      } else throw new LayerfsckError('TREE_SPEC', `line ${lineNo}: unknown key ${key}`)
    }
    if (Number.isNaN(entry.mode)) throw new LayerfsckError('TREE_SPEC', `line ${lineNo}: mode must be octal`)
    entries.push(entry)
  })
  return entries
}

export function formatTreeSpec(entries: readonly TreeEntry[]): string {
  const lines = entries.map((e) => {
    const parts = [PRINTABLE.test(e.path) && e.path !== '' ? e.path : JSON.stringify(e.path), e.type]
    if (e.type !== 'link') {
      parts.push(`mode=${(e.mode ?? DEFAULT_MODES[e.type]).toString(8).padStart(4, '0')}`)
      parts.push(`uid=${e.uid ?? 0}`, `gid=${e.gid ?? 0}`)
    }
    if (e.rdev) parts.push(`rdev=${e.rdev.major}:${e.rdev.minor}`)
    if (e.target !== undefined) parts.push(`target=${encodeValue(Buffer.from(e.target))}`)
    if (e.content !== undefined) parts.push(`content=${encodeValue(e.content)}`)
    if (e.size !== undefined) parts.push(`size=${e.size}`)
    if (e.sha256 !== undefined) parts.push(`sha256=${e.sha256}`)
    if (e.mtimeNs !== undefined) parts.push(`mtime=${e.mtimeNs}`)
    for (const name of Object.keys(e.xattrs ?? {}).sort()) parts.push(`xattr.${name}=${encodeValue(e.xattrs![name]!)}`)
    return parts.join(' ')
  })
  return `${lines.join('\n')}\n`
}

// --- materialize -------------------------------------------------------------

/**
 * Creates the entries under `root` (which must exist), in order, through any
 * port: the same spec gives the same tree in memory and on disk. Modes are
 * set with chmod after creation, so the umask does not change them.
 */
export async function materialize(fs: FsPort, root: string, entries: readonly TreeEntry[]): Promise<void> {
  const dirTimes: { path: string; ns: bigint }[] = []
  for (const e of entries) {
    const path = e.path === '.' ? root : `${root}/${e.path}`
    if (e.path !== '.') await makeDirs(fs, dirname(path))
    if (e.type === 'link') {
      if (e.target === undefined) throw new LayerfsckError('TREE_SPEC', `${e.path}: a hard link needs target=`)
      await fs.link(`${root}/${e.target}`, path)
      continue
    }
    if (e.type === 'symlink' && e.target === undefined) throw new LayerfsckError('TREE_SPEC', `${e.path}: a symlink needs target=`)
    if (e.type === 'socket') throw new LayerfsckError('TREE_SPEC', `${e.path}: sockets cannot be created from a spec`)
    const owned = e.uid !== undefined || e.gid !== undefined
    await createLike(
      fs,
      path,
      {
        kind: e.type,
        mode: e.mode ?? DEFAULT_MODES[e.type],
        ...(owned ? { uid: e.uid ?? 0, gid: e.gid ?? 0 } : {}),
        ...(e.mtimeNs !== undefined ? { mtimeNs: e.mtimeNs } : {}),
        ...(e.rdev ? { rdev: e.rdev } : {}),
        ...(e.target !== undefined ? { target: e.target } : {}),
        xattrs: new Map(Object.entries(e.xattrs ?? {})),
      },
      { dirExists: e.type === 'dir' && (await fs.lstat(path)) !== undefined, data: e.content ?? new Uint8Array(0), truncate: true },
    )
    if (e.type === 'dir' && e.mtimeNs !== undefined) dirTimes.push({ path, ns: e.mtimeNs })
  }
  // Directory times last: creating children changes a directory's mtime.
  for (const t of dirTimes.reverse()) await fs.lutimes(t.path, t.ns, t.ns)
}

// --- describe ----------------------------------------------------------------

export interface DescribeOptions {
  /** 'full' inlines file bytes (small trees), 'hash' gives size and sha256 (the default). */
  content?: 'full' | 'hash'
  /** Include mtimes: a listing that proves "nothing changed" must. */
  mtime?: boolean
}

/**
 * A complete, sorted listing of a tree: every entry with type, mode, owner,
 * device numbers, link target, content (or its hash), xattrs and hard-link
 * identity. Two trees are equal exactly when their listings are.
 */
export async function describeTree(fs: FsPort, root: string, options: DescribeOptions = {}): Promise<TreeEntry[]> {
  const out: TreeEntry[] = []
  const firstName = new Map<string, string>()
  const describeOne = async (path: string, rel: string): Promise<void> => {
    const inode = await fs.lstat(path)
    if (!inode) return
    const key = inodeKey(inode)
    if (inode.kind !== 'dir' && inode.nlink > 1) {
      const first = firstName.get(key)
      if (first !== undefined) {
        out.push({ path: rel, type: 'link', target: first })
        return
      }
      firstName.set(key, rel)
    }
    const e: TreeEntry = { path: rel, type: inode.kind, mode: inode.mode, uid: inode.uid, gid: inode.gid }
    if (inode.kind === 'char' || inode.kind === 'block') e.rdev = inode.rdev
    if (inode.kind === 'symlink') e.target = await fs.readlink(path)
    if (inode.kind === 'file') {
      // Empty files are not opened: whiteouts are mode 0, unreadable to anyone but root.
      const bytes = inode.size === 0 ? new Uint8Array(0) : await readFileLimited(fs, path)
      if (options.content === 'full') e.content = bytes
      else {
        e.size = bytes.length
        e.sha256 = createHash('sha256').update(bytes).digest('hex')
      }
    }
    if (options.mtime) e.mtimeNs = inode.mtimeNs
    const names = (await fs.xattr.list(path)).sort()
    if (names.length > 0) {
      e.xattrs = {}
      for (const name of names) {
        const value = await fs.xattr.get(path, name)
        if (value !== undefined) e.xattrs[name] = value
      }
    }
    out.push(e)
  }
  await describeOne(root, '.')
  const paths: { path: string; rel: string }[] = []
  for await (const w of walkTree(fs, root)) paths.push({ path: w.path, rel: w.rel })
  paths.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0))
  for (const p of paths) await describeOne(p.path, p.rel)
  return out
}

/** describeTree as text: what tests compare and what a fixture file holds. */
export async function listTree(fs: FsPort, root: string, options: DescribeOptions = {}): Promise<string> {
  return formatTreeSpec(await describeTree(fs, root, options))
}
