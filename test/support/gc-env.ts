/**
 * A Mesos store and agent work dir for the gc tests: the real wh-third image
 * imported for the overlay backend, provisioner containers (nested ones too),
 * a --known-containers list, rootfs mounts (real overlay mounts on disk,
 * table lines over a merged copy in memory), bind mounts, Mesos' mkdtemp
 * links dirs, and backdating for what grace judges.
 */
import { execFileSync } from 'node:child_process'
import { makeDirs, writeFileAll } from '../../src/fs/io.js'
import type { FsPort } from '../../src/fs/port.js'
import { walkTree } from '../../src/fs/walk.js'
import { importImage } from '../../src/families/mesos/import.js'
import { containerDir } from '../../src/families/mesos/paths.js'
import { encodeContainerLayers } from '../../src/families/mesos/metadata/container-layers.js'
import { applyLayer } from '../../src/layer/apply.js'
import type { Subject } from './adapters.js'
import { imagesOn, WH_CONFIG, WH_LAYERS } from './fixtures.js'

export const ROOTFS_ID = 'a1b2c3d4-0000-4000-8000-000000000001'
export const VARIANT = 'rootfs.overlay'

export interface GcContainer {
  dir: string
  rootfs: string
  scratch: string
}

export interface GcEnv {
  s: Subject
  fs: FsPort
  store: string
  workDir: string
  provisioner: string
  known: string
  /** Where Mesos' mkdtemp dirs go in these tests (its $TMPDIR). */
  tmp: string
  /** A fake /proc, empty unless a case puts a process in it; gc reads it when given as procRoot. */
  proc: string
  /** The variant dir of wh-third's layer i (0 is the root layer). */
  rootfs(i: number): string
  /** The options every gc and check of the env reads with: store, work dir, the live list. */
  base: { store: string; workDir: string; knownContainers: string }
  live(keys: string[]): Promise<void>
  /**
   * A provisioner container dir for the overlay backend with an (empty) rootfs
   * dir, and its layers checkpoint naming `layers` (wh-third's three by
   * default) unless `checkpoint` is false.
   */
  container(ids: string[], options?: { checkpoint?: boolean; layers?: string[] }): Promise<GcContainer>
  /**
   * Mounts an overlay of `lowers` (top first, as lowerdir lists them) at `at`.
   * With `links`, the lowers are reached through numbered symlinks in that dir,
   * as Mesos' scratch/<id>/links temp dir does; the dir is made here.
   * In memory the merged tree is copied there and the mount is a table line.
   */
  mountOverlay(at: string, lowers: string[], links?: string): Promise<void>
  /** A bind mount of `source` on `at` (disk); in memory a fresh tmpfs-like filesystem on `at`. */
  bind(source: string, at: string): Promise<void>
  /** Sets the mtime of `path` and of everything below it to `ageMs` ago. */
  backdate(path: string, ageMs: number): Promise<void>
  /** A process `pid` in the fake /proc whose root is `root` (its /proc/<pid>/root link), as a container's init is. */
  enter(pid: number, root: string): Promise<void>
  /** Unmounts what the env mounted that is still mounted, deepest first. */
  unmountAll(): Promise<void>
}

export async function makeGcEnv(s: Subject): Promise<GcEnv> {
  const store = `${s.root}/store`
  const workDir = `${s.root}/agent`
  const provisioner = `${workDir}/provisioner`
  const known = `${s.root}/known-containers`
  const tmp = `${s.root}/tmp`
  const proc = `${s.root}/proc`
  await importImage(s.fs, {
    store,
    backend: 'overlay',
    image: `oci:${await imagesOn(s.fs)}/oci-overlay:wh-third`,
    createStore: true,
    preserveOwners: s.privileged,
  })
  await makeDirs(s.fs, `${provisioner}/containers`)
  await makeDirs(s.fs, tmp)
  await makeDirs(s.fs, proc)
  await writeFileAll(s.fs, known, '')
  let linkDirs = 0
  const rootfs = (i: number): string => `${store}/layers/${WH_LAYERS[i]}/${VARIANT}`
  const env: GcEnv = {
    s,
    fs: s.fs,
    store,
    workDir,
    provisioner,
    known,
    tmp,
    proc,
    rootfs,
    base: { store, workDir, knownContainers: known },
    live: (keys) => writeFileAll(s.fs, known, keys.map((k) => `${k}\n`).join('')),
    async container(ids, o = {}) {
      const dir = containerDir(provisioner, ids)
      const root = `${dir}/backends/overlay/rootfses/${ROOTFS_ID}`
      const scratch = `${dir}/backends/overlay/scratch/${ROOTFS_ID}`
      await makeDirs(s.fs, root)
      if (o.checkpoint ?? true) {
        const paths = o.layers ?? [0, 1, 2].map(rootfs)
        await writeFileAll(s.fs, `${dir}/layers`, encodeContainerLayers({ paths, config: `${store}/layers/${WH_CONFIG}` }))
      }
      return { dir, rootfs: root, scratch }
    },
    async mountOverlay(at, lowers, links) {
      if (links !== undefined) {
        await makeDirs(s.fs, links)
        for (const [i, l] of lowers.entries()) await s.fs.symlink(l, `${links}/${i}`)
      }
      if (s.fs.kind === 'memory') {
        // Memory merges no layers: the merged tree is built in place, and the line describes the mount over it.
        for (const l of [...lowers].reverse()) await applyLayer(s.fs, l, at, 'overlay')
        const lowerdir = lowers.map((l) => l.replace(/:/g, '\\:')).join(':')
        ;(s.fs as unknown as { mount(m: object): void }).mount({
          mountPoint: at,
          fsType: 'overlay',
          source: 'overlay',
          describeOnly: true,
          superOptions: ['ro', `lowerdir=${lowerdir}`],
        })
        return
      }
      // Layer ids hold colons, the lowerdir separator: short numbered links, as Mesos makes them.
      let dir = links
      if (dir === undefined) {
        dir = `${s.root}/links-${linkDirs++}`
        await s.fs.mkdir(dir, 0o755)
        for (const [i, l] of lowers.entries()) await s.fs.symlink(l, `${dir}/${i}`)
      }
      execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.map((_, i) => `${dir}/${i}`).join(':')}`, at])
    },
    async bind(source, at) {
      if (s.fs.kind === 'memory') {
        ;(s.fs as unknown as { mount(m: object): void }).mount({ mountPoint: at, fsType: 'tmpfs', source: 'tmpfs' })
        return
      }
      execFileSync('mount', ['--bind', source, at])
    },
    async backdate(path, ageMs) {
      const ns = BigInt(Date.now() - ageMs) * 1_000_000n
      const paths: string[] = []
      for await (const e of walkTree(s.fs, path)) paths.push(e.path)
      // Deepest first and the top last; lutimes changes no parent's mtime anyway.
      for (const p of paths.reverse()) await s.fs.lutimes(p, ns, ns)
      await s.fs.lutimes(path, ns, ns)
    },
    async enter(pid, root) {
      await makeDirs(s.fs, `${proc}/${pid}`)
      await s.fs.symlink(root, `${proc}/${pid}/root`)
    },
    async unmountAll() {
      if (s.fs.kind !== 'disk') return
      const mine = (await s.fs.mounts()).filter((m) => m.mountPoint.startsWith(`${s.root}/`))
      for (const m of mine.sort((a, b) => b.mountPoint.length - a.mountPoint.length)) {
        await s.fs.unmount(m.mountPoint, { detach: true }).catch(() => undefined)
      }
    },
  }
  return env
}
