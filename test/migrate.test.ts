import { execFileSync } from 'node:child_process'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCheck } from '../src/check/run.js'
import { LayerfsckError } from '../src/errors.js'
import { importImage } from '../src/families/mesos/import.js'
import { migrate, MigratePreflightError, type MigrateEvent, type MigrateOptions, type MigrateReport } from '../src/families/mesos/migrate.js'
import { generateMesosStore } from '../src/families/mesos/testing.js'
import { readStamp } from '../src/format/stamp.js'
import { MIGRATIONS } from '../migrations/index.js'
import { decodeContainerLayers, encodeContainerLayers } from '../src/families/mesos/metadata/container-layers.js'
import { readFileLimited, readTextLimited, writeFileAll } from '../src/fs/io.js'
import type { MemoryFs } from '../src/fs/memory.js'
import type { FsPort } from '../src/fs/port.js'
import { removeTree } from '../src/fs/remove.js'
import { treeSize } from '../src/fs/tree-size.js'
import { walkTree } from '../src/fs/walk.js'
import { cloneTree, compareLayerTrees } from '../src/layer/clone.js'
import { listTree } from '../src/testing/tree-spec.js'
import { diskSubject, isRoot, memorySubject, rootSkipReason, SUBJECTS, type Subject } from './support/adapters.js'
import { runCli } from './support/cli.js'
import { imagesOn, mergedByCopy, shape, WH_LAYERS, WH_THIRD_MERGED } from './support/fixtures.js'

const FIXED_NOW = (): Date => new Date('2026-06-01T00:00:00Z')
/** Reports list layers in id order. */
const SORTED = [...WH_LAYERS].sort()
/**
 * What every changing command does first, whether it changes anything or not: it makes the store lock's file.
 * Listings that prove "nothing changed" start after it (a migrate to copy, which these aufs stores need nothing for).
 */
async function withLock(fs: FsPort, store: string): Promise<void> {
  expect((await migrate(fs, { store, toBackend: 'copy' })).nothingToDo).toBe(true)
}
const AUFS_DIR = 'rootfs'
const OVERLAY_DIR = 'rootfs.overlay'


async function importAufs(s: Subject, store: string): Promise<void> {
  await importImage(s.fs, { store, backend: 'aufs', image: `oci:${await imagesOn(s.fs)}/oci-overlay:wh-third`, createStore: true, preserveOwners: s.privileged, now: FIXED_NOW })
}

const run = (fs: FsPort, options: MigrateOptions) => migrate(fs, { now: FIXED_NOW, ...options })

/** An agent work dir with no container in it: what --prune-source needs to know that nothing reads the old variants. */
async function emptyWorkDir(fs: FsPort, root: string): Promise<string> {
  const workDir = `${root}/agent`
  await fs.mkdir(workDir, 0o755)
  await fs.mkdir(`${workDir}/provisioner`, 0o755)
  return workDir
}

const thrown = async (p: Promise<unknown>): Promise<LayerfsckError> => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(LayerfsckError)
  return err as LayerfsckError
}

for (const { name, make } of SUBJECTS) {
  describe(`layerfsck migrate on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    it('builds the overlay variant of every layer of an aufs store, files hard-linked, and check finds it clean', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const store = `${s.root}/store`
      await importAufs(s, store)
      const events: MigrateEvent[] = []
      const report = await run(s.fs, { store, toBackend: 'overlay', onEvent: (e) => events.push(e) })
      expect(report.exitCode).toBe(0)
      expect(report.layers.map((l) => [l.id, l.action, l.status, l.from?.variant, l.to.variant])).toEqual(
        SORTED.map((id) => [id, 'convert', 'converted', AUFS_DIR, OVERLAY_DIR]),
      )
      const byId = new Map(report.layers.map((l) => [l.id, l]))
      expect(WH_LAYERS.map((id) => [byId.get(id)!.counts?.whiteouts, byId.get(id)!.counts?.opaqueDirs])).toEqual([[0, 0], [2, 1], [2, 0]])
      expect(events.filter((e) => e.type === 'layer').map((e) => (e as { status: string }).status)).toEqual(['converted', 'converted', 'converted'])
      expect(report.stamped).toBe('1.8.0')

      for (const id of WH_LAYERS) {
        const aufs = `${store}/layers/${id}/${AUFS_DIR}`
        const overlay = `${store}/layers/${id}/${OVERLAY_DIR}`
        let files = 0
        for await (const e of walkTree(s.fs, overlay)) {
          if (e.kind !== 'file') continue
          files += 1
          const [a, b] = [await s.fs.lstat(`${aufs}/${e.rel}`), await s.fs.lstat(e.path)]
          // The same inode under two names: no data was copied.
          expect(b!.nlink, e.rel).toBeGreaterThanOrEqual(2)
          expect(b!.ino, e.rel).toBe(a!.ino)
        }
        expect(files).toBeGreaterThan(0)
        expect(await compareLayerTrees(s.fs, aufs, 'aufs', overlay, 'overlay', { data: true })).toEqual([])
      }
      const rootfses = WH_LAYERS.map((id) => `${store}/layers/${id}/${OVERLAY_DIR}`)
      expect(await mergedByCopy(s.fs, rootfses, 'overlay', `${s.root}/merged`)).toEqual(WH_THIRD_MERGED)
      expect(await readTextLimited(s.fs, `${s.root}/merged/etc/app.conf`)).toBe('key=v2\n')
      expect(await s.fs.readdir(`${store}/staging`)).toEqual([])

      const check = await runCheck(s.fs, { store, backend: 'overlay' })
      expect(check.passes.flatMap((p) => p.findings.map((f) => `${f.code} ${f.path}`))).toEqual([])
      expect(check.exitCode).toBe(0)

      // Done is done: neither a second run nor a dry run finds anything, and the store does not change.
      const before = await listTree(s.fs, store, { mtime: true })
      const again = await run(s.fs, { store, toBackend: 'overlay' })
      expect([again.nothingToDo, again.exitCode, again.totals.converted, again.stamped]).toEqual([true, 0, 0, undefined])
      const dry = await run(s.fs, { store, toBackend: 'overlay', dryRun: true })
      expect([dry.nothingToDo, dry.exitCode, dry.layers.map((l) => l.status)]).toEqual([true, 0, ['present', 'present', 'present']])
      expect(await listTree(s.fs, store, { mtime: true })).toBe(before)
    })

    it('plans a dry run per layer with its counts and changes nothing', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const store = `${s.root}/store`
      await importAufs(s, store)
      await withLock(s.fs, store)
      const before = await listTree(s.fs, store, { mtime: true })
      const dry = await run(s.fs, { store, toBackend: 'overlay', dryRun: true, copy: true })
      expect(dry.layers.map((l) => l.status)).toEqual(['planned', 'planned', 'planned'])
      const byId = new Map(dry.layers.map((l) => [l.id, l]))
      expect(WH_LAYERS.map((id) => [byId.get(id)!.counts?.whiteouts, byId.get(id)!.counts?.opaqueDirs])).toEqual([[0, 0], [2, 1], [2, 0]])
      expect(dry.layers.every((l) => (l.counts?.entries ?? 0) > 0 && (l.counts?.bytes ?? 0) > 0)).toBe(true)
      expect([dry.nothingToDo, dry.exitCode, dry.stamped]).toEqual([false, 0, undefined])
      expect(dry.next[0]).toContain(`layerfsck migrate --store ${store} --to-backend overlay`)
      expect(await listTree(s.fs, store, { mtime: true })).toBe(before)
    })

    it('adds no file data to a 200-layer generated store without --copy, and all of it with --copy', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const shape = { layers: 200, filesPerLayer: 5, fileSize: 512, backends: ['aufs' as const] }
      const linked = `${s.root}/linked`
      await generateMesosStore(s.fs, linked, shape)
      const before = await treeSize(s.fs, `${linked}/layers`)
      expect((await run(s.fs, { store: linked, toBackend: 'overlay' })).totals.converted).toBe(200)
      const after = await treeSize(s.fs, `${linked}/layers`)
      // Each inode counted once: the new variants share every byte, and every file, with the old ones.
      expect([after.bytes, after.files]).toEqual([before.bytes, before.files])
      const copied = `${s.root}/copied`
      await generateMesosStore(s.fs, copied, shape)
      const report = await run(s.fs, { store: copied, toBackend: 'overlay', copy: true })
      expect((await treeSize(s.fs, `${copied}/layers`)).bytes).toBe(before.bytes + report.totals.copiedBytes)
      expect(report.totals.copiedBytes).toBeGreaterThan(200 * 5 * 512)
    }, 120_000)

    it('copies the data with --copy, so no file of the new variant is shared with the source', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const store = `${s.root}/store`
      await importAufs(s, store)
      const report = await run(s.fs, { store, toBackend: 'overlay', copy: true })
      // The one hard-link pair inside the image stays a pair; nothing links to the source.
      expect(report.totals.hardLinked).toBe(1)
      expect(report.totals.copiedBytes).toBeGreaterThan(0)
      for (const id of WH_LAYERS) {
        for await (const e of walkTree(s.fs, `${store}/layers/${id}/${OVERLAY_DIR}`)) {
          if (e.kind !== 'file') continue
          const [a, b] = [await s.fs.lstat(`${store}/layers/${id}/${AUFS_DIR}/${e.rel}`), await s.fs.lstat(e.path)]
          expect(b!.ino, e.rel).not.toBe(a!.ino)
        }
      }
      expect(await compareLayerTrees(s.fs, `${store}/layers/${WH_LAYERS[1]}/${AUFS_DIR}`, 'aufs', `${store}/layers/${WH_LAYERS[1]}/${OVERLAY_DIR}`, 'overlay', { data: true })).toEqual([])
    })

    it('migrates back to aufs after --prune-source and gives the same trees and the same merged rootfs', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const store = `${s.root}/store`
      await importAufs(s, store)
      await s.fs.mkdir(`${s.root}/orig`, 0o755)
      for (const [i, id] of WH_LAYERS.entries()) await cloneTree(s.fs, `${store}/layers/${id}/${AUFS_DIR}`, `${s.root}/orig/${i}`, { copy: true })

      const there = await run(s.fs, { store, workDir: await emptyWorkDir(s.fs, s.root), toBackend: 'overlay', pruneSource: true })
      expect(there.layers.map((l) => [l.status, l.pruned])).toEqual(WH_LAYERS.map(() => ['converted', [AUFS_DIR]]))
      for (const id of WH_LAYERS) expect((await s.fs.readdir(`${store}/layers/${id}`)).map((e) => e.name)).not.toContain(AUFS_DIR)

      const back = await run(s.fs, { store, toBackend: 'aufs' })
      expect(back.layers.map((l) => [l.status, l.from?.variant, l.from?.whiteouts])).toEqual(WH_LAYERS.map(() => ['converted', OVERLAY_DIR, 'overlay']))
      for (const [i, id] of WH_LAYERS.entries()) {
        expect(await compareLayerTrees(s.fs, `${s.root}/orig/${i}`, 'aufs', `${store}/layers/${id}/${AUFS_DIR}`, 'aufs', { data: true }), id).toEqual([])
      }
      const rootfses = WH_LAYERS.map((id) => `${store}/layers/${id}/${AUFS_DIR}`)
      expect(await mergedByCopy(s.fs, rootfses, 'aufs', `${s.root}/merged`)).toEqual(WH_THIRD_MERGED)
      const check = await runCheck(s.fs, { store, backend: 'aufs' })
      expect(check.exitCode).toBe(0)
    })

    it('moves a Mesos 1.0.0-style store to the newest format for overlay, and check finds it clean', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const store = `${s.root}/store`
      const g = await generateMesosStore(s.fs, store, { format: '1.0.0', layers: 3 })
      const report = await run(s.fs, { store, toBackend: 'overlay' })
      expect([report.from.version, report.to.version, report.exitCode]).toEqual(['1.0.0', '1.8.0', 0])
      expect(report.layers.map((l) => [l.status, l.from?.variant, l.to.variant])).toEqual(g.layerIds.map(() => ['converted', AUFS_DIR, OVERLAY_DIR]))
      expect(report.migrations.map((m) => [m.id, m.status])).toEqual([['0001-convert-1.1.0-whiteouts', 'done']])
      const stamp = await readStamp(s.fs, store)
      expect(stamp.state === 'ok' && stamp.stamp.version).toBe('1.8.0')
      const check = await runCheck(s.fs, { store, backend: 'overlay' })
      expect(check.passes.flatMap((p) => p.findings.map((f) => `${f.code} ${f.path}`))).toEqual([])
      expect(check.exitCode).toBe(0)
    })

    it('converts the aufs whiteouts a 1.1.0 agent left in the overlay variant, in place, and check finds it clean', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const store = `${s.root}/store`
      const g = await generateMesosStore(s.fs, store, { format: '1.1.0', backends: ['overlay'], layers: 3, whiteoutsPerLayer: 2, opaquePerLayer: 1 })
      expect(await listTree(s.fs, store)).toContain(`${OVERLAY_DIR}/usr/d000/.wh.f0000 file`)
      const dry = await run(s.fs, { store, toBackend: 'overlay', dryRun: true })
      expect(dry.migrations.map((m) => m.status)).toEqual(['pending'])
      expect(dry.nothingToDo).toBe(false)

      const report = await run(s.fs, { store, toBackend: 'overlay' })
      expect(report.layers.map((l) => l.status)).toEqual(g.layerIds.map(() => 'present'))
      expect(report.migrations.map((m) => [m.id, m.status])).toEqual([['0001-convert-1.1.0-whiteouts', 'applied']])
      expect(report.stamped).toBe('1.8.0')
      const tree = await listTree(s.fs, store)
      expect(tree).not.toMatch(/\.wh\./)
      expect(tree).toContain(`${OVERLAY_DIR}/usr/d000/f0000 char mode=0000 uid=0 gid=0 rdev=0:0`)
      expect(tree).toContain('xattr.trusted.overlay.opaque=y')
      const check = await runCheck(s.fs, { store, backend: 'overlay' })
      expect(check.passes.flatMap((p) => p.findings.map((f) => `${f.code} ${f.path}`))).toEqual([])
      expect((await run(s.fs, { store, toBackend: 'overlay', dryRun: true })).nothingToDo).toBe(true)
    })

    it('lets 0001 convert the 1.1.0 overlay trees it found, and not read again the trees this run built and verified', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const store = `${s.root}/store`
      const g = await generateMesosStore(s.fs, store, { format: '1.1.0', backends: ['aufs', 'overlay'], layers: 3, whiteoutsPerLayer: 2, opaquePerLayer: 1 })
      // The middle layer was pulled by the aufs backend only: migrate builds its rootfs.overlay.
      const built = `${store}/layers/${g.layerIds[1]}/${OVERLAY_DIR}`
      await removeTree(s.fs, built)
      const listed: string[] = []
      const watching: FsPort = new Proxy(s.fs, {
        get(target, prop, receiver) {
          const real = Reflect.get(target, prop, receiver)
          if (prop !== 'readdir' && prop !== 'listTree') return typeof real === 'function' ? real.bind(target) : real
          return (path: string, ...rest: unknown[]) => {
            listed.push(path)
            return (real as (...a: unknown[]) => unknown).call(target, path, ...rest)
          }
        },
      })
      const report = await run(watching, { store, toBackend: 'overlay' })
      expect(g.layerIds.map((id) => report.layers.find((l) => l.id === id)?.status)).toEqual(['present', 'converted', 'present'])
      expect(report.migrations.map((m) => [m.id, m.status])).toEqual([['0001-convert-1.1.0-whiteouts', 'applied']])
      expect(listed.filter((p) => p === built || p.startsWith(`${built}/`))).toEqual([])
      const tree = await listTree(s.fs, store)
      expect(tree).not.toMatch(/rootfs\.overlay[^\n]*\.wh\./)
      const check = await runCheck(s.fs, { store, backend: 'overlay' })
      expect(check.passes.flatMap((p) => p.findings.map((f) => `${f.code} ${f.path}`))).toEqual([])
    })

    it('keeps a layer whose converted copy does not match its source, and exits 4', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const store = `${s.root}/store`
      await importAufs(s, store)
      const victim = WH_LAYERS[1]
      const before = await listTree(s.fs, `${store}/layers/${victim}`, { mtime: true })
      // A file that changes between the clone and the verification: the staged name gets other bytes.
      let tampered = ''
      const tampering: FsPort = new Proxy(s.fs, {
        get(target, prop, receiver) {
          if (prop !== 'linkNames') return Reflect.get(target, prop, receiver)
          return async (from: string, into: string, names: string[]) => {
            const answers = await target.linkNames(from, into, names)
            const name = names.find((n) => n.endsWith('.txt'))
            if (tampered === '' && from.startsWith(`${store}/layers/${victim}/`) && name !== undefined) {
              tampered = `${from}/${name}`
              const size = (await target.lstat(tampered))!.size
              await target.unlink(`${into}/${name}`)
              await writeFileAll(target, `${into}/${name}`, Buffer.alloc(size, 0x21))
            }
            return answers
          }
        },
      })
      const report = await run(tampering, { store, toBackend: 'overlay' })
      expect(tampered).not.toBe('')
      const failed = report.layers.find((l) => l.id === victim)!
      expect(failed.status).toBe('verify-failed')
      expect(failed.mismatches?.length).toBeGreaterThan(0)
      expect(failed.reason).toMatch(/does not match its source/)
      expect(report.layers.filter((l) => l.id !== victim).map((l) => l.status)).toEqual(['converted', 'converted'])
      expect(report.next.some((n) => n.startsWith(`layerfsck check --store ${store}`))).toBe(true)
      expect(report.exitCode).toBe(4)
      expect(await listTree(s.fs, `${store}/layers/${victim}`, { mtime: true })).toBe(before)
      expect(await s.fs.readdir(`${store}/staging`)).toEqual([])
      // The next run, undisturbed, converts it.
      const again = await run(s.fs, { store, toBackend: 'overlay' })
      expect(again.layers.map((l) => [l.id, l.status])).toEqual(SORTED.map((id) => [id, id === victim ? 'converted' : 'present']))
      expect(again.exitCode).toBe(0)
    })

    it('reports with --strategy ignore what the agent pulls again, and changes nothing', async () => {
      const store = `${s.root}/store`
      await importAufs(s, store)
      const before = await listTree(s.fs, store, { mtime: true })
      const report = await run(s.fs, { store, toBackend: 'overlay', strategy: 'ignore' })
      expect(report.images).toHaveLength(1)
      const [image] = report.images
      expect(image!.reference).toBe('wh-third:latest')
      expect(image!.pullAgain.map((l) => l.id)).toEqual([...WH_LAYERS])
      expect(image!.bytes).toBeGreaterThan(0)
      expect(image!.bytes).toBe(image!.pullAgain.reduce((n, l) => n + (l.bytes ?? 0), 0))
      expect([report.exitCode, report.stamped]).toEqual([0, undefined])
      expect(await listTree(s.fs, store, { mtime: true })).toBe(before)
      // For the backend the layers are there for, nothing is pulled.
      const aufs = await run(s.fs, { store, toBackend: 'copy', strategy: 'ignore' })
      expect([aufs.nothingToDo, aufs.images[0]!.pullAgain]).toEqual([true, []])
    })

    it('lists the containers made under the old backend, names gc, and keeps the variant they read when pruning', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const store = `${s.root}/store`
      const workDir = `${s.root}/agent`
      const g = await generateMesosStore(s.fs, store, { backends: ['aufs'], layers: 2, workDir, containers: 1, nested: 1 })
      const report = await run(s.fs, { store, workDir, toBackend: 'overlay', pruneSource: true })
      expect(report.containers.map((c) => [c.key, c.backends])).toEqual(g.containerIds.map((ids) => [ids.join('/'), ['aufs']]))
      expect(report.next.some((n) => n.startsWith(`layerfsck gc --store ${store} --work-dir ${workDir}`))).toBe(true)
      // Their layers checkpoints name every layer's aufs variant: pruning it would pull it from under them.
      expect(report.layers.map((l) => [l.status, l.pruned, l.kept.map((k) => k.variant)])).toEqual(g.layerIds.map(() => ['converted', [], [AUFS_DIR]]))
      expect(report.exitCode).toBe(0)
      for (const id of g.layerIds) expect((await s.fs.readdir(`${store}/layers/${id}`)).map((e) => e.name).sort()).toEqual([AUFS_DIR, OVERLAY_DIR])
      const dry = await run(s.fs, { store, workDir, toBackend: 'overlay', pruneSource: true, dryRun: true })
      expect(dry.layers.map((l) => l.kept.map((k) => k.variant))).toEqual(g.layerIds.map(() => [AUFS_DIR]))
      expect(dry.layers[0]!.kept[0]!.reason).toMatch(/container .* may still read it/)
    })

    it('refuses --prune-source without --work-dir before changing anything, exit 16, and says why', async () => {
      const store = `${s.root}/store`
      await generateMesosStore(s.fs, store, { backends: ['aufs'], layers: 1 })
      await withLock(s.fs, store)
      const before = await listTree(s.fs, store, { mtime: true })
      for (const dryRun of [false, true]) {
        const err = await thrown(run(s.fs, { store, toBackend: 'overlay', pruneSource: true, dryRun }))
        expect([err.code, err.exitCode]).toEqual(['LAYERFSCK_USAGE', 16])
        expect(err.message).toMatch(/--prune-source needs --work-dir: .*container/)
      }
      expect(await listTree(s.fs, store, { mtime: true })).toBe(before)
    })

    it('keeps a variant a container checkpoint names through a symlink to the store', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const real = `${s.root}/real-store`
      const link = `${s.root}/store`
      const workDir = `${s.root}/agent`
      const g = await generateMesosStore(s.fs, real, { backends: ['aufs'], layers: 2, workDir, containers: 1 })
      await s.fs.symlink(real, link)
      // The checkpoint names every path through the link, as an agent whose --docker_store_dir is a symlink writes it.
      const checkpoint = `${workDir}/provisioner/containers/${g.containerIds[0]!.join('/containers/')}/layers`
      const decoded = decodeContainerLayers(await readFileLimited(s.fs, checkpoint))
      expect(decoded.problems).toEqual([])
      const paths = decoded.value.paths.map((p) => p.replace(real, link))
      expect(paths.every((p) => p.startsWith(`${link}/layers/`))).toBe(true)
      await writeFileAll(s.fs, checkpoint, encodeContainerLayers({ ...decoded.value, paths }))
      const report = await run(s.fs, { store: link, workDir, toBackend: 'overlay', pruneSource: true })
      expect(report.layers.map((l) => [l.status, l.pruned, l.kept.map((k) => k.variant)])).toEqual(g.layerIds.map(() => ['converted', [], [AUFS_DIR]]))
      for (const id of g.layerIds) expect((await s.fs.readdir(`${real}/layers/${id}`)).map((e) => e.name).sort()).toEqual([AUFS_DIR, OVERLAY_DIR])
    })

    it('keeps a variant an overlay mount reads through a links symlink, and prunes the others', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const store = `${s.root}/store`
      const g = await generateMesosStore(s.fs, store, { backends: ['aufs'], layers: 3 })
      const [a, b, c] = g.layerIds as [string, string, string]
      // Mesos mounts by short symlinks in a `links` dir; the mount table names those, not the layers.
      const links = `${s.root}/links`
      await s.fs.mkdir(links, 0o755)
      await s.fs.symlink(`${store}/layers/${a}/${AUFS_DIR}`, `${links}/0`)
      await s.fs.symlink(`${store}/layers/${b}/${AUFS_DIR}`, `${links}/1`)
      const mnt = `${s.root}/mnt`
      await s.fs.mkdir(mnt, 0o755)
      const lowerdir = `lowerdir=${links}/0:${links}/1`
      if (s.fs.kind === 'memory') {
        ;(s.fs as MemoryFs).mount({ mountPoint: mnt, fsType: 'overlay', source: 'overlay', superOptions: ['ro', lowerdir], describeOnly: true })
      } else {
        try {
          execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', lowerdir, mnt], { stdio: 'pipe' })
        } catch (err) {
          return skip(`this kernel refused an overlay mount here: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`)
        }
      }
      try {
        const report = await run(s.fs, { store, workDir: await emptyWorkDir(s.fs, s.root), toBackend: 'overlay', pruneSource: true })
        const byId = new Map(report.layers.map((l) => [l.id, l]))
        expect([a, b, c].map((id) => [byId.get(id)!.pruned, byId.get(id)!.kept.map((k) => k.variant)])).toEqual([
          [[], [AUFS_DIR]],
          [[], [AUFS_DIR]],
          [[AUFS_DIR], []],
        ])
        expect(byId.get(a)!.kept[0]!.reason).toContain(`overlay mount at ${mnt}`)
        expect((await s.fs.readdir(`${store}/layers/${a}`)).map((e) => e.name).sort()).toEqual([AUFS_DIR, OVERLAY_DIR])
        expect((await s.fs.readdir(`${store}/layers/${c}`)).map((e) => e.name)).toEqual([OVERLAY_DIR])
        expect(await s.fs.readdir(`${store}/staging`)).toEqual([])
      } finally {
        if (s.fs.kind === 'disk') execFileSync('umount', [mnt])
      }
    })

    it('refuses a layer holding a directory named like a whiteout, which the overlay form cannot express, and exits 4', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const store = `${s.root}/store`
      const g = await generateMesosStore(s.fs, store, { backends: ['aufs'], layers: 2 })
      const [odd, fine] = g.layerIds as [string, string]
      await s.fs.mkdir(`${store}/layers/${odd}/${AUFS_DIR}/.wh.odd`, 0o755)
      await withLock(s.fs, store)
      const before = await listTree(s.fs, `${store}/layers/${odd}`, { mtime: true })
      const report = await run(s.fs, { store, toBackend: 'overlay' })
      const byId = new Map(report.layers.map((l) => [l.id, l]))
      expect(byId.get(odd)!.status).toBe('refused')
      expect(byId.get(odd)!.reason).toMatch(/\.wh\.odd: .*left as it was/)
      expect(byId.get(fine)!.status).toBe('converted')
      expect(report.exitCode).toBe(4)
      expect(await listTree(s.fs, `${store}/layers/${odd}`, { mtime: true })).toBe(before)
      expect(await s.fs.readdir(`${store}/staging`)).toEqual([])
    })

    it('keeps the rootfs of a 1.1.0 store with --prune-source until 0001 has converted rootfs.overlay', async ({ skip }) => {
      if (!s.privileged) return skip(rootSkipReason())
      const store = `${s.root}/store`
      const g = await generateMesosStore(s.fs, store, { format: '1.1.0', backends: ['aufs', 'overlay'], layers: 2, whiteoutsPerLayer: 1, opaquePerLayer: 1 })
      const workDir = await emptyWorkDir(s.fs, s.root)
      const [first] = MIGRATIONS
      // 0001 refused (a stand-in for any reason it cannot finish): rootfs.overlay still holds aufs whiteouts.
      const refusing: FsPort = new Proxy(s.fs, {
        get(target, prop, receiver) {
          if (prop !== 'mknod') return Reflect.get(target, prop, receiver)
          return async () => {
            throw Object.assign(new Error('EPERM: refused by the test'), { code: 'EPERM' })
          }
        },
      })
      const blocked: unknown = await run(refusing, { store, workDir, toBackend: 'overlay', pruneSource: true }).catch((e: unknown) => e)
      if (!(blocked instanceof Error)) {
        const r = blocked as MigrateReport
        expect(r.migrations.map((m) => m.status)).not.toContain('applied')
        expect(r.layers.map((l) => [l.pruned, l.kept.map((k) => k.variant)])).toEqual(g.layerIds.map(() => [[], [AUFS_DIR]]))
        expect(r.exitCode).toBe(4)
      }
      expect(await first!.isDone({ fs: s.fs, store })).toBe(false)
      const variants = async (id: string) => (await s.fs.readdir(`${store}/layers/${id}`)).map((e) => e.name).filter((n) => n.startsWith(AUFS_DIR)).sort()
      for (const id of g.layerIds) expect(await variants(id)).toEqual([AUFS_DIR, OVERLAY_DIR])
      // Undisturbed, the same run converts them and then prunes.
      const report = await run(s.fs, { store, workDir, toBackend: 'overlay', pruneSource: true })
      expect(report.migrations.map((m) => [m.id, m.status])).toEqual([[first!.id, 'applied']])
      expect(report.layers.map((l) => l.pruned)).toEqual(g.layerIds.map(() => [AUFS_DIR]))
      expect(report.exitCode).toBe(0)
      for (const id of g.layerIds) expect(await variants(id)).toEqual([OVERLAY_DIR])
    })

    it('refuses to move a store to an older format, and a format it does not know, before changing anything', async () => {
      const store = `${s.root}/store`
      await generateMesosStore(s.fs, store, { backends: ['aufs'], layers: 1 })
      await withLock(s.fs, store)
      const before = await listTree(s.fs, store)
      const down = await thrown(run(s.fs, { store, toBackend: 'aufs', toFormat: '1.1.1' }))
      expect([down.code, down.exitCode]).toEqual(['LAYERFSCK_FORMAT_DOWNGRADE', 8])
      expect(down.message).toContain('1.8.0')
      const unknown = await thrown(run(s.fs, { store, toBackend: 'aufs', toFormat: '9.9.9' }))
      expect(unknown.exitCode).toBe(16)
      expect(await listTree(s.fs, store)).toBe(before)
    })
  })
}

describe('migrate preflight', () => {
  async function aufsStore(fs: MemoryFs): Promise<string> {
    const store = '/work/store'
    await generateMesosStore(fs, store, { backends: ['aufs'], layers: 2 })
    await withLock(fs, store)
    return store
  }

  it('refuses before any change when /proc/filesystems lists no overlay, exit 8, and a dry run shows why', async () => {
    const { fs } = await memorySubject()
    const store = await aufsStore(fs)
    await writeFileAll(fs, '/work/filesystems', 'nodev\tsysfs\nnodev\tproc\n\text4\n')
    const before = await listTree(fs, store, { mtime: true })
    const err = await thrown(run(fs, { store, toBackend: 'overlay', procFilesystems: '/work/filesystems' }))
    expect(err).toBeInstanceOf(MigratePreflightError)
    expect(err.exitCode).toBe(8)
    expect(err.message).toContain('does not list overlay')
    expect(await listTree(fs, store, { mtime: true })).toBe(before)
    const dry = await run(fs, { store, toBackend: 'overlay', procFilesystems: '/work/filesystems', dryRun: true })
    expect(dry.exitCode).toBe(8)
    expect(dry.preflight.checks.find((c) => c.id === 'kernel-filesystem')?.status).toBe('blocker')
    // The same host may still move the store to copy, which mounts nothing.
    expect((await run(fs, { store, toBackend: 'copy', procFilesystems: '/work/filesystems', dryRun: true })).preflight.blockers).toEqual([])
  })

  it('refuses a store on a filesystem without d_type, and one overlayfs cannot sit on', async () => {
    for (const [mount, check] of [
      [{ mountPoint: '/work', fsType: 'xfs', dtype: false, describeOnly: true }, 'store-dtype'],
      [{ mountPoint: '/work', fsType: 'btrfs', describeOnly: true }, 'store-filesystem'],
    ] as const) {
      const { fs } = await memorySubject()
      const store = await aufsStore(fs)
      fs.mount(mount)
      await withLock(fs, store)
      const before = await listTree(fs, store, { mtime: true })
      const err = await thrown(run(fs, { store, toBackend: 'overlay' }))
      expect([err.exitCode, (err as MigratePreflightError).preflight.checks.find((c) => c.id === check)?.status]).toEqual([8, 'blocker'])
      expect(await listTree(fs, store, { mtime: true })).toBe(before)
    }
  })

  it('refuses a plan that needs more inodes or bytes than the store\'s filesystem has free, and says how many', async () => {
    for (const [free, says] of [
      [{ bytes: 2 ** 30, inodes: 5 }, /inodes, and 5 are free/],
      [{ bytes: 1000, inodes: 1e6 }, /bytes, and 1000 are free/],
    ] as const) {
      const { fs } = await memorySubject()
      const store = await aufsStore(fs)
      fs.mount({ mountPoint: '/work', fsType: 'ext4', free, describeOnly: true })
      await withLock(fs, store)
      const before = await listTree(fs, store, { mtime: true })
      await writeFileAll(fs, '/filesystems', 'nodev\toverlay\n\text4\n')
      const err = await thrown(run(fs, { store, toBackend: 'overlay', copy: true, procFilesystems: '/filesystems' }))
      expect([err.exitCode, (err as MigratePreflightError).preflight.checks.find((c) => c.id === 'space')?.status]).toEqual([8, 'blocker'])
      expect(err.message).toMatch(says)
      expect(await listTree(fs, store, { mtime: true })).toBe(before)
    }
  })

  it('refuses when staging/ is another filesystem than layers/, where hard links and renames fail, before any change', async () => {
    const { fs } = await memorySubject()
    const store = await aufsStore(fs)
    if ((await fs.lstat(`${store}/staging`)) === undefined) await fs.mkdir(`${store}/staging`, 0o755)
    fs.mount({ mountPoint: `${store}/staging`, fsType: 'tmpfs', source: 'tmpfs' })
    const before = await listTree(fs, store, { mtime: true })
    const err = await thrown(run(fs, { store, toBackend: 'overlay' }))
    expect(err).toBeInstanceOf(MigratePreflightError)
    expect([err.exitCode, (err as MigratePreflightError).preflight.checks.find((c) => c.id === 'staging-device')?.status]).toEqual([8, 'blocker'])
    expect(err.message).toMatch(/different filesystems.*EXDEV/)
    expect(await listTree(fs, store, { mtime: true })).toBe(before)
    // Where nothing is built or removed, staging/ is not used and nothing blocks.
    expect((await run(fs, { store, toBackend: 'copy', dryRun: true })).preflight.checks.find((c) => c.id === 'staging-device')?.status).toBe('skipped')
  })

  it('refuses to make overlay whiteouts without CAP_MKNOD and CAP_SYS_ADMIN', async () => {
    const { fs } = await memorySubject({ uid: 1000 })
    const store = await aufsStore(fs)
    const before = await listTree(fs, store, { mtime: true })
    const err = await thrown(run(fs, { store, toBackend: 'overlay' }))
    expect(err.exitCode).toBe(8)
    expect(err.message).toMatch(/CAP_MKNOD .* and CAP_SYS_ADMIN/)
    expect(await listTree(fs, store, { mtime: true })).toBe(before)
  })
})

describe('the kernel overlayfs over a migrated store', () => {
  it('mounts the converted layers to exactly the merged wh-third tree', async ({ skip }) => {
    if (!isRoot) return skip('needs root to mount overlayfs')
    const s = await diskSubject()
    try {
      const store = `${s.root}/store`
      await importAufs(s, store)
      const report = await run(s.fs, { store, workDir: await emptyWorkDir(s.fs, s.root), toBackend: 'overlay', pruneSource: true })
      expect(report.exitCode).toBe(0)
      // Layer ids hold colons, which lowerdir= uses as its separator: short symlinks, as Mesos' overlay backend makes.
      const links = `${s.root}/links`
      await s.fs.mkdir(links, 0o755)
      for (const [i, id] of WH_LAYERS.entries()) await s.fs.symlink(`${store}/layers/${id}/${OVERLAY_DIR}`, `${links}/${i}`)
      const lower = WH_LAYERS.map((_, i) => `${links}/${i}`)
        .reverse()
        .join(':')
      const mnt = `${s.root}/mnt`
      await s.fs.mkdir(mnt, 0o755)
      try {
        execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower}`, mnt], { stdio: 'pipe' })
      } catch (err) {
        return skip(`this kernel refused an overlay mount here: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`)
      }
      try {
        expect(await shape(s.fs, mnt)).toEqual(WH_THIRD_MERGED)
        expect(await readTextLimited(s.fs, `${mnt}/etc/app.conf`)).toBe('key=v2\n')
      } finally {
        execFileSync('umount', [mnt])
      }
    } finally {
      await s.cleanup()
    }
  })
})

describe('layerfsck migrate on the command line', () => {
  it('prints NDJSON events while it acts and the report as the last line with --json', async () => {
    const { fs } = await memorySubject()
    const store = '/work/store'
    await generateMesosStore(fs, store, { backends: ['aufs'], layers: 2 })
    const r = await runCli(fs, ['migrate', '--store', store, '--to-backend', 'overlay', '--json'])
    expect([r.code, r.stderr]).toEqual([0, ''])
    const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    const report = lines.pop()!
    expect(report).toMatchObject({ schemaVersion: 1, store, toBackend: 'overlay', exitCode: 0, stamped: '1.8.0' })
    expect(lines[0]).toMatchObject({ type: 'plan', layers: 2, convert: 2 })
    expect(lines.filter((l) => l.type === 'layer').map((l) => [l.index, l.total, l.status])).toEqual([
      [0, 2, 'converted'],
      [1, 2, 'converted'],
    ])
    expect(lines.some((l) => l.type === 'entries')).toBe(true)
  })

  it('prints a dry run for 80 columns with every path whole, and exits 8 with the reason on a blocker', async () => {
    const { fs } = await memorySubject()
    const store = `/work/${'a-store-dir-with-a-long-name/'.repeat(6)}store`
    await generateMesosStore(fs, store, { backends: ['aufs'], layers: 1 })
    const r = await runCli(fs, ['migrate', '--store', store, '--to-backend', 'overlay', '--dry-run'])
    expect(r.code).toBe(0)
    const lines = r.stdout.split('\n')
    expect(lines.every((l) => l.length <= 80)).toBe(true)
    expect(lines.map((l) => l.trim()).join('')).toContain(store)
    expect(r.stdout).toMatch(/planned +rootfs to rootfs\.overlay \(aufs to overlay/)

    const fsNoOverlay = await memorySubject()
    await generateMesosStore(fsNoOverlay.fs, store, { backends: ['aufs'], layers: 1 })
    fsNoOverlay.fs.mount({ mountPoint: '/work', fsType: 'xfs', dtype: false, describeOnly: true })
    const refused = await runCli(fsNoOverlay.fs, ['migrate', '--store', store, '--to-backend', 'overlay'])
    expect(refused.code).toBe(8)
    expect(refused.stderr).toContain('reports no entry types (d_type)')
    expect(refused.stdout).toBe('')
    const json = await runCli(fsNoOverlay.fs, ['migrate', '--store', store, '--to-backend', 'overlay', '--json'])
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'LAYERFSCK_MIGRATE_PREFLIGHT', exitCode: 8, preflight: { blockers: [expect.stringContaining('d_type')] } })
  })
})
