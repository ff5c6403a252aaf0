/**
 * Writes a layer directory, in either whiteout form, as an OCI layer tar in
 * aufs form (what registries carry): whiteout devices become `.wh.<name>`
 * files, an opaque directory is its own entry followed at once by
 * `<dir>/.wh..wh..opq`, later names of a hard-linked file become link
 * entries, xattrs travel as PAX `SCHILY.xattr.*` byte for byte, except
 * overlay's own, which mean nothing outside this host's overlay mounts.
 *
 * The order is fixed (pre-order, names sorted as their tar names), so the
 * same layer gives the same bytes in both forms, on any adapter.
 *
 * Names are written as the bytes they are. One that is not plain ASCII goes
 * in a PAX `path` (or `linkpath`) record, and one that is not valid UTF-8
 * adds `hdrcharset=BINARY`, POSIX's word for "these are raw bytes" (GNU tar,
 * bsdtar and Go's archive/tar all keep them as they are).
 */
import { errnoError, ExitCode, LayerfsckError } from '../errors.js'
import { encodeName, escapeName, hasEscapedBytes } from '../fs/name-bytes.js'
import type { DirEntry, FsPort, Inode, InspectOptions, Inspected } from '../fs/port.js'
import { inodeKey } from '../fs/port.js'
import { childPath, childRel, inspectRest, walkPreorderRuns, type PreorderDirectory, type PreorderRun } from '../fs/walk.js'
import { isOpaqueDir, OPAQUE_MARKER_MODE, WHITEOUT_FILE_MODE } from '../layer/whiteout-codec.js'
import { classifyAufsName, isWhiteoutDevice, OPAQUE_MARKER, OPAQUE_XATTRS, OVERLAY_XATTR, WHITEOUT_PREFIX } from '../layer/whiteout-names.js'
import { paxEntry, XATTR_PREFIX } from './pax.js'
import { TarOutput, ustarSplit, type EntryType, type TarHeader } from './tar-writer.js'

export interface LayerExportReport {
  entries: number
  bytes: number
  whiteouts: number
  opaqueDirs: number
  hardLinks: number
  skipped: { path: string; message: string }[]
}

export interface LayerExportOptions {
  onProgress?: (event: { entries: number; bytes: number }) => void
  /** Checked between entries: a cancelled export stops there, and its caller removes the partial tar. */
  signal?: AbortSignal
}

/** The header's id and device fields hold six octal digits; past them the number goes in a PAX record. */
const MAX_USTAR_ID = 0o777777
const MAX_USTAR_TIME = 0o77777777777

/** Whether a ustar header holds the name, without PAX; a NUL byte would end it early. */
function fitsUstar(name: string): boolean {
  return !name.includes('\0') && ustarSplit(name) !== undefined
}

interface Outgoing {
  name: string
  type: EntryType
  inode: Pick<Inode, 'mode' | 'uid' | 'gid' | 'mtimeNs'>
  size?: number
  linkname?: string
  rdev?: { major: number; minor: number }
  xattrs?: [string, Uint8Array][]
  /** A large file's path, streamed into the tar. */
  streamFrom?: string
  /** A small file's bytes, read whole. */
  bytes?: Uint8Array
}

/** Files up to this size travel as one buffer; larger ones are streamed. */
const SMALL_BODY = 64 * 1024

/** What export asks of every entry: its stat, xattr names, a small file's bytes, a symlink's target. */
const INSPECT: InspectOptions = { xattrNames: true, readUpTo: SMALL_BODY, readlinks: true }
/**
 * Runs whose inspect is under way while the one before them is written: the
 * threadpool reads the next directories while this thread encodes. Each
 * holds one inspect answer at most (`INSPECT_ANSWER_BYTES`), so memory is a
 * few answers whatever the layer's size.
 */
const RUNS_AHEAD = 3

/** A directory of the walk, its entries in tar order. */
interface Listed extends PreorderDirectory {
  /** Whether the listing has a name `.wh..wh..opq` (of any kind): only then is it looked at. */
  marker: boolean
}

/** Without its opaque marker file, which is written right after its directory. */
function withoutMarker(dir: PreorderDirectory): Listed {
  const marker = dir.entries.some((e) => e.name === OPAQUE_MARKER)
  return { ...dir, entries: marker ? dir.entries.filter((e) => !(e.name === OPAQUE_MARKER && e.kind === 'file')) : dir.entries, marker }
}

/** Whiteout devices sort under their tar name, so both forms give one order. */
const sortKey = (e: DirEntry): string => (e.kind === 'char' ? `${WHITEOUT_PREFIX}${e.name}` : e.name)

/**
 * A small file whole, refusing one that grew past a streamed file's size
 * meanwhile. Read through events, not `for await`: the async iterator's
 * machinery cost more per file than the read.
 */
async function readSmall(fs: FsPort, path: string): Promise<Uint8Array> {
  const stream = await fs.openRead(path)
  return new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Uint8Array[] = []
    let total = 0
    stream.on('data', (chunk: Uint8Array) => {
      total += chunk.length
      if (total > 16 * SMALL_BODY) {
        stream.destroy()
        reject(new LayerfsckError('FILE_CHANGED', `${escapeName(path)} grew while it was exported; export it again once nothing writes to the layer`))
      }
      chunks.push(chunk)
    })
    stream.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total)))
    stream.once('error', reject)
  })
}

/**
 * A large file's bytes, exactly as many as its header says: a file that
 * changed size since its lstat would shift every entry after it.
 */
async function streamBody(fs: FsPort, path: string, size: number, out: TarOutput, report: LayerExportReport): Promise<void> {
  let left = size
  const changed = (): LayerfsckError =>
    new LayerfsckError('FILE_CHANGED', `${escapeName(path)} changed size while it was exported; export it again once nothing writes to the layer`)
  // Leaving the loop by a throw destroys the stream, which closes the file.
  for await (const chunk of (await fs.openRead(path)) as AsyncIterable<Uint8Array>) {
    if (chunk.length > left) throw changed()
    left -= chunk.length
    report.bytes += chunk.length
    await out.put(chunk)
  }
  if (left > 0) throw changed()
  await out.pad(size)
}

export async function exportLayerTar(
  fs: FsPort,
  root: string,
  write: (chunk: Uint8Array) => Promise<void>,
  options: LayerExportOptions = {},
): Promise<LayerExportReport> {
  const report: LayerExportReport = { entries: 0, bytes: 0, whiteouts: 0, opaqueDirs: 0, hardLinks: 0, skipped: [] }
  const out = new TarOutput(write)
  try {
    await produce(fs, root, out, report, options)
  } catch (err) {
    // A failed write (ENOSPC) is the error to report, not what the producer met after it.
    throw await out.abandon(err)
  }
  await out.finish()
  return report
}

async function produce(fs: FsPort, root: string, out: TarOutput, report: LayerExportReport, options: LayerExportOptions): Promise<void> {
  const firstName = new Map<string, string>()

  const emit = async (o: Outgoing): Promise<void> => {
    const records: [string, Uint8Array][] = []
    const text = (s: string | number): Uint8Array => Buffer.from(String(s))
    let name = o.name
    let linkname = o.linkname
    if (hasEscapedBytes(name) || (linkname !== undefined && hasEscapedBytes(linkname))) {
      records.push(['hdrcharset', text('BINARY')])
    }
    if (!fitsUstar(name)) {
      records.push(['path', encodeName(name)])
      name = o.type === 'directory' ? 'layerfsck.long-name/' : 'layerfsck.long-name'
    }
    if (linkname !== undefined && !(fitsUstar(linkname) && linkname.length <= 100)) {
      records.push(['linkpath', encodeName(linkname)])
      linkname = 'layerfsck.long-name'
    }
    /** The number for a header field of six octal digits; past them, a PAX record carries it and the field holds 0. */
    const idField = (key: string, value: number): number => {
      if (value <= MAX_USTAR_ID) return value
      records.push([key, text(value)])
      return 0
    }
    const uid = idField('uid', o.inode.uid)
    const gid = idField('gid', o.inode.gid)
    let seconds = Number(o.inode.mtimeNs / 1_000_000_000n)
    if (seconds < 0 || seconds > MAX_USTAR_TIME) {
      records.push(['mtime', text(seconds)])
      seconds = 0
    }
    // star's keywords for device numbers, which GNU tar and libarchive read too.
    const devmajor = idField('SCHILY.devmajor', o.rdev?.major ?? 0)
    const devminor = idField('SCHILY.devminor', o.rdev?.minor ?? 0)
    if (o.xattrs !== undefined) for (const [attr, value] of o.xattrs) records.push([`${XATTR_PREFIX}${attr}`, value])
    // PAX values are bytes here (xattrs are binary), never text.
    const extended = records.length > 0 ? paxEntry(records) : undefined

    const header: TarHeader = {
      name,
      type: o.type,
      mode: o.inode.mode,
      uid,
      gid,
      size: o.bytes?.length ?? o.size ?? 0,
      mtime: seconds,
      linkname: linkname ?? '',
      devmajor,
      devminor,
    }
    if (o.streamFrom === undefined) {
      report.bytes += o.bytes?.length ?? 0
      await out.entry(header, extended, o.bytes)
    } else {
      if (extended !== undefined) await out.put(extended)
      await out.header(header)
      await streamBody(fs, o.streamFrom, header.size, out, report)
    }
    report.entries += 1
    options.onProgress?.({ entries: report.entries, bytes: report.bytes })
  }

  /** The entry's xattrs but overlay's, by the names its inspect listed; its errno, if a step of the inspect failed, after them. */
  const xattrsOf = async (path: string, a: Inspected): Promise<[string, Uint8Array][]> => {
    if (a.errno !== undefined && a.syscall === 'llistxattr') throw errnoError(a.errno, a.syscall, path)
    const out: [string, Uint8Array][] = []
    for (const attr of (a.xattrNames ?? (await fs.xattr.list(path))).sort()) {
      if (OVERLAY_XATTR.test(attr)) continue
      const value = await fs.xattr.get(path, attr)
      if (value !== undefined) out.push([attr, value])
    }
    if (a.errno !== undefined) throw errnoError(a.errno, a.syscall ?? 'open', path)
    return out
  }

  /**
   * The directory's opaque marker, from its listing and xattr names when the
   * walk has them: the marker file is looked at only when listed, the
   * attribute only when named.
   */
  const opaqueMarker = async (path: string, rel: string, listing?: Listed, xattrNames?: string[]): Promise<void> => {
    const marker = listing === undefined || listing.marker ? await fs.lstat(`${path}/${OPAQUE_MARKER}`) : undefined
    let inode: Outgoing['inode'] | undefined
    if (marker?.kind === 'file') inode = marker
    // The overlay form keeps no marker file: write what image builders write.
    else if ((xattrNames === undefined || OPAQUE_XATTRS.some((x) => xattrNames.includes(x))) && (await isOpaqueDir(fs, path))) {
      inode = { mode: OPAQUE_MARKER_MODE, uid: 0, gid: 0, mtimeNs: 0n }
    }
    if (inode === undefined) return
    await emit({ name: rel === '' ? OPAQUE_MARKER : `${rel}/${OPAQUE_MARKER}`, type: 'file', inode })
    report.opaqueDirs += 1
  }

  const cancelled = (): boolean => options.signal?.aborted === true
  const stop = (): LayerfsckError => new LayerfsckError('CANCELLED', 'cancelled; the partial tar is removed', { exitCode: ExitCode.cancelled })

  /** One entry, from its inspect answer; `child` is its listing when it is the directory a run ends with. */
  const entry = async (name: string, path: string, rel: string, a: Inspected, child: PreorderRun<Listed>['child']): Promise<void> => {
    const inode = a.inode
    // Gone since its directory was read: the tar would silently lack it (how names read lossily went missing).
    if (inode === undefined) throw errnoError(a.errno ?? 'ENOENT', a.syscall ?? 'lstat', path)
    if (isWhiteoutDevice(inode)) {
      const dir = rel.slice(0, rel.length - name.length)
      await emit({ name: `${dir}${WHITEOUT_PREFIX}${name}`, type: 'file', inode: { ...inode, mode: WHITEOUT_FILE_MODE } })
      report.whiteouts += 1
      return
    }
    if (inode.kind === 'socket') {
      report.skipped.push({ path: rel, message: 'a socket cannot be stored in a tar' })
      return
    }
    if (inode.kind !== 'dir' && inode.nlink > 1) {
      const first = firstName.get(inodeKey(inode))
      if (first !== undefined) {
        await emit({ name: rel, type: 'link', inode, linkname: first })
        report.hardLinks += 1
        return
      }
      firstName.set(inodeKey(inode), rel)
    }
    const xattrs = await xattrsOf(path, a)
    switch (inode.kind) {
      case 'dir':
        await emit({ name: rel, type: 'directory', inode, xattrs })
        await opaqueMarker(path, rel, child !== undefined && 'dir' in child ? child.dir : undefined, a.xattrNames)
        break
      case 'file':
        // An aufs-form whiteout travels as it is; count it as the device form is counted.
        if (classifyAufsName(name)?.type === 'whiteout') report.whiteouts += 1
        if (inode.size > 0 && inode.size <= SMALL_BODY) {
          // The header says what was read: a file that changed size since its lstat is taken as it is now.
          const bytes = a.bytes ?? (await readSmall(fs, path))
          await emit({ name: rel, type: 'file', inode, size: bytes.length, xattrs, bytes })
          break
        }
        await emit({
          name: rel,
          type: 'file',
          inode,
          size: inode.size,
          xattrs,
          // An empty file is never opened: aufs whiteouts are mode 0, unreadable unless root.
          ...(inode.size > 0 ? { streamFrom: path } : {}),
        })
        break
      case 'symlink':
        await emit({ name: rel, type: 'symlink', inode, linkname: a.linkname ?? (await fs.readlink(path)), xattrs })
        break
      case 'char':
        await emit({ name: rel, type: 'character-device', inode, rdev: inode.rdev, xattrs })
        break
      case 'block':
        await emit({ name: rel, type: 'block-device', inode, rdev: inode.rdev, xattrs })
        break
      case 'fifo':
        await emit({ name: rel, type: 'fifo', inode, xattrs })
        break
    }
  }

  await opaqueMarker(root, '')
  // Strict pre-order in tar order, a run of entries per inspect call, the next runs read while this one is written.
  for await (const run of walkPreorderRuns(fs, root, { sortKey, listing: withoutMarker, inspect: INSPECT, runsAhead: RUNS_AHEAD })) {
    if (cancelled()) throw stop()
    const { names } = run
    const answers = await inspectRest(fs, run.dir.path, names, INSPECT, await run.answer)
    for (let i = 0; i < run.entries.length; i++) {
      if (i > 0 && cancelled()) throw stop()
      const name = names[i]!
      await entry(name, childPath(run.dir.path, name), childRel(run.dir.rel, name), answers[i]!, i === run.entries.length - 1 ? run.child : undefined)
    }
  }
}
