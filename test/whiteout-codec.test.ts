import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createMemoryFs } from '../src/fs/memory.js'
import type { FsPort } from '../src/fs/port.js'
import { applyLayer } from '../src/layer/apply.js'
import { cloneTree } from '../src/layer/clone.js'
import { aufsToOverlay, overlayToAufs, planAufsDir } from '../src/layer/whiteout-codec.js'
import { withCrashAfter, CrashError } from '../src/fs/crash.js'
import { listTree, materialize, parseTreeSpec, type TreeEntry } from '../src/testing/tree-spec.js'
import { rootSkipReason, SUBJECTS, type Subject } from './support/adapters.js'

describe('planAufsDir, the pure per-directory rule', () => {
  it('turns a lone .wh.X file into a whiteout of X', () => {
    expect(planAufsDir([{ name: '.wh.a', kind: 'file' }])).toEqual([{ op: 'whiteout', marker: '.wh.a', target: 'a' }])
  })

  it('lets a same-named entry of the same layer win over its whiteout', () => {
    const plan = planAufsDir([
      { name: '.wh.a', kind: 'file' },
      { name: 'a', kind: 'file' },
    ])
    expect(plan).toEqual([{ op: 'shadowed', marker: '.wh.a', target: 'a', targetKind: 'file' }])
  })

  it('reports invalid names and aufs meta files instead of converting them', () => {
    const plan = planAufsDir([
      { name: '.wh.', kind: 'file' },
      { name: '.wh..', kind: 'file' },
      { name: '.wh..wh.plnk', kind: 'dir' },
      { name: '.wh..wh.aufs', kind: 'file' },
      { name: '.wh.x', kind: 'dir' },
    ])
    expect(plan.map((a) => (a.op === 'leave' ? `${a.name}:${a.code}` : a.op))).toEqual([
      '.wh.:invalid-whiteout-name',
      '.wh..:invalid-whiteout-name',
      '.wh..wh.plnk:aufs-meta',
      '.wh..wh.aufs:aufs-meta',
      '.wh.x:whiteout-not-file',
    ])
  })
})

const spec = (text: string): TreeEntry[] => parseTreeSpec(text)

for (const { name, make } of SUBJECTS) {
  describe(`the whiteout codec on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    const layer = async (text: string): Promise<string> => {
      const root = `${s.root}/layer`
      await s.fs.mkdir(root, 0o755)
      await materialize(s.fs, root, spec(text))
      return root
    }

    it('turns aufs whiteouts and opaque markers into devices and xattrs, and back', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const root = await layer(`
        data/.wh.gone.txt file mode=0
        data/cache dir
        data/cache/.wh..wh..opq file mode=0755
        data/cache/new.txt file content=new
      `)
      const there = await aufsToOverlay(s.fs, root)
      expect(there).toMatchObject({ whiteouts: 1, opaqueDirs: 1, notes: [] })
      expect(await listTree(s.fs, root)).toBe(
        [
          '. dir mode=0755 uid=0 gid=0',
          'data dir mode=0755 uid=0 gid=0',
          'data/cache dir mode=0755 uid=0 gid=0 xattr.trusted.overlay.opaque=y',
          'data/cache/new.txt file mode=0644 uid=0 gid=0 size=3 sha256=11507a0e2f5e69d5dfa40a62a1bd7b6ee57e6bcd85c67c9b8431b36fff21c437',
          'data/gone.txt char mode=0000 uid=0 gid=0 rdev=0:0',
          '',
        ].join('\n'),
      )
      const back = await overlayToAufs(s.fs, root)
      expect(back).toMatchObject({ whiteouts: 1, opaqueDirs: 1, notes: [] })
      const listing = await listTree(s.fs, root)
      expect(listing).toContain('data/.wh.gone.txt file mode=0000')
      expect(listing).toContain('data/cache/.wh..wh..opq file mode=0755')
      expect(listing).not.toContain('xattr.')
    })

    it('makes a directory opaque when the same layer whites out the lower one and adds its own', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const root = await layer(`
        .wh.etc file mode=0
        etc dir
        etc/new.conf file content=x
      `)
      const report = await aufsToOverlay(s.fs, root)
      expect(report.notes).toEqual([expect.objectContaining({ code: 'whiteout-replaces-dir', path: `${root}/.wh.etc` })])
      expect(await s.fs.xattr.get(`${root}/etc`, 'trusted.overlay.opaque')).toEqual(new Uint8Array([0x79]))
      expect(await s.fs.lstat(`${root}/.wh.etc`)).toBeUndefined()
    })

    it('keeps a file that the same layer also whites out, and drops the whiteout', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const root = await layer(`
        .wh.a file mode=0
        a file content=kept
      `)
      const report = await aufsToOverlay(s.fs, root)
      expect(report.notes.map((n) => n.code)).toEqual(['whiteout-shadowed'])
      expect((await s.fs.lstat(`${root}/a`))?.kind).toBe('file')
      expect(await s.fs.lstat(`${root}/.wh.a`)).toBeUndefined()
    })

    it('keeps the same-layer entries of an opaque directory', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const root = await layer(`
        d/.wh..wh..opq file mode=0755
        d/mine file content=1
        d/sub/deeper file content=2
      `)
      await aufsToOverlay(s.fs, root)
      expect((await s.fs.readdir(`${root}/d`)).map((e) => e.name).sort()).toEqual(['mine', 'sub'])
    })

    it('leaves invalid names, meta files and non-file whiteout names alone, and reports each', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const root = await layer(`
        .wh. file
        .wh..wh.plnk dir
        .wh..wh.aufs file
        .wh.x dir
      `)
      const before = await listTree(s.fs, root)
      const report = await aufsToOverlay(s.fs, root)
      expect(report.notes.map((n) => n.code).sort()).toEqual(['aufs-meta', 'aufs-meta', 'invalid-whiteout-name', 'whiteout-not-file'])
      expect(await listTree(s.fs, root)).toBe(before)
    })

    it('gives a device an interrupted run already made the marker\'s owner and time when it finishes the step', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const root = await layer('a/.wh.x file mode=0 uid=1000 gid=1000 mtime=5')
      // What a crash between mknod and carrying the marker's metadata over leaves: both, the device still root's and new.
      await s.fs.mknod(`${root}/a/x`, 'char', 0, { major: 0, minor: 0 })
      await aufsToOverlay(s.fs, root)
      const device = await s.fs.lstat(`${root}/a/x`)
      expect([device?.kind, device?.uid, device?.gid, device?.mtimeNs]).toEqual(['char', 1000, 1000, 5n])
      expect(await s.fs.lstat(`${root}/a/.wh.x`)).toBeUndefined()
    })

    it('converts a clone as it makes it exactly as it converts a clone in place, and never makes a marker it converts', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      // Every case the plan knows, at the root and deeper, with times that a stray change would move.
      const root = await layer(`
        . dir mode=0755 mtime=1600000000000000001
        .wh.gone file mode=0 uid=7 gid=8 mtime=1600000000000000002
        .wh.etc file mode=0 mtime=1600000000000000003
        etc dir mode=0750 mtime=1600000000000000004
        etc/new.conf file content=x mtime=1600000000000000005
        .wh.kept file mode=0 mtime=1600000000000000006
        kept file content=kept mtime=1600000000000000007
        d dir mode=0755 mtime=1600000000000000008
        d/.wh..wh..opq file mode=0755 mtime=1600000000000000009
        d/mine file content=1 mtime=1600000000000000010
        d/sub dir mtime=1600000000000000011
        d/sub/.wh.deep file mode=0 uid=3 gid=4 mtime=1600000000000000012
        d/sub/.wh.x dir mtime=1600000000000000013
        d/sub/.wh..wh.plnk dir mtime=1600000000000000014
        d/sub/.wh..wh.aufs file mtime=1600000000000000015
        d/sub/.wh. file mtime=1600000000000000016
        d/sub/.wh.w file mode=0 uid=5 gid=6 mtime=1600000000000000017
        d/sub/w char mode=0 rdev=0:0 mtime=1600000000000000018
      `)
      const before = await listTree(s.fs, root, { mtime: true })
      const inPlace = `${s.root}/in-place`
      await cloneTree(s.fs, root, inPlace, { linkMarkers: true })
      const expected = await aufsToOverlay(s.fs, inPlace)

      const made: string[] = []
      const watched: FsPort = {
        ...s.fs,
        linkNames: async (from, to, names) => {
          made.push(...names.map((n) => `${to}/${n}`))
          // Links still on their way as the walk leaves each directory and converts it.
          await new Promise((r) => setTimeout(r, 5))
          return s.fs.linkNames(from, to, names)
        },
        link: async (existing, path) => (made.push(path), s.fs.link(existing, path)),
        openWrite: async (path, options) => (made.push(path), s.fs.openWrite(path, options)),
        unlink: async (path) => (made.push(`unlink ${path}`), s.fs.unlink(path)),
      }
      const converted = `${s.root}/converted`
      const report = await cloneTree(watched, root, converted, { linkMarkers: true, toOverlay: {} })

      expect(await listTree(s.fs, converted, { mtime: true })).toBe(await listTree(s.fs, inPlace, { mtime: true }))
      // The same notes, named in the tree each was made in; the clone meets a directory's on leaving it, children first.
      const relative = (r: typeof expected, at: string) => ({
        ...r,
        notes: r.notes.map((n) => ({ ...n, path: n.path.slice(at.length) })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
      })
      expect(relative(report.conversion!, converted)).toEqual(relative(expected, inPlace))
      expect(report.conversion).toMatchObject({ whiteouts: 3, opaqueDirs: 2 })
      // The markers it converted were never made, and nothing was removed; those it leaves are linked like files.
      for (const marker of ['.wh.gone', '.wh.etc', '.wh.kept', 'd/.wh..wh..opq', 'd/sub/.wh.deep', 'd/sub/.wh.w']) {
        expect(made, marker).not.toContain(`${converted}/${marker}`)
      }
      expect(made.filter((m) => m.startsWith('unlink '))).toEqual([])
      expect(made).toContain(`${converted}/d/sub/.wh..wh.aufs`)
      expect(await listTree(s.fs, root, { mtime: true })).toBe(before)
    })

    it('finishes a conversion that a crash interrupted at any step', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const text = `
        a/.wh.x file mode=0
        a/.wh.y file mode=0
        b/.wh..wh..opq file mode=0755
        b/keep file content=k
        .wh.c file mode=0
        c dir
      `
      const root = await layer(text)
      await aufsToOverlay(s.fs, root)
      const expected = await listTree(s.fs, root)
      for (let n = 0; ; n++) {
        await s.fs.rmdir(root).catch(() => undefined)
        const { removeTree } = await import('../src/fs/remove.js')
        await removeTree(s.fs, root)
        await layer(text)
        const crashing = withCrashAfter(s.fs, n)
        let crashed = false
        try {
          await aufsToOverlay(crashing, root)
        } catch (err) {
          if (!(err instanceof CrashError)) throw err
          crashed = true
        }
        await aufsToOverlay(s.fs, root)
        expect(await listTree(s.fs, root), `after a crash at step ${n}`).toBe(expected)
        if (!crashed) break
      }
    })
  })
}

// --- the round trip, as a property ------------------------------------------

const NAMES = ['a', 'b', 'c'] as const

/** An aufs-form layer: files, dirs, symlinks, whiteouts, opaque markers and junk names, all on a tiny name space so they collide. */
const aufsLayer = (depth: number): fc.Arbitrary<TreeEntry[]> => {
  const entry = fc.oneof(
    fc.record({ type: fc.constant('file' as const), content: fc.constantFrom('1', '2', '3') }),
    fc.record({ type: fc.constant('symlink' as const), target: fc.constantFrom('a', '../b', '/c') }),
    fc.record({ type: fc.constant('whiteout' as const) }),
    fc.record({ type: fc.constant('dir' as const) }),
  )
  return fc
    .array(
      fc.record({
        dir: fc.array(fc.constantFrom('a', 'b'), { maxLength: depth }),
        name: fc.constantFrom(...NAMES),
        entry,
        opaque: fc.boolean(),
        junk: fc.constantFrom(undefined, '.wh..wh.plnk', '.wh.'),
      }),
      { maxLength: 8 },
    )
    .map((items) => {
      const out = new Map<string, TreeEntry>()
      const dirs = new Set<string>()
      const add = (e: TreeEntry): void => {
        // Parents must be directories in a real tree: later items never turn a parent into a file.
        const parts = e.path.split('/')
        for (let i = 1; i < parts.length; i++) {
          const p = parts.slice(0, i).join('/')
          const existing = out.get(p)
          if (existing && existing.type !== 'dir') return
          if (!existing) {
            out.set(p, { path: p, type: 'dir' })
            dirs.add(p)
          }
        }
        const existing = out.get(e.path)
        if (existing?.type === 'dir' && e.type !== 'dir') return
        if (!existing) out.set(e.path, e)
      }
      for (const it of items) {
        const base = it.dir.length === 0 ? '' : `${it.dir.join('/')}/`
        const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
        if (it.entry.type === 'whiteout') add({ path: `${base}.wh.${it.name}`, type: 'file', mode: 0 })
        else if (it.entry.type === 'file') add({ path: `${base}${it.name}`, type: 'file', content: enc(it.entry.content) })
        else if (it.entry.type === 'symlink') add({ path: `${base}${it.name}`, type: 'symlink', target: it.entry.target })
        else add({ path: `${base}${it.name}`, type: 'dir' })
        if (it.opaque && base !== '') add({ path: `${base}.wh..wh..opq`, type: 'file', mode: 0o755 })
        if (it.junk) add({ path: `${base}${it.junk}`, type: 'file' })
      }
      return [...out.values()].sort((x, y) => (x.path < y.path ? -1 : 1))
    })
}

async function merged(fs: FsPort, layers: string[], form: 'aufs' | 'overlay', at: string): Promise<string> {
  await fs.mkdir(at, 0o755)
  for (const l of layers) await applyLayer(fs, l, at, form)
  return listTree(fs, at)
}

describe('the aufs → overlay → aufs round trip', () => {
  it('is the identity on the merged view of any stack of generated layers', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(aufsLayer(2), { minLength: 1, maxLength: 3 }), async (specs) => {
        const fs = createMemoryFs({ umask: 0o022 })
        await fs.mkdir('/t', 0o755)
        const layers: string[] = []
        for (const [i, entries] of specs.entries()) {
          const dir = `/t/l${i}`
          await fs.mkdir(dir, 0o755)
          await materialize(fs, dir, entries)
          layers.push(dir)
        }
        const expected = await merged(fs, layers, 'aufs', '/t/m-aufs')
        for (const l of layers) await aufsToOverlay(fs, l)
        expect(await merged(fs, layers, 'overlay', '/t/m-overlay')).toBe(expected)
        for (const l of layers) await overlayToAufs(fs, l)
        expect(await merged(fs, layers, 'aufs', '/t/m-back')).toBe(expected)
      }),
      { numRuns: 150 },
    )
  })
})
