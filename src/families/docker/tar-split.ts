/**
 * What a layer record's `tar-split.json.gz` says about deletions: the
 * whiteouts and opaque markers of the tar the layer was applied from.
 * layerdb keeps that file (vbatts/tar-split's JSON packer, gzipped, one
 * entry per line: `{"type":1,"name":…}` for each tar entry, `{"type":2,
 * "payload":…}` for the raw header bytes and padding between them) so that
 * `docker save` and `push` can rebuild the tar byte for byte; it is the
 * only record of which whiteouts overlay2's `diff/` must hold.
 *
 * The file is hostile input like every other: it is read as a stream, the
 * decompressed bytes and each line are capped, and only whiteout and
 * opaque-marker names are kept, so memory grows with the whiteouts, never
 * with the layer's size. Names are bytes: tar-split stores a name that is
 * not valid UTF-8 as `name_raw` (base64), and both forms come back here as
 * port strings (src/fs/name-bytes.ts).
 */
import { createGunzip } from 'node:zlib'
import { isErrno, LayerfsckError } from '../../errors.js'
import { decodeName } from '../../fs/name-bytes.js'
import type { FsPort } from '../../fs/port.js'
import { classifyAufsName } from '../../layer/whiteout-names.js'
import type { LayerRecordFile } from './paths.js'

export const TAR_SPLIT_FILE: LayerRecordFile = 'tar-split.json.gz'

export interface TarSplitLimits {
  /** Decompressed bytes; a layer of a million files makes well under 256 MiB of JSON. */
  decompressed: number
  /** One JSON line; a segment holds at most a PAX header (Go's tar reader caps those at 1 MiB), base64'd. */
  line: number
}

export const DEFAULT_TAR_SPLIT_LIMITS: Readonly<TarSplitLimits> = Object.freeze({
  decompressed: 256 * 1024 * 1024,
  line: 4 * 1024 * 1024,
})

/**
 * The deletions the layer's tar made, relative to the layer root, in tar
 * order: each whiteout's target (`.wh.gone` in `data/` is `data/gone`) and
 * each dir with an opaque marker (`''` for the root itself).
 */
export interface TarSplitMarks {
  ok: true
  whiteouts: string[]
  opaqueDirs: string[]
  /** Tar entries read (type 1 lines). */
  entries: number
}

export interface TarSplitUnreadable {
  ok: false
  /** `EACCES`, `FILE_TOO_LARGE`, `LINE_TOO_LONG`, `GARBLED`, zlib's `Z_DATA_ERROR`, … */
  code: string
  reason: string
}

/** What is wrong with the file's content, as opposed to an error reading it. */
class TarSplitError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

/**
 * A tar entry's name as Docker applies it: `filepath.Clean`ed and joined to
 * the layer dir (pkg/archive Unpack). undefined for a name that would
 * leave the layer (Docker refuses the whole layer then) or holds a NUL.
 */
export function cleanTarName(name: string): string | undefined {
  if (name.includes('\0')) return undefined
  const absolute = name.startsWith('/')
  const parts: string[] = []
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue
    if (p !== '..') parts.push(p)
    else if (parts.length > 0) parts.pop()
    // `/..` is `/`; a relative `..` past the top is a breakout.
    else if (!absolute) return undefined
  }
  return parts.join('/')
}

/** The bytes of a type 1 entry's name, as tar-split's GetNameBytes gives them; undefined when the line has none. */
function nameOf(entry: Record<string, unknown>): string | undefined {
  const raw = entry['name_raw']
  if (raw !== undefined && raw !== null) {
    if (typeof raw !== 'string') throw new TarSplitError('GARBLED', 'name_raw is not a base64 string')
    if (raw !== '') return decodeName(Buffer.from(raw, 'base64'))
  }
  const name = entry['name']
  if (name === undefined || name === null) return undefined
  if (typeof name !== 'string') throw new TarSplitError('GARBLED', 'name is not a string')
  // Through UTF-8 bytes, as Go decodes JSON: a lone \udcXX escape becomes U+FFFD, never an escaped byte.
  return decodeName(Buffer.from(name, 'utf8'))
}

const parentDir = (path: string): string => path.slice(0, Math.max(0, path.lastIndexOf('/')))

/** A dir above kept marks: the marks directly in it (and opaque dirs that are its children), and its subdirs that hold more. */
interface DirNode {
  marks: Set<string>
  subdirs: Set<string>
}

/**
 * Applies one tar entry to what is kept, with Docker's apply order: a
 * later entry at a whited-out name replaces the device, and a later
 * non-directory at a dir's name removes the dir with every whiteout and
 * marker below it (Unpack's RemoveAll). The marks are also filed under the
 * dirs above them, so that such a removal visits only what it removes: a
 * hostile file cannot make each entry cost a scan of every whiteout.
 */
class Marks {
  readonly whiteouts = new Set<string>()
  readonly opaque = new Set<string>()
  private readonly tree = new Map<string, DirNode>()
  entries = 0

  add(rawName: string): void {
    this.entries += 1
    const path = cleanTarName(rawName)
    if (path === undefined || path === '') return
    const dir = parentDir(path)
    const mark = classifyAufsName(path.slice(path.lastIndexOf('/') + 1))
    if (mark?.type === 'whiteout') {
      const target = dir === '' ? mark.target : `${dir}/${mark.target}`
      this.whiteouts.add(target)
      this.file(dir, target)
    } else if (mark?.type === 'opaque') {
      this.opaque.add(dir)
      if (dir !== '') this.file(parentDir(dir), dir)
    } else if (mark === undefined) {
      this.whiteouts.delete(path)
      // Tar writers name a directory with a trailing slash; anything else may be a file that replaced it.
      if (rawName.endsWith('/')) return
      this.opaque.delete(path)
      this.dropBelow(path)
    }
    // aufs' own `.wh..wh.` names and `.wh.`, `.wh..`: no whiteout overlay2's apply keeps, nor one a layer could hold.
  }

  /** Files `mark` under `dir` and links each dir into the one above it. */
  private file(dir: string, mark: string): void {
    let node = this.tree.get(dir)
    if (node === undefined) this.tree.set(dir, (node = { marks: new Set(), subdirs: new Set() }))
    node.marks.add(mark)
    for (let d = dir; d !== ''; ) {
      const up = parentDir(d)
      let parent = this.tree.get(up)
      if (parent === undefined) this.tree.set(up, (parent = { marks: new Set(), subdirs: new Set() }))
      if (parent.subdirs.has(d)) break
      parent.subdirs.add(d)
      d = up
    }
  }

  private dropBelow(dir: string): void {
    if (!this.tree.has(dir)) return
    this.tree.get(parentDir(dir))?.subdirs.delete(dir)
    // A stack, not recursion: a hostile name may nest thousands of dirs deep.
    const stack = [dir]
    for (let d = stack.pop(); d !== undefined; d = stack.pop()) {
      const node = this.tree.get(d)
      if (node === undefined) continue
      this.tree.delete(d)
      for (const m of node.marks) {
        this.whiteouts.delete(m)
        this.opaque.delete(m)
      }
      for (const sub of node.subdirs) stack.push(sub)
    }
  }
}

function parseLine(line: Buffer, marks: Marks): void {
  const text = line.toString('utf8').trim()
  if (text === '') return
  let entry: unknown
  try {
    entry = JSON.parse(text)
  } catch (err) {
    throw new TarSplitError('GARBLED', `a line is not JSON (${(err as Error).message})`)
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new TarSplitError('GARBLED', 'a line is not a JSON object')
  const e = entry as Record<string, unknown>
  // Segments (type 2) are raw header bytes; other types tar-split's assembler skips too.
  if (e['type'] !== 1) return
  const name = nameOf(e)
  if (name !== undefined) marks.add(name)
}

function codeOf(err: unknown): string {
  if (err instanceof TarSplitError || err instanceof LayerfsckError) return err.code
  if (isErrno(err)) return err.code
  return 'EIO'
}

/**
 * Reads the whiteouts and opaque markers of one tar-split file. Never
 * throws for what the file holds: a file that cannot be opened, is not
 * gzip, is larger than the limits or is not tar-split JSON comes back as
 * `ok: false` with a code, and nothing of it is used.
 */
export async function readTarSplitMarks(fs: FsPort, path: string, limits: Partial<TarSplitLimits> = {}): Promise<TarSplitMarks | TarSplitUnreadable> {
  const { decompressed, line: lineLimit } = { ...DEFAULT_TAR_SPLIT_LIMITS, ...limits }
  const marks = new Marks()
  let input
  try {
    input = await fs.openRead(path)
  } catch (err) {
    return { ok: false, code: codeOf(err), reason: (err as Error)?.message ?? String(err) }
  }
  const gunzip = createGunzip()
  input.on('error', (err) => gunzip.destroy(err))
  input.pipe(gunzip)
  let pending: Buffer[] = []
  let pendingBytes = 0
  let total = 0
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      total += chunk.length
      if (total > decompressed) throw new TarSplitError('FILE_TOO_LARGE', `more than ${decompressed} bytes once decompressed`)
      let start = 0
      for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
        const piece = chunk.subarray(start, nl)
        if (pendingBytes + piece.length > lineLimit) throw new TarSplitError('LINE_TOO_LONG', `a line is longer than ${lineLimit} bytes`)
        parseLine(pendingBytes === 0 ? piece : Buffer.concat([...pending, piece]), marks)
        pending = []
        pendingBytes = 0
        start = nl + 1
      }
      if (start < chunk.length) {
        pendingBytes += chunk.length - start
        if (pendingBytes > lineLimit) throw new TarSplitError('LINE_TOO_LONG', `a line is longer than ${lineLimit} bytes`)
        pending.push(chunk.subarray(start))
      }
    }
    if (pendingBytes > 0) {
      try {
        parseLine(Buffer.concat(pending), marks)
      } catch (err) {
        // tar-split's unpacker reads a last line without a newline that does not parse as the end.
        if (!(err instanceof TarSplitError)) throw err
      }
    }
  } catch (err) {
    return { ok: false, code: codeOf(err), reason: (err as Error)?.message ?? String(err) }
  } finally {
    input.destroy()
    gunzip.destroy()
  }
  return { ok: true, whiteouts: [...marks.whiteouts], opaqueDirs: [...marks.opaque], entries: marks.entries }
}
