/**
 * A pass-through in front of tar-stream's extractor that follows the same
 * header blocks and keeps, for every real entry, its PAX records and its
 * name and link name as raw bytes. tar-stream decodes names and PAX values
 * as UTF-8, replacing what is not valid; a file name is bytes (`caf\xe9`),
 * and a binary xattr too (see pax.ts). It also refuses oversized long-name
 * and PAX headers before anything buffers them: a hostile tar can declare a
 * 1 TiB extended header.
 *
 * It mirrors tar-stream's reading rules exactly (a block whose bytes outside
 * the checksum are all zero is no header, a directory's data is never
 * consumed, a GNU long name applies to the next entry, an entry's PAX
 * `path`, `linkpath` and `size` come from its own `x` header merged over the
 * global one, GNU `L`/`K`/`N` and PAX `x`/`g` are not entries), so the Nth
 * entry tar-stream emits is the Nth seen here, with the name tar-stream
 * would have read had it kept the bytes.
 */
import { Transform, type TransformCallback } from 'node:stream'
import { LayerfsckError } from '../errors.js'
import { decodePaxRecords, headerChecksum, type PaxRecords } from './pax.js'

const BLOCK = 512

export class TarHeaderError extends LayerfsckError {
  constructor(message: string) {
    super('TAR_HEADER_REFUSED', message)
  }
}

function readNumber(block: Uint8Array, offset: number, length: number): number | undefined {
  const field = block.subarray(offset, offset + length)
  if (field[0]! & 0x80) {
    // base-256, as GNU tar writes sizes past 8 GiB
    let n = 0
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!
    return Number.isSafeInteger(n) ? n : undefined
  }
  const text = Buffer.from(field).toString('latin1').replace(/\0.*$/s, '').trim()
  if (text === '') return 0
  if (!/^[0-7]+$/.test(text)) return undefined
  return Number.parseInt(text, 8)
}

function checksumOk(block: Uint8Array): boolean {
  return readNumber(block, 148, 8) === headerChecksum(block)
}

/** What the tap keeps of one entry. */
export interface RawEntry {
  /** PAX records, global merged with the entry's own (xattrs apply from either). */
  records: PaxRecords
  /** The name as its bytes: PAX `path`, else a GNU long name, else the ustar prefix and name. */
  name: Uint8Array
  /** The link name as its bytes, when the entry has one (same precedence, `linkpath` and `K`). */
  linkname: Uint8Array | undefined
}

/** A NUL-terminated field (or the whole field when it has no NUL). */
function field(block: Uint8Array, offset: number, length: number): Uint8Array {
  const f = block.subarray(offset, offset + length)
  const end = f.indexOf(0)
  return end === -1 ? f : f.subarray(0, end)
}

const USTAR_MAGIC = Buffer.from('ustar\0', 'latin1')

export interface TapLimits {
  /** Largest PAX or GNU long-name header accepted, in bytes. */
  maxHeaderBytes: number
}

export class RawPaxTap extends Transform {
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** Bytes of entry data (with padding) still to pass before the next header. */
  private skip = 0
  private collect: { type: 'x' | 'g' | 'L' | 'K'; size: number; parts: Buffer[]; got: number } | undefined
  private global: PaxRecords = new Map()
  private local: PaxRecords | undefined
  /** The entry's own `x` records over the global ones as they stood when the `x` was read (tar-stream's merge). */
  private localMerged: PaxRecords | undefined
  private longName: Uint8Array | undefined
  private longLink: Uint8Array | undefined
  private entries = 0
  private lost = false
  private readonly byEntry = new Map<number, RawEntry>()

  constructor(private readonly limits: TapLimits) {
    super()
  }

  /**
   * The `n`th entry (1-based) as read here; each is handed out once.
   * Undefined when the tap lost track of the headers, which tar-stream then
   * reports as a broken tar.
   */
  entry(n: number): RawEntry | undefined {
    const e = this.byEntry.get(n)
    this.byEntry.delete(n)
    return e
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      if (!this.lost) this.follow(chunk)
    } catch (err) {
      done(err as Error)
      return
    }
    done(null, chunk)
  }

  private follow(chunk: Buffer): void {
    let at = 0
    while (at < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at)
        if (this.collect && this.collect.got < this.collect.size) {
          const want = Math.min(n, this.collect.size - this.collect.got)
          this.collect.parts.push(chunk.subarray(at, at + want))
          this.collect.got += want
        }
        this.skip -= n
        at += n
        if (this.skip === 0 && this.collect) this.finishCollect()
        continue
      }
      const need = BLOCK - this.pendingBytes
      const take = chunk.subarray(at, at + need)
      this.pending.push(take)
      this.pendingBytes += take.length
      at += take.length
      if (this.pendingBytes < BLOCK) break
      const block = Buffer.concat(this.pending, BLOCK)
      this.pending = []
      this.pendingBytes = 0
      this.header(block)
      if (this.lost) return
    }
  }

  private header(block: Buffer): void {
    // tar-stream's test for an empty block: only the checksum field may hold anything.
    if (headerChecksum(block) === 8 * 0x20) return
    if (!checksumOk(block)) {
      // Not a header we can read: tar-stream will say so with its own error.
      this.lost = true
      return
    }
    const typeflag = String.fromCharCode(block[156]!)
    const size = readNumber(block, 124, 12)
    if (size === undefined) throw new TarHeaderError('a tar header has an unreadable size field')
    const padded = (n: number): number => Math.ceil(n / BLOCK) * BLOCK
    // 'N' is the old GNU long name, which tar-stream reads as 'L'.
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K' || typeflag === 'N') {
      if (size > this.limits.maxHeaderBytes) {
        throw new TarHeaderError(
          `a tar ${typeflag === 'x' || typeflag === 'g' ? 'PAX' : 'long-name'} header declares ${size} bytes, more than the ${this.limits.maxHeaderBytes} allowed`,
        )
      }
      this.collect = { type: typeflag === 'N' ? 'L' : typeflag, size, parts: [], got: 0 }
      this.skip = padded(size)
      if (this.skip === 0) this.finishCollect()
      return
    }
    this.entries += 1
    const records = new Map([...this.global, ...(this.local ?? [])])
    // tar-stream takes path, linkpath and size only when the entry has an `x` header of its own.
    const own = this.localMerged
    this.local = undefined
    this.localMerged = undefined
    const paxValue = (key: string): Uint8Array | undefined => {
      const v = own?.get(key)
      return v !== undefined && v.length > 0 ? v : undefined
    }
    let ustarName = field(block, 0, 100)
    if (USTAR_MAGIC.equals(block.subarray(257, 263)) && block[345] !== 0) {
      ustarName = Buffer.concat([field(block, 345, 155), Buffer.from('/'), ustarName])
    }
    let name = ustarName
    let linkname = block[157] === 0 ? undefined : field(block, 157, 100)
    if (this.longName !== undefined && this.longName.length > 0) name = this.longName
    if (this.longLink !== undefined && this.longLink.length > 0) linkname = this.longLink
    this.longName = undefined
    this.longLink = undefined
    name = paxValue('path') ?? name
    linkname = paxValue('linkpath') ?? linkname
    this.byEntry.set(this.entries, { records, name: Uint8Array.from(name), linkname: linkname && Uint8Array.from(linkname) })
    let isDir = typeflag === '5'
    // Old tars mark a directory by a trailing slash on a plain file entry (in the header's own name).
    if ((typeflag === '0' || block[156] === 0) && ustarName[ustarName.length - 1] === 0x2f) isDir = true
    const paxSize = paxValue('size')
    const dataSize = paxSize ? Number.parseInt(Buffer.from(paxSize).toString('latin1'), 10) : size
    this.skip = isDir ? 0 : padded(dataSize)
  }

  private finishCollect(): void {
    const c = this.collect!
    this.collect = undefined
    const data = Buffer.concat(c.parts)
    if (c.type === 'L' || c.type === 'K') {
      const end = data.indexOf(0)
      const value = Uint8Array.from(end === -1 ? data : data.subarray(0, end))
      if (c.type === 'L') this.longName = value
      else this.longLink = value
      return
    }
    const records = decodePaxRecords(data)
    if (c.type === 'g') this.global = new Map([...this.global, ...records])
    else {
      this.local = records
      this.localMerged = new Map([...this.global, ...records])
    }
  }
}
