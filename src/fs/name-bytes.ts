/**
 * File names are bytes; the port carries them as strings. A byte that is not
 * part of valid UTF-8 stands as the lone surrogate U+DC80+byte (PEP 383's
 * surrogateescape), so every byte string has exactly one string form and
 * back: `encodeName(decodeName(b))` is `b` for any `b`. Valid UTF-8 never
 * decodes to a surrogate (UTF-8 cannot encode one), so an escape is never
 * confused with a real character. JSON writes a lone surrogate as `\udcXX`,
 * which Python reads back with `s.encode('utf-8', 'surrogateescape')`.
 *
 * Walks decode every entry, so each function answers the common case (ASCII,
 * or valid UTF-8 without escapes) with one native call and only falls back to
 * a loop for the rare name that needs it.
 */
import { isAscii, isUtf8 } from 'node:buffer'

/** Any UTF-16 surrogate, paired or not: a string without one is plain UTF-8 text. */
const SURROGATE = /[\ud800-\udfff]/
/** A surrogate that is not half of a pair. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** The string form of a name's bytes; never fails, never loses a byte. */
export function decodeName(bytes: Uint8Array): string {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (isAscii(buf)) return buf.toString('latin1')
  if (isUtf8(buf)) return buf.toString('utf8')
  return decodeEscaping(buf)
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 when the byte there cannot start one. */
function sequenceLength(b: Uint8Array, i: number): number {
  const lead = b[i]!
  const cont = (j: number, lo = 0x80, hi = 0xbf): boolean => i + j < b.length && b[i + j]! >= lo && b[i + j]! <= hi
  if (lead < 0x80) return 1
  if (lead >= 0xc2 && lead <= 0xdf) return cont(1) ? 2 : 0
  // The second byte's range excludes overlong forms (E0, F0), surrogates (ED) and code points past U+10FFFF (F4).
  if (lead === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0
  if (lead === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0
  if (lead >= 0xe1 && lead <= 0xef) return cont(1) && cont(2) ? 3 : 0
  if (lead === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0
  if (lead >= 0xf1 && lead <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0
  if (lead === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0
  return 0
}

function decodeEscaping(buf: Buffer): string {
  let out = ''
  let runStart = 0
  let i = 0
  while (i < buf.length) {
    const n = sequenceLength(buf, i)
    if (n > 0) {
      i += n
      continue
    }
    // One byte at a time: escaping each byte of a bad run on its own gives
    // what Python gives for the whole run, and the next byte may start a
    // valid sequence.
    out += buf.toString('utf8', runStart, i) + String.fromCharCode(0xdc00 + buf[i]!)
    i += 1
    runStart = i
  }
  return out + buf.toString('utf8', runStart, buf.length)
}

/**
 * The bytes a name string stands for. Throws on a lone surrogate outside
 * U+DC80..U+DCFF: no byte string decodes to it, so it is a bug upstream.
 */
export function encodeName(name: string): Buffer {
  if (!SURROGATE.test(name)) return Buffer.from(name, 'utf8')
  const parts: Buffer[] = []
  let runStart = 0
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c < 0xd800 || c > 0xdfff) continue
    if (c <= 0xdbff) {
      const next = name.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        i += 1 // a pair: plain UTF-8
        continue
      }
    } else if (c >= 0xdc80 && c <= 0xdcff) {
      parts.push(Buffer.from(name.slice(runStart, i), 'utf8'), Buffer.of(c - 0xdc00))
      runStart = i + 1
      continue
    }
    throw new RangeError(`a name holds the lone surrogate U+${c.toString(16).toUpperCase()}, which stands for no byte`)
  }
  parts.push(Buffer.from(name.slice(runStart), 'utf8'))
  return Buffer.concat(parts)
}

/** True when the name has bytes that are not valid UTF-8 (it holds an escape). */
export function hasEscapedBytes(name: string): boolean {
  return SURROGATE.test(name) && LONE_SURROGATE.test(name)
}

/** How many bytes the name takes on disk: what NAME_MAX and PATH_MAX count. */
export function nameByteLength(name: string): number {
  if (!SURROGATE.test(name)) return Buffer.byteLength(name, 'utf8')
  return encodeName(name).length
}

/**
 * Characters a terminal would act on rather than show: C0 controls, DEL, C1
 * controls (U+009B is a CSI on some terminals), line and paragraph
 * separators, bidirectional overrides and isolates (they reorder what
 * follows them on the line), and every surrogate (escaped bytes).
 */
const UNSAFE = /[\x00-\x1f\\\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]/

const octal = (byte: number): string => `\\${byte.toString(8).padStart(3, '0')}`

/**
 * A name for human output, as `ls -b` shows it: `\n`, `\t` and `\\`, every
 * other control character and every byte that is not valid UTF-8 as `\ooo`
 * octal of its bytes. The result is printable and one line, so a name can
 * never forge output of its own; distinct names stay distinct.
 */
export function escapeName(name: string): string {
  if (!UNSAFE.test(name)) return name
  let out = ''
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c === 0x0a) out += '\\n'
    else if (c === 0x09) out += '\\t'
    else if (c === 0x5c) out += '\\\\'
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < name.length && name.charCodeAt(i + 1) >= 0xdc00 && name.charCodeAt(i + 1) <= 0xdfff) {
      out += name.slice(i, i + 2) // a pair: one printable character beyond the BMP
      i += 1
    } else if (c >= 0xdc80 && c <= 0xdcff) out += octal(c - 0xdc00)
    else if (c >= 0xd800 && c <= 0xdfff) out += `\\u${c.toString(16)}` // stands for no byte; shown, never thrown on
    else if (UNSAFE.test(name[i]!)) for (const b of Buffer.from(name[i]!, 'utf8')) out += octal(b)
    else out += name[i]
  }
  return out
}
