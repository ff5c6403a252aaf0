/**
 * Extracts one layer tar into a directory through the port, in aufs or
 * overlay form. Every tar is hostile input (node-tar's rules): a path is
 * checked as a string before any IO, every parent is verified to be a real
 * directory inside the target (so a symlink planted by an earlier entry is
 * never written through), hard links may only name entries this tar already
 * created, and devices need an explicit yes. A refused tar throws; nothing is
 * ever written outside the target, and the caller discards the partial tree.
 *
 * What is kept: types, permission bits (the type bits some writers put in
 * the mode are dropped), numeric owners, mtimes, xattrs from PAX
 * `SCHILY.xattr.*` byte for byte, hard-link structure, long names, and
 * names and link targets as their exact bytes (read by the header tap, not
 * tar-stream's UTF-8 decoding, which would turn `caf\xe9` into `caf\uFFFD`).
 * Overlay's own xattrs are not taken from a tar: they would change what
 * the kernel hides.
 */
import { extract as tarExtract, type Header } from 'tar-stream'
import type { Readable } from 'node:stream'
import { isUtf8 } from 'node:buffer'
import { ExitCode, isErrno, LayerfsckError } from '../errors.js'
import { decodeName, escapeName, nameByteLength } from '../fs/name-bytes.js'
import type { FsPort, InodeKind } from '../fs/port.js'
import { checkRelative } from '../fs/safe-path.js'
import { convertLayer, type ConvertReport, type OpaqueXattr, type WhiteoutForm } from '../layer/whiteout-codec.js'
import { createLike } from '../layer/clone.js'
import { classifyAufsName, OVERLAY_XATTR } from '../layer/whiteout-names.js'
import { openTarBytes, type Compression } from './open.js'
import { xattrsFromPax } from './pax.js'
import { RawPaxTap, TarHeaderError, type RawEntry } from './raw-pax-tap.js'

const PATH_MAX = 4096

export interface LayerImportOptions {
  /** aufs keeps `.wh.` files as they are in the tar; overlay converts them (needs CAP_MKNOD). */
  form: WhiteoutForm
  opaqueXattr?: OpaqueXattr
  /** Char and block devices are refused unless this is true (fifos are always fine). */
  allowDevices?: boolean
  /**
   * Restore numeric owners (needs root); otherwise files belong to whoever
   * runs the import. Defaults to whether this process is root, as tar and
   * node-tar decide.
   */
  preserveOwners?: boolean
  maxHeaderBytes?: number
  /** fsync every file and directory written, before returning: for trees that will be renamed into a store. */
  sync?: boolean
  onProgress?: (event: { entries: number; bytes: number }) => void
  /** Checked between entries: a cancelled import stops there, and its caller discards the partial tree. */
  signal?: AbortSignal
}

export interface LayerImportReport {
  compression: Compression
  entries: number
  bytes: number
  /** Whiteouts as the tar carries them (aufs form, `.wh.<name>` and `.wh..wh..opq`), whatever form they are written in. */
  tarWhiteouts: number
  tarOpaqueDirs: number
  /** Things a tar may carry but we chose not to write, each with its entry. */
  warnings: { path: string; message: string }[]
  conversion: ConvertReport | undefined
}

export class HostileTarError extends LayerfsckError {
  constructor(entry: string, reason: string) {
    super('TAR_REFUSED', `refusing tar entry "${escapeName(entry)}": ${reason}`, {
      hint: 'the tar tries to write outside the layer or holds something not allowed; nothing outside the target was written',
    })
  }
}

/** The inode a tar entry type makes; undefined for what no layer may hold (PAX headers, GNU extensions). */
export const TAR_ENTRY_KINDS: Record<Header['type'], InodeKind | 'link' | undefined> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'dir',
  symlink: 'symlink',
  link: 'link',
  'character-device': 'char',
  'block-device': 'block',
  fifo: 'fifo',
}

export async function importLayerTar(fs: FsPort, input: Readable, target: string, options: LayerImportOptions): Promise<LayerImportReport> {
  try {
    return await extractLayer(fs, input, target, options)
  } catch (err) {
    // A tar that ends early or is no tar at all is bad input, not a bug:
    // tar-stream and zlib say so with errors that carry no errno.
    if (err instanceof LayerfsckError || (isErrno(err) && !/^Z_/.test(err.code))) throw err
    throw new LayerfsckError('TAR_INVALID', `not a readable tar: ${(err as Error).message}`, {
      cause: err,
      hint: 'the file is truncated, damaged or not a tar (nor a gzip of one); nothing of it was kept',
    })
  }
}

/**
 * The directories this import made, each with the names it wrote there, for
 * the last few it wrote in: an entry in one of them needs no lstat to know
 * that nothing is in its way. A tar writes a directory's entries together,
 * so a few are enough; one that falls out is only no longer known (its
 * entries are lstat'ed), which keeps memory flat at any layer size.
 */
class FreshDirs {
  private readonly dirs = new Map<string, Set<string>>()
  constructor(private readonly max = 64) {}
  add(rel: string): void {
    this.dirs.set(rel, new Set())
    if (this.dirs.size > this.max) this.dirs.delete(this.dirs.keys().next().value!)
  }
  /** The names written in rel, if it is one of them (and now the last used). */
  names(rel: string): Set<string> | undefined {
    const names = this.dirs.get(rel)
    if (names !== undefined && this.dirs.size > 1) {
      this.dirs.delete(rel)
      this.dirs.set(rel, names)
    }
    return names
  }
}

async function extractLayer(fs: FsPort, input: Readable, target: string, options: LayerImportOptions): Promise<LayerImportReport> {
  const { stream, compression } = await openTarBytes(input)
  const tap = new RawPaxTap({ maxHeaderBytes: options.maxHeaderBytes ?? 1024 * 1024 })
  const extract = tarExtract()
  stream.on('error', (err) => tap.destroy(err))
  tap.on('error', (err) => extract.destroy(err))
  stream.pipe(tap).pipe(extract as unknown as NodeJS.WritableStream)

  const report: LayerImportReport = { compression, entries: 0, bytes: 0, tarWhiteouts: 0, tarOpaqueDirs: 0, warnings: [], conversion: undefined }
  /** Directories (relative paths) known to be real directories we may write into. */
  const dirs = new Set<string>([''])
  const dirTimes: { path: string; ns: bigint }[] = []
  /** Directories this import made (or found empty), with what it wrote in each: nothing else is in them. */
  const fresh = new FreshDirs()
  const emptyTarget = (await fs.readdir(target)).length === 0
  if (emptyTarget) fresh.add('')
  /**
   * Non-directories this tar created, the only legal hard-link targets: kept
   * only for a target that was not empty. In an empty one everything is this
   * tar's, so a target is proven by an lstat, and memory stays flat however
   * many entries the layer has.
   */
  const created = emptyTarget ? undefined : new Set<string>()
  const parentOf = (rel: string): string => (rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '')
  const baseOf = (rel: string): string => rel.slice(rel.lastIndexOf('/') + 1)
  const wrote = (rel: string): void => {
    fresh.names(parentOf(rel))?.add(baseOf(rel))
    created?.add(rel)
  }
  /** An earlier non-directory of this tar: its parent is a directory the import checked, and it is there. */
  const isEarlierEntry = async (rel: string): Promise<boolean> => {
    if (created !== undefined) return created.has(rel)
    if (!dirs.has(parentOf(rel))) return false
    const inode = await fs.lstat(abs(rel))
    return inode !== undefined && inode.kind !== 'dir'
  }
  const preserveOwners = options.preserveOwners ?? process.getuid?.() === 0

  const abs = (rel: string): string => (rel === '' ? target : `${target}/${rel}`)

  /** Every ancestor of `rel` must be a directory inside the target; missing ones are made (tars may omit them). */
  const ensureParents = async (rel: string, entryName: string): Promise<void> => {
    const parts = rel.split('/')
    let prefix = ''
    for (let i = 0; i < parts.length - 1; i++) {
      prefix = prefix === '' ? parts[i]! : `${prefix}/${parts[i]}`
      if (dirs.has(prefix)) continue
      const inode = await fs.lstat(abs(prefix))
      if (inode === undefined) {
        await fs.mkdir(abs(prefix), 0o755)
        wrote(prefix)
        fresh.add(prefix)
      } else if (inode.kind !== 'dir') throw new HostileTarError(entryName, `${prefix} is a ${inode.kind}, so writing below it would leave the layer`)
      dirs.add(prefix)
    }
  }

  const removeExisting = async (rel: string, kind: InodeKind | 'link', entryName: string): Promise<boolean> => {
    // In a dir this import made, only what it wrote can be there, and that it remembers: no lstat per entry.
    if (fresh.names(parentOf(rel))?.has(baseOf(rel)) === false) return false
    const inode = await fs.lstat(abs(rel))
    if (inode === undefined) return false
    if (inode.kind === 'dir') {
      if (kind === 'dir') return true
      try {
        await fs.rmdir(abs(rel))
      } catch {
        throw new HostileTarError(entryName, 'it replaces a directory that is not empty')
      }
      dirs.delete(rel)
    } else await fs.unlink(abs(rel))
    created?.delete(rel)
    return false
  }

  let index = 0
  for await (const entry of extract) {
    index += 1
    const header = entry.header
    try {
      if (options.signal?.aborted) throw new LayerfsckError('CANCELLED', 'cancelled; what this import staged is removed, and nothing of it was recorded', { exitCode: ExitCode.cancelled })
      const raw = rawEntry(tap, index, header)
      const pax = raw.records
      const name = decodeName(raw.name)
      const linkname = raw.linkname === undefined ? undefined : decodeName(raw.linkname)
      if (nameByteLength(name) > PATH_MAX) throw new HostileTarError(name.slice(0, 80), `its name is longer than ${PATH_MAX} bytes`)
      const kind = TAR_ENTRY_KINDS[header.type]
      if (kind === undefined) throw new HostileTarError(name, `entry type ${String(header.type)} is not supported in a layer`)
      const trimmed = name.replace(/\/+$/, '')
      let rel: string
      if (trimmed === '' || trimmed === '.' || trimmed === './') rel = ''
      else {
        const checked = checkRelative(trimmed)
        if (!checked.ok) throw new HostileTarError(name, `its path ${checked.reason}`)
        rel = checked.path
      }
      if (rel === '' && kind !== 'dir') throw new HostileTarError(name, 'it would replace the layer root')
      const marker = classifyAufsName(rel.slice(rel.lastIndexOf('/') + 1))
      if (marker?.type === 'whiteout') report.tarWhiteouts += 1
      else if (marker?.type === 'opaque') report.tarOpaqueDirs += 1
      if ((kind === 'char' || kind === 'block') && !options.allowDevices) {
        throw new HostileTarError(name, `it is a ${kind} device and devices were not allowed (--allow-devices)`)
      }
      if (rel !== '') await ensureParents(rel, name)
      const path = abs(rel)
      const existsAsDir = rel !== '' && (await removeExisting(rel, kind, name))

      if (kind === 'link') {
        // Stale linknames on plain files are a real quirk; only a link entry's linkname means anything.
        const linkRel = checkRelative(linkname ?? '')
        if (!linkRel.ok || !(await isEarlierEntry(linkRel.path))) {
          throw new HostileTarError(name, `hard link to "${escapeName(linkname ?? '')}", which is not an earlier file of this layer`)
        }
        await fs.link(abs(linkRel.path), path)
        wrote(rel)
        report.entries += 1
        entry.resume()
        continue
      }

      if (kind === 'symlink' && (linkname === undefined || linkname === '' || linkname.includes('\0'))) {
        throw new HostileTarError(name, 'a symlink without a usable target')
      }
      const xattrs = new Map<string, Uint8Array>()
      for (const [attr, value] of xattrsFromPax(pax)) {
        if (OVERLAY_XATTR.test(attr)) {
          report.warnings.push({ path: rel || '.', message: `dropped ${attr}: overlay's own attributes are never taken from a tar` })
          continue
        }
        xattrs.set(attr, value)
      }
      const mtimeNs = paxTime(pax.get('mtime')) ?? BigInt(Math.floor((header.mtime?.getTime() ?? 0) / 1000)) * 1_000_000_000n
      // Owners only when asked (they need root); permission bits only, as some
      // writers put the type bits in the mode; a symlink's target is data,
      // stored as written and never followed by us.
      await createLike(
        fs,
        path,
        {
          kind,
          mode: (header.mode ?? 0o644) & 0o7777,
          // An id past the header's six octal digits comes in a PAX record, which tar-stream leaves to us.
          ...(preserveOwners ? { uid: paxUint(pax.get('uid')) ?? header.uid ?? 0, gid: paxUint(pax.get('gid')) ?? header.gid ?? 0 } : {}),
          mtimeNs,
          rdev: { major: paxUint(pax.get('SCHILY.devmajor')) ?? header.devmajor ?? 0, minor: paxUint(pax.get('SCHILY.devminor')) ?? header.devminor ?? 0 },
          ...(kind === 'symlink' ? { target: linkname! } : {}),
          xattrs,
        },
        {
          dirExists: kind === 'dir' && (rel === '' || existsAsDir),
          ...(kind === 'file' ? { data: countingBytes(entry as AsyncIterable<Uint8Array>, report), sync: options.sync === true } : {}),
        },
      )
      if (kind === 'dir') {
        if (!existsAsDir && rel !== '') {
          wrote(rel)
          fresh.add(rel)
        }
        dirs.add(rel)
        dirTimes.push({ path, ns: mtimeNs })
      } else wrote(rel)
      if (kind !== 'file') entry.resume()
      report.entries += 1
      options.onProgress?.({ entries: report.entries, bytes: report.bytes })
    } catch (err) {
      extract.destroy(err as Error)
      stream.destroy()
      throw err
    }
  }

  if (options.form === 'overlay') {
    report.conversion = await convertLayer(fs, target, 'overlay', options.opaqueXattr ? { opaqueXattr: options.opaqueXattr } : {})
  }
  // Deepest first: a parent's time set before its children are written would not stick.
  dirTimes.sort((a, b) => b.path.split('/').length - a.path.split('/').length)
  for (const d of dirTimes) await fs.lutimes(d.path, d.ns, d.ns)
  if (options.sync) for (const rel of dirs) await fs.fsync(abs(rel))
  return report
}

async function* countingBytes(entry: AsyncIterable<Uint8Array>, report: LayerImportReport): AsyncGenerator<Uint8Array> {
  for await (const chunk of entry) {
    yield chunk
    report.bytes += chunk.length
  }
}

/**
 * The entry as the tap read its bytes. Where those bytes are valid UTF-8,
 * tar-stream must have read the same text; if not, the two disagree on where
 * this entry's headers are, and neither name can be trusted.
 */
function rawEntry(tap: RawPaxTap, index: number, header: Header): RawEntry {
  const raw = tap.entry(index)
  if (raw === undefined) throw new TarHeaderError(`lost track of the tar headers at entry ${index}`)
  const differs = (bytes: Uint8Array | undefined, text: string | null | undefined): boolean =>
    bytes !== undefined && isUtf8(bytes) && Buffer.from(bytes).toString('utf8') !== (text ?? '')
  if (differs(raw.name, header.name) || differs(raw.linkname, header.linkname)) {
    throw new TarHeaderError(`the headers of tar entry ${index} ("${escapeName(header.name)}") read differently twice`)
  }
  return raw
}

/** PAX `mtime` is decimal seconds with an optional fraction. */
function paxUint(value: Uint8Array | undefined): number | undefined {
  if (value === undefined) return undefined
  const m = /^\d{1,10}$/.exec(Buffer.from(value).toString('latin1'))
  return m ? Number(m[0]) : undefined
}

function paxTime(value: Uint8Array | undefined): bigint | undefined {
  if (value === undefined) return undefined
  const m = /^(-?\d+)(?:\.(\d{1,9})\d*)?$/.exec(Buffer.from(value).toString('latin1'))
  if (!m) return undefined
  return BigInt(m[1]!) * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'))
}
