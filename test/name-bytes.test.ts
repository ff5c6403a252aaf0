import { execFileSync } from 'node:child_process'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeName, encodeName, escapeName, hasEscapedBytes, nameByteLength } from '../src/fs/name-bytes.js'

const bytes = (...b: number[]): Buffer => Buffer.from(b)
const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1')

describe('decodeName', () => {
  it('gives ASCII and valid UTF-8 names as the text they are', () => {
    expect(decodeName(Buffer.from('etc/app.conf'))).toBe('etc/app.conf')
    expect(decodeName(Buffer.from('café 🐳.txt'))).toBe('café 🐳.txt')
    expect(decodeName(new Uint8Array([0x61, 0x62]))).toBe('ab')
  })

  it('carries each byte that is not valid UTF-8 as U+DC80 plus the byte', () => {
    expect(decodeName(latin1('caf\xe9.txt'))).toBe('caf\udce9.txt')
    expect(decodeName(latin1('bad\xff\xfe'))).toBe('bad\udcff\udcfe')
  })

  it('escapes truncated sequences, overlong forms, encoded surrogates and code points past U+10FFFF byte by byte', () => {
    expect(decodeName(bytes(0xe2, 0x82, 0x41))).toBe('\udce2\udc82A')
    expect(decodeName(bytes(0xc0, 0xaf))).toBe('\udcc0\udcaf')
    expect(decodeName(bytes(0xe0, 0x80, 0xaf))).toBe('\udce0\udc80\udcaf')
    expect(decodeName(bytes(0xed, 0xb3, 0xa9))).toBe('\udced\udcb3\udca9')
    expect(decodeName(bytes(0xf4, 0x90, 0x80, 0x80))).toBe('\udcf4\udc90\udc80\udc80')
    expect(decodeName(bytes(0xe9, 0xc3, 0xa9))).toBe('\udce9é')
  })

  it('decodes like Python surrogateescape', ({ skip }) => {
    let python = true
    try {
      execFileSync('python3', ['-c', ''])
    } catch {
      python = false
    }
    if (!python) return skip('python3 is not installed')
    const samples = [latin1('caf\xe9'), bytes(0xe2, 0x82, 0x41, 0xf0, 0x9f, 0x90), bytes(0xed, 0xa0, 0x80, 0xc3), Buffer.from('ok ✓')]
    const script = 'import sys,json\nfor h in sys.argv[1:]:\n  print(json.dumps(bytes.fromhex(h).decode("utf-8","surrogateescape")))'
    const out = execFileSync('python3', ['-c', script, ...samples.map((b) => b.toString('hex'))], { encoding: 'utf8' })
    expect(out.trim().split('\n').map((l) => JSON.parse(l) as string)).toEqual(samples.map(decodeName))
  })
})

describe('encodeName', () => {
  it('gives back the exact bytes of every byte string (bytes, decode, encode is the identity)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        expect(encodeName(decodeName(b)).equals(Buffer.from(b))).toBe(true)
      }),
      { numRuns: 5000 },
    )
  })

  it('round-trips byte strings made mostly of UTF-8 lead and continuation bytes', () => {
    const tricky = fc.constantFrom(0x41, 0x80, 0xbf, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x90, 0x8f)
    fc.assert(
      fc.property(fc.array(tricky, { maxLength: 24 }), (b) => {
        expect(encodeName(decodeName(Buffer.from(b))).equals(Buffer.from(b))).toBe(true)
      }),
      { numRuns: 5000 },
    )
  })

  it('gives text without escapes as its UTF-8, pairs beyond the BMP included', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 16 }), (s) => {
        expect(encodeName(s).equals(Buffer.from(s, 'utf8'))).toBe(true)
        expect(decodeName(encodeName(s))).toBe(s)
      }),
    )
  })

  it('refuses a lone surrogate that stands for no byte', () => {
    expect(() => encodeName('a\ud800b')).toThrow(/U\+D800/)
    expect(() => encodeName('a\udc41')).toThrow(/U\+DC41/)
    expect(() => encodeName('\udbff')).toThrow(RangeError)
  })
})

describe('nameByteLength', () => {
  it('counts the bytes on disk, one for each escaped byte', () => {
    expect(nameByteLength('abc')).toBe(3)
    expect(nameByteLength('café')).toBe(5)
    expect(nameByteLength('caf\udce9')).toBe(4)
    expect(nameByteLength('🐳\udcff')).toBe(5)
  })
})

describe('hasEscapedBytes', () => {
  it('tells names with invalid UTF-8 from text, emoji included', () => {
    expect(hasEscapedBytes('caf\udce9')).toBe(true)
    expect(hasEscapedBytes('café 🐳')).toBe(false)
  })
})

describe('escapeName', () => {
  it('leaves printable names alone, spaces and non-ASCII letters included', () => {
    expect(escapeName('etc/app.conf')).toBe('etc/app.conf')
    expect(escapeName('my file é 🐳')).toBe('my file é 🐳')
  })

  it('shows newline, tab and backslash as ls -b does', () => {
    expect(escapeName('x\n  error fake')).toBe('x\\n  error fake')
    expect(escapeName('a\tb\\c')).toBe('a\\tb\\\\c')
  })

  it('shows other control characters, escape sequences and invalid bytes as octal', () => {
    expect(escapeName('\x1b[31mred')).toBe('\\033[31mred')
    expect(escapeName('cr\r\x7f')).toBe('cr\\015\\177')
    expect(escapeName('caf\udce9.txt')).toBe('caf\\351.txt')
    expect(escapeName('csi\u009b')).toBe('csi\\302\\233')
    expect(escapeName('rtl\u202eexe')).toBe('rtl\\342\\200\\256exe')
    expect(escapeName('\ud800')).toBe('\\ud800')
  })

  it('always gives one printable line, and distinct names stay distinct', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 32 }), fc.uint8Array({ maxLength: 32 }), (a, b) => {
        const ea = escapeName(decodeName(a))
        expect(ea).not.toMatch(/[\x00-\x1f\x7f-\x9f]/)
        expect(hasEscapedBytes(ea)).toBe(false)
        if (!Buffer.from(a).equals(Buffer.from(b))) expect(ea).not.toBe(escapeName(decodeName(b)))
      }),
      { numRuns: 3000 },
    )
  })
})
