/**
 * A pass-through in front of tar-stream's extractor that follows the same
 * header blocks and keeps, for every real entry, its PAX records as raw
 * bytes (see pax.ts for why). It also refuses oversized long-name and PAX
 * headers before anything buffers them: a hostile tar can declare a 1 TiB
 * extended header.
 *
 * It mirrors tar-stream's reading rules exactly (a directory's data is never
 * consumed, a PAX `size` overrides the header's, GNU `L`/`K` and PAX `x`/`g`
 * are not entries), so the Nth entry tar-stream emits is the Nth seen here.
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

export interface TapLimits {
  /** Largest PAX or GNU long-name header accepted, in bytes. */
  maxHeaderBytes: number
}

export class RawPaxTap extends Transform {
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** Bytes of entry data (with padding) still to pass before the next header. */
  private skip = 0
  private collect: { type: 'x' | 'g'; size: number; parts: Buffer[]; got: number } | undefined
  private global: PaxRecords = new Map()
  private local: PaxRecords | undefined
  private entries = 0
  private lost = false
  private readonly byEntry = new Map<number, PaxRecords>()

  constructor(private readonly limits: TapLimits) {
    super()
  }

  /** The PAX records (global merged with the entry's own) of the `n`th entry, 1-based; each is handed out once. */
  recordsFor(n: number): PaxRecords {
    const records = this.byEntry.get(n) ?? new Map()
    this.byEntry.delete(n)
    return records
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
    if (block.every((b) => b === 0)) return
    if (!checksumOk(block)) {
      // Not a header we can read: tar-stream will say so with its own error.
      this.lost = true
      return
    }
    const typeflag = String.fromCharCode(block[156]!)
    const size = readNumber(block, 124, 12)
    if (size === undefined) throw new TarHeaderError('a tar header has an unreadable size field')
    const padded = (n: number): number => Math.ceil(n / BLOCK) * BLOCK
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > this.limits.maxHeaderBytes) {
        throw new TarHeaderError(
          `a tar ${typeflag === 'L' || typeflag === 'K' ? 'long-name' : 'PAX'} header declares ${size} bytes, more than the ${this.limits.maxHeaderBytes} allowed`,
        )
      }
      if (typeflag === 'x' || typeflag === 'g') this.collect = { type: typeflag, size, parts: [], got: 0 }
      this.skip = padded(size)
      if (this.skip === 0 && this.collect) this.finishCollect()
      return
    }
    this.entries += 1
    const records = new Map([...this.global, ...(this.local ?? [])])
    this.local = undefined
    if (records.size > 0) this.byEntry.set(this.entries, records)
    let isDir = typeflag === '5'
    // Old tars mark a directory by a trailing slash on a plain file entry.
    if (typeflag === '0' || block[156] === 0) {
      const name = block.subarray(0, 100)
      const end = name.indexOf(0)
      if ((end === -1 ? name[99] : name[end - 1]) === 0x2f) isDir = true
    }
    const paxSize = records.get('size')
    const dataSize = paxSize ? Number.parseInt(Buffer.from(paxSize).toString('latin1'), 10) : size
    this.skip = isDir ? 0 : padded(dataSize)
  }

  private finishCollect(): void {
    const c = this.collect!
    this.collect = undefined
    const records = decodePaxRecords(Buffer.concat(c.parts))
    if (c.type === 'g') this.global = new Map([...this.global, ...records])
    else this.local = records
  }
}
