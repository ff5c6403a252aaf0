/**
 * PAX extended header records as bytes. tar-stream decodes every PAX value
 * as UTF-8 and encodes them the same way, which corrupts binary xattrs such
 * as `security.capability`; these records are read and written here so that
 * `SCHILY.xattr.*` values stay byte-exact.
 *
 * A record is `<length> <key>=<value>\n`, where length counts the whole
 * record including its own digits (POSIX pax, "extended header"). Keys are
 * names too (`SCHILY.xattr.<xattr name>`), carried like file names
 * (name-bytes.ts), so a key that is not valid UTF-8 survives the round trip.
 */
import { decodeName, encodeName } from '../fs/name-bytes.js'

export const XATTR_PREFIX = 'SCHILY.xattr.'

export type PaxRecords = Map<string, Uint8Array>

export function decodePaxRecords(buf: Uint8Array): PaxRecords {
  const records: PaxRecords = new Map()
  let at = 0
  while (at < buf.length) {
    let space = at
    while (space < buf.length && buf[space] !== 0x20) space++
    const length = Number.parseInt(Buffer.from(buf.subarray(at, space)).toString('latin1'), 10)
    // A record that does not parse ends the header, as tar-stream and GNU tar do.
    if (!Number.isSafeInteger(length) || length <= space - at + 1 || at + length > buf.length) break
    const record = buf.subarray(space + 1, at + length - 1)
    const eq = record.indexOf(0x3d)
    if (eq > 0) records.set(decodeName(record.subarray(0, eq)), record.slice(eq + 1))
    at += length
  }
  return records
}

export function encodePaxRecords(records: Iterable<[string, Uint8Array]>): Uint8Array {
  const parts: Buffer[] = []
  for (const [key, value] of records) {
    const body = Buffer.concat([Buffer.from(' '), encodeName(key), Buffer.from('='), Buffer.from(value), Buffer.from('\n')])
    // The length includes its own digits: grow until it is stable.
    let length = body.length + 1
    while (String(length).length + body.length !== length) length = String(length).length + body.length
    parts.push(Buffer.from(String(length)), body)
  }
  return new Uint8Array(Buffer.concat(parts))
}

export function xattrsFromPax(records: PaxRecords): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>()
  for (const [key, value] of records) if (key.startsWith(XATTR_PREFIX)) out.set(key.slice(XATTR_PREFIX.length), value)
  return out
}

// --- ustar header blocks, for the PAX entries tar-stream cannot write --------

const BLOCK = 512

function writeOctal(block: Buffer, offset: number, width: number, value: number): void {
  block.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, 'latin1')
}

/** A header block's checksum: the byte sum with the checksum field itself read as spaces (POSIX ustar). */
export function headerChecksum(block: Uint8Array): number {
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!
  return sum
}

/** Writes the checksum field of a header block in place. */
export function sealHeader(block: Buffer): void {
  block.write(`${headerChecksum(block).toString(8).padStart(6, '0')}\0 `, 148, 'latin1')
}

/** The 512-byte header of a typeflag `x` entry holding `size` bytes of records. */
export function paxHeaderBlock(size: number): Uint8Array {
  const block = Buffer.alloc(BLOCK)
  block.write('PaxHeader', 0, 'latin1')
  writeOctal(block, 100, 8, 0o644)
  writeOctal(block, 108, 8, 0)
  writeOctal(block, 116, 8, 0)
  writeOctal(block, 124, 12, size)
  writeOctal(block, 136, 12, 0)
  block[156] = 0x78 // 'x'
  block.write('ustar\x0000', 257, 'latin1')
  sealHeader(block)
  return new Uint8Array(block)
}

/** The whole PAX entry: header, records, zero padding to the block size. */
export function paxEntry(records: Iterable<[string, Uint8Array]>): Uint8Array {
  const body = encodePaxRecords(records)
  const padding = (BLOCK - (body.length % BLOCK)) % BLOCK
  return new Uint8Array(Buffer.concat([paxHeaderBlock(body.length), body, Buffer.alloc(padding)]))
}
