import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { detect } from '../src/detect/detect.js'
import { identifyStore, NotAStoreError, requireStore } from '../src/detect/identify.js'
import { runCheck } from '../src/check/run.js'
import { findFormat } from '../src/format/registry.js'
import { writeStamp } from '../src/format/stamp.js'
import { makeDirs, readTextLimited, writeFileAll } from '../src/fs/io.js'
import { createNodeFs } from '../src/fs/node.js'
import type { FsPort } from '../src/fs/port.js'
import { encodeStoredImages } from '../src/families/mesos/metadata/stored-images.js'
import { generateMesosStore } from '../src/families/mesos/testing.js'
import { listTree, materialize, parseTreeSpec } from '../src/testing/tree-spec.js'
import { runCli } from './support/cli.js'
import { SUBJECTS, type Subject } from './support/adapters.js'
import { FIXTURES } from './support/fixtures.js'

const cli = runCli

/** A fixture tree from fixtures/not-stores, made under `dir` (which must exist). */
async function makeTree(fs: FsPort, dir: string, name: string): Promise<void> {
  const spec = await readTextLimited(createNodeFs(), `${FIXTURES}/not-stores/${name}.tree`)
  await materialize(fs, dir, parseTreeSpec(spec))
}

/** What operators have named as --store by mistake, each kept as a fixture, and what layerfsck must call it. */
const NOT_STORES = [
  { what: 'an empty directory', tree: undefined, kind: 'empty', says: /an empty directory/, shows: [] },
  {
    what: 'a directory holding README, config and gc/backup.tar',
    tree: 'operator-files',
    kind: 'unknown',
    says: /a directory of something else \(no evidence of any store layerfsck reads, no layerfsck stamp\): README, config, gc\//,
    shows: ['README', 'config', 'gc/'],
  },
  {
    what: 'a directory holding README, an empty config and an empty storedImages',
    tree: 'operator-files-empty-storedimages',
    kind: 'unknown',
    says: /a directory of something else \(.*\): README, config, storedImages/,
    shows: ['README', 'config', 'storedImages'],
  },
  {
    what: 'a containers/storage graphroot',
    tree: 'containers-storage',
    kind: 'containers-storage',
    says: /a containers\/storage graphroot \(podman, CRI-O, buildah\), which layerfsck does not read yet: storage\.lock, overlay-images\/, overlay-layers\/layers\.json/,
    shows: ['storage.lock', 'overlay-images/', 'overlay-layers/layers.json'],
  },
  {
    what: 'a Docker data root of the vfs driver',
    tree: 'docker-vfs-data-root',
    kind: 'docker-unsupported-driver',
    says: /a Docker data root of the vfs storage driver, which layerfsck does not read \(it reads overlay2 and overlay\): image\/vfs\/layerdb/,
    shows: ['image/vfs/layerdb'],
  },
  {
    what: 'the empty skeleton a Mesos agent makes before its first pull',
    tree: 'empty-mesos-store',
    kind: 'empty-mesos-store',
    says: /an empty Mesos docker store \(no layer, no storedImages: nothing to check yet\) of only empty directories: gc\/, layers\/, staging\//,
    shows: ['gc/', 'layers/', 'staging/'],
  },
] as const

const HEX = 'ab'.repeat(32)

for (const { name, make } of SUBJECTS) {
  describe(`store identity on the ${name} adapter`, () => {
    let s: Subject
    let dir: string
    beforeEach(async () => {
      s = await make()
      dir = `${s.root}/target`
      await s.fs.mkdir(dir, 0o755)
    })
    afterEach(async () => {
      await s.cleanup()
    })

    for (const n of NOT_STORES) {
      it(`refuses check -y and check -p on ${n.what} with exit 8 and changes nothing, xattrs and times included`, async () => {
        if (n.tree) await makeTree(s.fs, dir, n.tree)
        // The whole temp root: nothing may appear beside the directory either (a lock, a journal).
        const before = await listTree(s.fs, s.root, { mtime: true })
        for (const mode of ['-y', '-p']) {
          const r = await cli(s.fs, ['check', '--store', dir, mode])
          expect(r.code, r.stderr).toBe(8)
          expect(r.stderr).toMatch(/is not a store layerfsck reads/)
          expect(r.stderr).toMatch(n.says)
          expect(r.stderr).toMatch(/check read no further and changed nothing/)
        }
        await expect(runCheck(s.fs, { store: dir, mode: 'yes' })).rejects.toBeInstanceOf(NotAStoreError)
        expect(await listTree(s.fs, s.root, { mtime: true })).toBe(before)
      })

      it(`answers detect on ${n.what} with exit 8 and what it looks like, as text and as JSON`, async () => {
        if (n.tree) await makeTree(s.fs, dir, n.tree)
        const before = await listTree(s.fs, s.root, { mtime: true })
        const json = await cli(s.fs, ['detect', '--store', dir, '--json'])
        expect(json.code).toBe(8)
        const doc = JSON.parse(json.stdout)
        expect(doc.schemaVersion).toBe(1)
        expect(doc.error.code).toBe('LAYERFSCK_NOT_A_STORE')
        expect(doc.error.exitCode).toBe(8)
        expect(doc.error.path).toBe(dir)
        expect(doc.error.looksLike.kind).toBe(n.kind)
        expect(doc.error.looksLike.describe).toMatch(n.says)
        expect(doc.error.looksLike.shows).toEqual(n.shows)

        const text = await cli(s.fs, ['detect', '--store', dir])
        expect(text.code).toBe(8)
        expect(text.stdout).toMatch(/not a store\s+no store layerfsck reads here/)
        // The title wraps at our own words; the names that show it come one a line.
        const lines = text.stdout.split('\n').map((l) => l.slice(13))
        expect(lines.join(' ')).toContain(doc.error.looksLike.title)
        for (const name of n.shows) expect(lines).toContain(name)
        expect(text.stdout).toMatch(/nothing was changed/)
        for (const line of text.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(80)
        expect(await listTree(s.fs, s.root, { mtime: true })).toBe(before)
      })

      it(`refuses to export a layer from ${n.what}, with exit 8`, async () => {
        if (n.tree) await makeTree(s.fs, dir, n.tree)
        const before = await listTree(s.fs, s.root, { mtime: true })
        const r = await cli(s.fs, ['export', '--store', dir, '--layer', HEX, '-o', `${s.root}/layer.tar`])
        expect(r.code).toBe(8)
        expect(r.stderr).toMatch(/is not a store layerfsck reads.*export read no further/)
        expect(await listTree(s.fs, s.root, { mtime: true })).toBe(before)
      })
    }

    it('names what each fixture looks like, with the markers that show it', async () => {
      const answers: Record<string, unknown> = {}
      for (const n of NOT_STORES) {
        const at = `${s.root}/${n.tree ?? 'empty'}`
        await s.fs.mkdir(at, 0o755)
        if (n.tree) await makeTree(s.fs, at, n.tree)
        const identity = await identifyStore(s.fs, at)
        answers[n.tree ?? 'empty'] = identity.isStore ? 'store' : identity.looksLike
      }
      expect(answers).toMatchObject({
        empty: { kind: 'empty' },
        'operator-files': { kind: 'unknown', names: ['README', 'config', 'gc/'], total: 3 },
        'operator-files-empty-storedimages': { kind: 'unknown', names: ['README', 'config', 'storedImages'], total: 3 },
        'containers-storage': { kind: 'containers-storage', drivers: ['overlay'], markers: ['storage.lock', 'overlay-images/', 'overlay-layers/layers.json'] },
        'docker-vfs-data-root': { kind: 'docker-unsupported-driver', drivers: ['vfs'], markers: ['image/vfs/layerdb'] },
        'empty-mesos-store': { kind: 'empty-mesos-store', entries: ['gc/', 'layers/', 'staging/'] },
      })
    })

    it('lets import create a store only where nothing would be lost: absent, empty, or an empty skeleton', async () => {
      const can = async (path: string): Promise<boolean | 'store'> => {
        const identity = await identifyStore(s.fs, path)
        return identity.isStore ? 'store' : identity.canCreate
      }
      expect(await can(`${s.root}/nowhere`)).toBe(true)
      expect(await can(dir)).toBe(true)
      await makeTree(s.fs, dir, 'empty-mesos-store')
      expect(await can(dir)).toBe(true)
      await writeFileAll(s.fs, `${dir}/staging/notes`, 'x')
      expect(await can(dir)).toBe(false)
      await writeFileAll(s.fs, `${s.root}/a-file`, 'x')
      expect(await can(`${s.root}/a-file`)).toBe(false)
    })

    it('takes a generated store for a store, on the evidence of its layers and its storedImages', async () => {
      await generateMesosStore(s.fs, dir, { format: '1.0.0', layers: 2 })
      const identity = await requireStore(s.fs, dir, 'check')
      expect(identity.evidence.map((e) => e.id)).toEqual(['layers-dir', 'stored-images'])
      expect(identity.evidence[0]!.describe).toMatch(/^layers\/ holds 2 layer-shaped entries/)
      const report = await detect(s.fs, { store: dir })
      expect(report.storeEvidence.map((e) => e.id)).toEqual(['layers-dir', 'stored-images'])
    })

    it('takes each piece of evidence alone for a store: a layer dir, a config blob, a storedImages, a stamp', async () => {
      const evidence = async (build: (at: string) => Promise<void>): Promise<string[]> => {
        const at = `${s.root}/s${Math.random().toString(36).slice(2)}`
        await s.fs.mkdir(at, 0o755)
        await build(at)
        const identity = await identifyStore(s.fs, at)
        return identity.isStore ? identity.evidence.map((e) => e.id) : [`not a store: ${identity.looksLike.kind}`]
      }
      expect(await evidence((at) => makeDirs(s.fs, `${at}/layers/${HEX}`))).toEqual(['layers-dir'])
      expect(await evidence((at) => makeDirs(s.fs, `${at}/layers/sha256:${HEX}`))).toEqual(['layers-dir'])
      expect(
        await evidence(async (at) => {
          await makeDirs(s.fs, `${at}/layers`)
          await writeFileAll(s.fs, `${at}/layers/sha256:${HEX}`, '{}')
        }),
      ).toEqual(['layers-dir'])
      // After a prune that kept nothing: an empty layers/ and an Images message of no image.
      expect(
        await evidence(async (at) => {
          await makeDirs(s.fs, `${at}/layers`)
          await writeFileAll(s.fs, `${at}/storedImages`, encodeStoredImages([]))
        }),
      ).toEqual(['stored-images'])
      expect(await evidence((at) => writeStamp(s.fs, at, findFormat('mesos-docker', '1.5.0')!).then(() => undefined))).toEqual(['layerfsck-stamp'])
    })

    it('takes a storedImages for evidence only when Mesos could have written it: framed, not empty, naming a layer or beside layers/', async () => {
      const isStore = async (build: (at: string) => Promise<void>): Promise<boolean> => {
        const at = `${s.root}/s${Math.random().toString(36).slice(2)}`
        await s.fs.mkdir(at, 0o755)
        await build(at)
        return (await identifyStore(s.fs, at)).isStore
      }
      const image = { reference: { repository: 'library/busybox', tag: 'latest' }, layerIds: [HEX] }
      // An empty file is a legal checkpoint after a power cut, but no sign of whose directory this is.
      expect(await isStore((at) => writeFileAll(s.fs, `${at}/storedImages`, ''))).toBe(false)
      expect(
        await isStore(async (at) => {
          await makeDirs(s.fs, `${at}/layers`)
          await writeFileAll(s.fs, `${at}/storedImages`, '')
        }),
      ).toBe(false)
      // A framed message of no image, alone: four zero bytes are too easy to make by accident.
      expect(await isStore((at) => writeFileAll(s.fs, `${at}/storedImages`, encodeStoredImages([])))).toBe(false)
      expect(await isStore((at) => writeFileAll(s.fs, `${at}/storedImages`, encodeStoredImages([image])))).toBe(true)
      // Framing damage: a prefix that claims more than follows, or bytes after the message.
      const framed = encodeStoredImages([image])
      expect(await isStore((at) => writeFileAll(s.fs, `${at}/storedImages`, framed.subarray(0, framed.length - 1)))).toBe(false)
      expect(await isStore((at) => writeFileAll(s.fs, `${at}/storedImages`, Buffer.concat([framed, Buffer.from([0])])))).toBe(false)
    })

    it('does not let an empty storedImages make check -p remove an empty config beside it', async () => {
      await makeTree(s.fs, dir, 'operator-files-empty-storedimages')
      const before = await listTree(s.fs, s.root, { mtime: true })
      const r = await cli(s.fs, ['check', '--store', dir, '-p'])
      expect(r.code, r.stderr).toBe(8)
      expect(r.stderr).toMatch(/is not a store layerfsck reads/)
      expect(await s.fs.lstat(`${dir}/config`)).toBeDefined()
      expect(await listTree(s.fs, s.root, { mtime: true })).toBe(before)
    })

    it('does not take look-alikes for evidence: a layer-named file, a storedImages of text, layers of the wrong shape', async () => {
      await makeDirs(s.fs, `${dir}/layers/not-a-layer`)
      await writeFileAll(s.fs, `${dir}/layers/${HEX}`, 'a file, not a layer dir')
      await writeFileAll(s.fs, `${dir}/storedImages`, 'a list of images, by hand\n')
      const identity = await identifyStore(s.fs, dir)
      expect(identity.isStore).toBe(false)
      expect(!identity.isStore && identity.looksLike.kind).toBe('unknown')
    })

    it('escapes names it lists for people and keeps them exact for JSON', async () => {
      await writeFileAll(s.fs, `${dir}/x\n  error: fake`, '')
      await writeFileAll(s.fs, `${dir}/caf\udce9`, '')
      const identity = await identifyStore(s.fs, dir)
      if (identity.isStore || identity.looksLike.kind !== 'unknown') throw new Error('expected an unknown directory')
      expect(identity.looksLike.names).toEqual(['caf\udce9', 'x\n  error: fake'])
      expect(identity.looksLike.describe).toContain('caf\\351, x\\n  error: fake')
      const r = await cli(s.fs, ['detect', '--store', dir])
      expect(r.stdout.split('\n').map((l) => l.trim())).toContain('x\\n  error: fake')
      expect(r.stdout).not.toMatch(/^\s*error: fake/m)
      expect(r.stderr).not.toMatch(/^\s*error: fake/m)
      expect(JSON.parse((await cli(s.fs, ['detect', '--store', dir, '--json'])).stdout).error.looksLike.names).toEqual(['caf\udce9', 'x\n  error: fake'])
    })

    it('lists only the first few names of a big directory, and how many there are', async () => {
      for (let i = 0; i < 12; i++) await writeFileAll(s.fs, `${dir}/file-${String(i).padStart(2, '0')}.txt`, '')
      const identity = await identifyStore(s.fs, dir)
      if (identity.isStore || identity.looksLike.kind !== 'unknown') throw new Error('expected an unknown directory')
      expect(identity.looksLike.names).toHaveLength(5)
      expect(identity.looksLike.total).toBe(12)
      expect(identity.looksLike.describe).toMatch(/file-04\.txt, … \(12 entries\)/)
    })
  })
}
