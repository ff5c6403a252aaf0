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
import { pack as tarPack, type Header, type Pack } from 'tar-stream'
import { errnoError, ExitCode, LayerfsckError } from '../errors.js'
import { encodeName, escapeName, hasEscapedBytes } from '../fs/name-bytes.js'
import type { FsPort, Inode } from '../fs/port.js'
import { inodeKey } from '../fs/port.js'
import { walkPreorder } from '../fs/walk.js'
import { isOpaqueDir, OPAQUE_MARKER_MODE, WHITEOUT_FILE_MODE } from '../layer/whiteout-codec.js'
import { classifyAufsName, isWhiteoutDevice, OPAQUE_MARKER, OVERLAY_XATTR, WHITEOUT_PREFIX } from '../layer/whiteout-names.js'
import { paxEntry, XATTR_PREFIX } from './pax.js'

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

const MAX_USTAR_ID = 0o7777777
const MAX_USTAR_TIME = 0o77777777777

/** tar-stream's own test for a header it can write without PAX (ASCII, name split into prefix/name). */
function fitsUstar(name: string): boolean {
  if (!/^[\x01-\x7f]*$/.test(name)) return false
  let rest = name
  let prefix = ''
  while (rest.length > 100) {
    const i = rest.indexOf('/')
    if (i === -1) return false
    prefix += prefix ? `/${rest.slice(0, i)}` : rest.slice(0, i)
    rest = rest.slice(i + 1)
  }
  return prefix.length <= 155
}

interface Outgoing {
  name: string
  type: Header['type']
  inode: Pick<Inode, 'mode' | 'uid' | 'gid' | 'mtimeNs'>
  size?: number
  linkname?: string
  rdev?: { major: number; minor: number }
  xattrs?: [string, Uint8Array][]
  body?: () => Promise<AsyncIterable<Uint8Array>>
  /** A small file's bytes, read whole: one entry call, no stream. */
  bytes?: Uint8Array
}

/** Files up to this size travel as one buffer; larger ones are streamed. */
const SMALL_BODY = 64 * 1024
/** Output is handed to `write` in pieces of about this size, not per header and block. */
const OUTPUT_BATCH = 256 * 1024

/**
 * Bytes handed to the tar and not yet written out: the producer waits above
 * `limit`, so memory stays flat however far the walk outruns the writer.
 */
class BackPressure {
  private pending = 0
  private waiting: (() => void) | undefined
  constructor(private readonly limit: number) {}
  async queued(bytes: number): Promise<void> {
    this.pending += bytes
    if (this.pending > this.limit) await new Promise<void>((resolve) => (this.waiting = resolve))
  }
  written(bytes: number): void {
    this.pending = Math.max(0, this.pending - bytes)
    if (this.pending <= this.limit / 2 && this.waiting) {
      const w = this.waiting
      this.waiting = undefined
      w()
    }
  }
}

/** A small file whole, refusing one that grew past a streamed file's size meanwhile. */
async function readSmall(fs: FsPort, path: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let total = 0
  const stream = await fs.openRead(path)
  for await (const chunk of stream as AsyncIterable<Uint8Array>) {
    total += chunk.length
    if (total > 16 * SMALL_BODY) {
      stream.destroy()
      throw new LayerfsckError('FILE_CHANGED', `${escapeName(path)} grew while it was exported; export it again once nothing writes to the layer`)
    }
    chunks.push(chunk)
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total)
}

export async function exportLayerTar(
  fs: FsPort,
  root: string,
  write: (chunk: Uint8Array) => Promise<void>,
  options: LayerExportOptions = {},
): Promise<LayerExportReport> {
  const report: LayerExportReport = { entries: 0, bytes: 0, whiteouts: 0, opaqueDirs: 0, hardLinks: 0, skipped: [] }
  const pack = tarPack()
  // A failed write (ENOSPC) destroys the pack, and produce then fails with
  // tar-stream's "destroyed"; the write's error is the one to report.
  let writeError: unknown
  // A buffered entry is taken at once, whatever the writer's pace: the producer waits while this much is unwritten.
  const gate = new BackPressure(8 * OUTPUT_BATCH)
  const drained = (async () => {
    // tar-stream yields a header, a body and its padding as separate chunks: one write per batch, not per chunk.
    let batch: Uint8Array[] = []
    let size = 0
    for await (const chunk of pack as AsyncIterable<Uint8Array>) {
      batch.push(chunk)
      size += chunk.length
      if (size < OUTPUT_BATCH) continue
      await write(Buffer.concat(batch, size))
      gate.written(size)
      batch = []
      size = 0
    }
    if (size > 0) await write(Buffer.concat(batch, size))
  })().catch((err: unknown) => {
    writeError = err
    // The producer must not wait for a writer that is gone: it goes on and fails on the destroyed pack.
    gate.written(Number.POSITIVE_INFINITY)
    pack.destroy(err as Error)
  })
  try {
    await produce(fs, root, pack, report, options, gate)
    pack.finalize()
  } catch (err) {
    pack.destroy(err as Error)
    await drained
    throw writeError ?? err
  }
  await drained
  if (writeError !== undefined) throw writeError
  return report
}

async function produce(fs: FsPort, root: string, pack: Pack, report: LayerExportReport, options: LayerExportOptions, gate: BackPressure): Promise<void> {
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
    let { uid, gid } = o.inode
    if (uid > MAX_USTAR_ID) {
      records.push(['uid', text(uid)])
      uid = 0
    }
    if (gid > MAX_USTAR_ID) {
      records.push(['gid', text(gid)])
      gid = 0
    }
    let seconds = Number(o.inode.mtimeNs / 1_000_000_000n)
    if (seconds < 0 || seconds > MAX_USTAR_TIME) {
      records.push(['mtime', text(seconds)])
      seconds = 0
    }
    for (const [attr, value] of o.xattrs ?? []) records.push([`${XATTR_PREFIX}${attr}`, value])
    // tar-stream would write PAX values as UTF-8 text; ours go in first, as bytes.
    if (records.length > 0) pack.push(paxEntry(records))

    const header: Header = {
      name,
      type: o.type,
      // tar-stream turns a falsy mode into 0644, and whiteouts are mode 0:
      // type bits keep it truthy and are masked off when the header is written.
      mode: (o.inode.mode & 0o7777) | 0o100000,
      uid,
      gid,
      size: o.size ?? 0,
      mtime: new Date(seconds * 1000),
      linkname: linkname ?? '',
      uname: '',
      gname: '',
      devmajor: o.rdev?.major ?? 0,
      devminor: o.rdev?.minor ?? 0,
    }
    if (o.bytes !== undefined) {
      await gate.queued(512 + o.bytes.length)
      report.bytes += o.bytes.length
      await new Promise<void>((resolve, reject) => pack.entry(header, Buffer.from(o.bytes!.buffer, o.bytes!.byteOffset, o.bytes!.length), (err) => (err ? reject(err) : resolve())))
      report.entries += 1
      options.onProgress?.({ entries: report.entries, bytes: report.bytes })
      return
    }
    await new Promise<void>((resolve, reject) => {
      const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()))
      if (!o.body) {
        // An empty file entry (a whiteout, a marker) still waits for its end.
        if (o.type === 'file') sink.end(null)
        return
      }
      void (async () => {
        try {
          for await (const chunk of await o.body!()) {
            report.bytes += chunk.length
            if (!sink.write(chunk)) await new Promise<void>((r) => sink.once('drain', () => r()))
          }
          sink.end(null)
        } catch (err) {
          sink.destroy(err as Error)
        }
      })()
    })
    report.entries += 1
    options.onProgress?.({ entries: report.entries, bytes: report.bytes })
  }

  const xattrsOf = async (path: string): Promise<[string, Uint8Array][]> => {
    const out: [string, Uint8Array][] = []
    for (const attr of (await fs.xattr.list(path)).sort()) {
      if (OVERLAY_XATTR.test(attr)) continue
      const value = await fs.xattr.get(path, attr)
      if (value !== undefined) out.push([attr, value])
    }
    return out
  }

  const opaqueMarker = async (path: string, rel: string): Promise<void> => {
    const marker = await fs.lstat(`${path}/${OPAQUE_MARKER}`)
    let inode: Outgoing['inode'] | undefined
    if (marker?.kind === 'file') inode = marker
    // The overlay form keeps no marker file: write what image builders write.
    else if (await isOpaqueDir(fs, path)) inode = { mode: OPAQUE_MARKER_MODE, uid: 0, gid: 0, mtimeNs: 0n }
    if (inode === undefined) return
    await emit({ name: rel === '' ? OPAQUE_MARKER : `${rel}/${OPAQUE_MARKER}`, type: 'file', inode })
    report.opaqueDirs += 1
  }

  await opaqueMarker(root, '')
  // Whiteout devices sort under their tar name, so both forms give one order.
  const sortKey = (e: { name: string; kind: string }): string => (e.kind === 'char' ? `${WHITEOUT_PREFIX}${e.name}` : e.name)
  for await (const w of walkPreorder(fs, root, { sortKey })) {
    if (options.signal?.aborted) throw new LayerfsckError('CANCELLED', 'cancelled; the partial tar is removed', { exitCode: ExitCode.cancelled })
    if (w.name === OPAQUE_MARKER && w.kind === 'file') continue // emitted right after its directory
    const inode = await fs.lstat(w.path)
    // Gone since its directory was read: the tar would silently lack it (how names read lossily went missing).
    if (inode === undefined) throw errnoError('ENOENT', 'lstat', w.path)
    if (isWhiteoutDevice(inode)) {
      const dir = w.rel.slice(0, w.rel.length - w.name.length)
      await emit({ name: `${dir}${WHITEOUT_PREFIX}${w.name}`, type: 'file', inode: { ...inode, mode: WHITEOUT_FILE_MODE } })
      report.whiteouts += 1
      continue
    }
    if (inode.kind === 'socket') {
      report.skipped.push({ path: w.rel, message: 'a socket cannot be stored in a tar' })
      continue
    }
    if (inode.kind !== 'dir' && inode.nlink > 1) {
      const first = firstName.get(inodeKey(inode))
      if (first !== undefined) {
        await emit({ name: w.rel, type: 'link', inode, linkname: first })
        report.hardLinks += 1
        continue
      }
      firstName.set(inodeKey(inode), w.rel)
    }
    const xattrs = await xattrsOf(w.path)
    switch (inode.kind) {
      case 'dir':
        await emit({ name: w.rel, type: 'directory', inode, xattrs })
        await opaqueMarker(w.path, w.rel)
        break
      case 'file':
        // An aufs-form whiteout travels as it is; count it as the device form is counted.
        if (classifyAufsName(w.name)?.type === 'whiteout') report.whiteouts += 1
        if (inode.size > 0 && inode.size <= SMALL_BODY) {
          // The header says what was read: a file that changed size since its lstat is taken as it is now.
          const bytes = await readSmall(fs, w.path)
          await emit({ name: w.rel, type: 'file', inode, size: bytes.length, xattrs, bytes })
          break
        }
        await emit({
          name: w.rel,
          type: 'file',
          inode,
          size: inode.size,
          xattrs,
          // An empty file is never opened: aufs whiteouts are mode 0, unreadable unless root.
          ...(inode.size > 0 ? { body: async () => (await fs.openRead(w.path)) as AsyncIterable<Uint8Array> } : {}),
        })
        break
      case 'symlink':
        await emit({ name: w.rel, type: 'symlink', inode, linkname: await fs.readlink(w.path), xattrs })
        break
      case 'char':
        await emit({ name: w.rel, type: 'character-device', inode, rdev: inode.rdev, xattrs })
        break
      case 'block':
        await emit({ name: w.rel, type: 'block-device', inode, rdev: inode.rdev, xattrs })
        break
      case 'fifo':
        await emit({ name: w.rel, type: 'fifo', inode, xattrs })
        break
    }
  }
}
