/**
 * A tar written straight into output batches. Each header block is encoded
 * in place, byte for byte as tar-stream 3 encodes it (its octal fields, its
 * prefix split, a directory's name without a trailing slash), so the tar is
 * the one export always wrote, without a stream, a callback and three small
 * buffers per entry: at 10^5 entries those cost more than reading the files.
 *
 * Memory stays flat: a full batch is handed to the writer and the producer
 * waits while more than a few batches are unwritten (`BackPressure`).
 */

export type EntryType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo'

/** The ustar fields export sets; uname and gname are always empty. */
export interface TarHeader {
  /** ASCII, in 100 bytes or split to fit (`ustarSplit`); the caller puts other names in PAX records first. */
  name: string
  type: EntryType
  /** Permission bits; the type bits are masked off. */
  mode: number
  uid: number
  gid: number
  size: number
  /** Whole seconds since the epoch. */
  mtime: number
  linkname: string
  devmajor: number
  devminor: number
}

export const BLOCK = 512
const TYPEFLAG: Record<EntryType, number> = {
  file: 0,
  link: 1,
  symlink: 2,
  'character-device': 3,
  'block-device': 4,
  directory: 5,
  fifo: 6,
}
const ASCII = /^[\x00-\x7f]*$/

/** A zeroed block with ustar's magic and version in place: each header starts as a copy of it. */
const TEMPLATE = Buffer.alloc(BLOCK)
TEMPLATE.write('ustar\x0000', 257, 'latin1')
/** The template's byte sum, with the checksum field counted as eight spaces (POSIX ustar). */
const TEMPLATE_SUM = TEMPLATE.reduce((sum, byte) => sum + byte, 8 * 0x20)

/**
 * Writes text into a zeroed field and returns the sum of its bytes, which
 * the checksum needs: summing only what was written spares a pass over the
 * whole block per header.
 */
function writeText(buf: Buffer, off: number, text: string): number {
  let sum = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c > 0x7f) {
      const n = buf.write(text, off, 'utf8')
      sum = 0
      for (let j = off; j < off + n; j++) sum += buf[j]!
      return sum
    }
    buf[off + i] = c
    sum += c
  }
  return sum
}

/**
 * tar-stream's octal field: `n` digits and a space, all sevens when the
 * number does not fit; returns the byte sum. The digit loop is the common
 * case; the string form keeps what tar-stream does with anything else (a
 * negative mtime).
 */
function writeOctal(buf: Buffer, off: number, value: number, n: number): number {
  if (Number.isInteger(value) && value >= 0 && value < 8 ** n) {
    let v = value
    let sum = 0x20
    for (let i = off + n - 1; i >= off; i--) {
      const digit = 0x30 + (v % 8)
      buf[i] = digit
      sum += digit
      v = Math.floor(v / 8)
    }
    buf[off + n] = 0x20
    return sum
  }
  const digits = value.toString(8)
  return writeText(buf, off, digits.length > n ? `${'7'.repeat(n)} ` : `${'0'.repeat(n - digits.length)}${digits} `)
}

/** Past eleven octal digits tar-stream writes the size in base 256 (GNU's form); returns the byte sum. */
function writeSize(buf: Buffer, off: number, size: number): number {
  const fits = Number.isInteger(size) && size >= 0 ? size < 8 ** 11 : size.toString(8).length <= 11
  if (fits) return writeOctal(buf, off, size, 11)
  buf[off] = 0x80
  let sum = 0x80
  let num = size
  for (let i = 11; i > 0; i--) {
    buf[off + i] = num & 0xff
    sum += buf[off + i]!
    num = Math.floor(num / 0x100)
  }
  return sum
}

/**
 * A name as ustar holds it, `[prefix, name]`, split at slashes from the
 * left until the name part fits 100 bytes, as tar-stream splits it; or
 * undefined when it is not ASCII or no split fits.
 */
export function ustarSplit(path: string): [string, string] | undefined {
  if (!ASCII.test(path)) return undefined
  let name = path
  let prefix = ''
  while (name.length > 100) {
    const i = name.indexOf('/')
    if (i === -1) return undefined
    prefix += prefix ? `/${name.slice(0, i)}` : name.slice(0, i)
    name = name.slice(i + 1)
  }
  return prefix.length <= 155 ? [prefix, name] : undefined
}

/**
 * Encodes one header block at `buf[off..off+512)`, or returns false where
 * tar-stream's `encode` returns null: a name that is not ASCII or that no
 * prefix split fits, a link name past 100 bytes.
 */
export function encodeHeader(h: TarHeader, buf: Buffer, off: number): boolean {
  // tar-stream tests `typeflag === 5` on a header that only has `type`: directories get no trailing slash.
  const split = ustarSplit(h.name)
  if (split === undefined || Buffer.byteLength(h.linkname) > 100) return false
  const [prefix, name] = split

  buf.set(TEMPLATE, off)
  let sum = TEMPLATE_SUM
  sum += writeText(buf, off, name)
  sum += writeOctal(buf, off + 100, h.mode & 0o7777, 6)
  sum += writeOctal(buf, off + 108, h.uid, 6)
  sum += writeOctal(buf, off + 116, h.gid, 6)
  sum += writeSize(buf, off + 124, h.size)
  sum += writeOctal(buf, off + 136, h.mtime, 11)
  buf[off + 156] = 0x30 + TYPEFLAG[h.type]
  sum += buf[off + 156]!
  if (h.linkname) sum += writeText(buf, off + 157, h.linkname)
  sum += writeOctal(buf, off + 329, h.devmajor, 6)
  sum += writeOctal(buf, off + 337, h.devminor, 6)
  if (prefix) sum += writeText(buf, off + 345, prefix)
  writeOctal(buf, off + 148, sum, 6)
  return true
}

const padding = (size: number): number => (BLOCK - (size % BLOCK)) % BLOCK

/**
 * Bytes handed to the writer and not yet written out: the producer waits
 * above `limit`, so memory stays flat however far the walk outruns the writer.
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

/** Output is handed to `write` in pieces of about this size, not per header and block. */
export const OUTPUT_BATCH = 256 * 1024

/**
 * The tar's bytes, gathered into batches of `OUTPUT_BATCH` that go to
 * `write` one after another. A batch handed over is never touched again
 * (the writer may keep it). A failed write is thrown by the next call.
 */
export class TarOutput {
  private buf = Buffer.allocUnsafe(OUTPUT_BATCH)
  private at = 0
  /** The writes in order: each batch's write starts when the one before has ended. */
  private tail: Promise<void> = Promise.resolve()
  private failed: { err: unknown } | undefined
  // A batch is taken at once, whatever the writer's pace: the producer waits while this much is unwritten.
  private readonly gate = new BackPressure(8 * OUTPUT_BATCH)

  constructor(private readonly write: (chunk: Uint8Array) => Promise<void>) {}

  /**
   * An entry whose header and body go in whole. One batch holds it when it
   * can, and then it is copied in without an await per piece.
   */
  async entry(header: TarHeader, extended: Uint8Array | undefined, body?: Uint8Array): Promise<void> {
    const size = (extended?.length ?? 0) + BLOCK + (body === undefined ? 0 : body.length + padding(body.length))
    if (this.at + size > this.buf.length) {
      if (this.at > 0) await this.flush()
      if (size > this.buf.length) {
        // Larger than a batch (PAX records of large xattrs): in pieces.
        if (extended !== undefined) await this.put(extended)
        await this.header(header)
        if (body !== undefined) {
          await this.put(body)
          await this.pad(body.length)
        }
        return
      }
    }
    if (extended !== undefined) {
      this.buf.set(extended, this.at)
      this.at += extended.length
    }
    this.encode(header)
    if (body !== undefined) {
      this.buf.set(body, this.at)
      this.at += body.length
      const n = padding(body.length)
      this.buf.fill(0, this.at, this.at + n)
      this.at += n
    }
  }

  /** The header of an entry whose body follows through `put`, then `pad`. */
  async header(header: TarHeader): Promise<void> {
    if (this.at + BLOCK > this.buf.length) await this.flush()
    this.encode(header)
  }

  private encode(header: TarHeader): void {
    // The caller moves what does not fit into PAX records; one that slips through is a bug, not a tar.
    if (!encodeHeader(header, this.buf, this.at)) throw new RangeError(`no ustar header holds the name ${JSON.stringify(header.name)}`)
    this.at += BLOCK
  }

  /** Copies bytes in, handing batches over as they fill. */
  async put(data: Uint8Array): Promise<void> {
    let off = 0
    while (off < data.length) {
      if (this.at === this.buf.length) await this.flush()
      const n = Math.min(data.length - off, this.buf.length - this.at)
      this.buf.set(off === 0 && n === data.length ? data : data.subarray(off, off + n), this.at)
      this.at += n
      off += n
    }
  }

  /** Zeros up to the block boundary after a body of `size` bytes. */
  async pad(size: number): Promise<void> {
    const n = padding(size)
    if (this.at + n > this.buf.length) await this.flush()
    this.buf.fill(0, this.at, this.at + n)
    this.at += n
  }

  /** The end-of-archive blocks, the last batch, and every write's end. */
  async finish(): Promise<void> {
    if (this.at + 2 * BLOCK > this.buf.length) await this.flush()
    this.buf.fill(0, this.at, this.at + 2 * BLOCK)
    this.at += 2 * BLOCK
    await this.flush()
    await this.tail
    this.rethrow()
  }

  /**
   * After the producer failed: waits for the writes under way. The error
   * to report is the write's, when one failed first (the producer's is
   * often only its consequence).
   */
  async abandon(err: unknown): Promise<unknown> {
    await this.tail
    return this.failed ? this.failed.err : err
  }

  private rethrow(): void {
    if (this.failed) throw this.failed.err
  }

  private async flush(): Promise<void> {
    this.rethrow()
    if (this.at === 0) return
    const chunk = this.buf.subarray(0, this.at)
    this.buf = Buffer.allocUnsafe(OUTPUT_BATCH)
    this.at = 0
    this.tail = this.tail.then(async () => {
      if (this.failed) return
      try {
        await this.write(chunk)
        this.gate.written(chunk.length)
      } catch (err) {
        this.failed = { err }
        // The producer must not wait for a writer that is gone.
        this.gate.written(Number.POSITIVE_INFINITY)
      }
    })
    await this.gate.queued(chunk.length)
    this.rethrow()
  }
}
