import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { describeTree, formatTreeSpec, listTree, materialize, parseTreeSpec } from '../src/testing/tree-spec.js'
import { rootSkipReason, SUBJECTS, type Subject } from './support/adapters.js'

const SPEC = `
# a layer in overlay form, with every kind of entry
bin dir mode=0755
bin/hello file mode=0755 content="#!/bin/sh\\necho hi\\n"
bin/hello-link symlink target=hello
data/keep.txt file content=keep
data/keep-hardlink.txt link target=data/keep.txt
data/gone.txt char mode=0000 rdev=0:0
data/cache dir mode=0755 xattr.trusted.overlay.opaque=y
data/cache/new.txt file mode=0600 uid=1000 gid=1000 content=new mtime=1600000000123456789
etc/bin.dat file content=hex:00ff10
dev/sda block mode=0660 rdev=8:0
run/fifo fifo mode=0600
`

describe('tree specs as text', () => {
  it('parse and format back to the same text, defaults made explicit', () => {
    const entries = parseTreeSpec(SPEC)
    const text = formatTreeSpec(entries)
    expect(formatTreeSpec(parseTreeSpec(text))).toBe(text)
    expect(text).toContain('data/gone.txt char mode=0000 uid=0 gid=0 rdev=0:0')
    expect(entries.find((e) => e.path === 'etc/bin.dat')?.content).toEqual(new Uint8Array([0, 0xff, 0x10]))
  })

  it('refuses paths that leave the root and unknown types', () => {
    expect(() => parseTreeSpec('../x file')).toThrow(/contains \.\./)
    expect(() => parseTreeSpec('/etc/passwd file')).toThrow(/is absolute/)
    expect(() => parseTreeSpec('x gizmo')).toThrow(/unknown type/)
  })
})

for (const { name, make } of SUBJECTS) {
  describe(`tree specs on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    it('materialize a tree whose listing holds every entry, device and xattr of the spec', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      await materialize(s.fs, s.root, parseTreeSpec(SPEC))
      const listing = await describeTree(s.fs, s.root, { content: 'full', mtime: false })
      const by = Object.fromEntries(listing.map((e) => [e.path, e]))
      expect(by['data/gone.txt']).toMatchObject({ type: 'char', mode: 0, rdev: { major: 0, minor: 0 } })
      expect(by['data/keep-hardlink.txt']?.type === 'link' || by['data/keep.txt']?.type === 'link').toBe(true)
      expect(Buffer.from(by['data/cache']!.xattrs!['trusted.overlay.opaque']!).toString()).toBe('y')
      expect(by['data/cache/new.txt']).toMatchObject({ uid: 1000, gid: 1000, mode: 0o600 })
      expect(by['dev/sda']).toMatchObject({ type: 'block', rdev: { major: 8, minor: 0 } })
      expect(by['bin/hello-link']).toMatchObject({ type: 'symlink', target: 'hello' })
      expect((await s.fs.lstat(`${s.root}/data/cache/new.txt`))?.mtimeNs).toBe(1600000000123456789n)
    })

    it('give identical listings in memory and on disk for the same spec', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      await s.fs.mkdir(`${s.root}/t`)
      await materialize(s.fs, `${s.root}/t`, parseTreeSpec(SPEC))
      const mem = SUBJECTS.find((x) => x.name === 'memory')!
      const m = await mem.make()
      await m.fs.mkdir(`${m.root}/t`)
      await materialize(m.fs, `${m.root}/t`, parseTreeSpec(SPEC))
      const strip = (text: string): string => text.split('\n').filter((l) => !l.startsWith('. ')).join('\n')
      expect(strip(await listTree(s.fs, `${s.root}/t`))).toBe(strip(await listTree(m.fs, `${m.root}/t`)))
    })
  })
}
