/**
 * Crash injection: a port decorator that lets the first N mutating calls
 * through and fails every one after that, as if the process had been killed
 * at that point and later calls never happened. A test runs an operation once
 * with `crashAfter: Infinity` to count its steps K, then for each n in 0..K
 * crashes it after n steps, calls `recover()`, re-runs it on the bare port,
 * and compares the end state with an uninterrupted run. Reads keep working
 * after the crash so the failing operation can unwind; nothing it does from
 * then on lands.
 *
 * Two models of what the crash was:
 * - `sigkill` (the default): the process dies, the kernel keeps its page
 *   cache, so every call that went through stays. `recover()` changes nothing.
 * - `power-loss`, as in ALICE and CrashMonkey: the machine loses power, and
 *   `recover()` rolls back on the inner port every change that was not made
 *   durable. The model is the conservative one portable code has to be
 *   written against, harsher than what a journaling filesystem usually does,
 *   because a store must survive every filesystem it may sit on:
 *   - File data is durable only after the handle's `sync()`, an `fsync` of
 *     the file or a `syncfs`; otherwise the file reverts to its last durable
 *     bytes, and a new file comes back empty (ext4's delayed allocation did
 *     exactly that to renamed-over config files). No partial writes and no
 *     garbage: ordered mode never shows stale blocks, and a crash point
 *     between any two calls already covers "some writes landed".
 *   - A directory entry (create, link, unlink, rmdir, rename) is durable only
 *     once its directory is fsynced after it. A file's own fsync does not
 *     make its name durable: ext4 often commits it anyway, but POSIX does not
 *     promise it and other filesystems do not.
 *   - A rename is atomic, kept only when its destination directory is fsynced
 *     after it, and undone whole otherwise. Atomic because every journaling
 *     filesystem commits a rename as one transaction, so losing the file in
 *     both places is not an outcome to design against; the destination only,
 *     because that is the fsync portable code must do (fsyncing the source
 *     directory instead is the bug this should catch).
 *   - chmod, lchown, lutimes and xattr changes are durable only after an
 *     fsync of that inode or a syncfs. The port's `fsync` never opens a
 *     device, fifo or socket, so their metadata is durable only through
 *     syncfs (or their creation, which carries mode and rdev).
 *   - `syncfs` makes everything so far on that filesystem (device) durable.
 *   - Everything that existed when the decorator was made counts as durable;
 *     `unmount` changes no disk and is never undone; `tryLock` creating its
 *     lock file is a create like any other.
 *   Changes are undone newest first. Where a later durable change is in the
 *   way of undoing an earlier one (the name is taken again, the directory is
 *   gone), the later durable change wins and the earlier inode is lost: once
 *   fsync returned, that state is what the disk holds, and losing the other
 *   inode is the harsher of the outcomes it admits. Inodes are followed by
 *   `dev:ino` across later renames, so moving a file or its directory after
 *   writing it does not confuse the rollback; memfs reuses inode numbers,
 *   so each key carries a generation that a create or a final unlink bumps.
 *   A hard link's other name is looked for only below the deepest directory
 *   the operation touched (walking all of / would make disk runs unusable),
 *   so an unlinked name of an inode linked from outside it comes back as a
 *   copy; a socket cannot be made through the port and stays lost.
 *
 * The process is dead after the crash: locks taken through the decorator are
 * released at the first refused call (and by `recover()`), as the kernel drops
 * flock(2) locks of a killed process, so the re-run is not locked out.
 */
import type {
  DevNo,
  FileLock,
  FsPort,
  Inode,
  InodeKind,
  MutatingCall,
  TryLockResult,
  WriteHandle,
  WriteOptions,
} from './port.js'
import { linkEachName } from './link-names.js'
import { devKey, inodeKey } from './port.js'
import { basename, dirname } from './safe-path.js'

export class CrashError extends Error {
  readonly code = 'ECRASH'
  constructor(
    readonly call: MutatingCall,
    readonly path: string,
    readonly step: number,
  ) {
    super(`simulated crash before step ${step}: ${call} ${path}`)
  }

  override get name(): string {
    return 'CrashError'
  }
}

export type CrashModel = 'sigkill' | 'power-loss'

export interface CrashOptions {
  /** What the crash was; `sigkill` keeps every change that went through, `power-loss` keeps only durable ones. */
  model?: CrashModel
}

export interface CrashFs extends FsPort {
  readonly model: CrashModel
  /** Mutating calls that went through. */
  readonly steps: number
  /** True once a call has been refused. */
  readonly crashed: boolean
  /** Every mutating call that went through, as `call path`: shows where each crash point is. */
  readonly journal: readonly string[]
  /**
   * The reboot: the crashed process is gone for good (every later mutating
   * call is refused, its locks are released), and under `power-loss` every
   * change that was not durable is rolled back on the inner port. May be
   * called without a crash, to check that a finished operation was durable.
   * Resolves to the changes that were not durable, newest first (`create
   * /a`, `data /a`, ...); one whose place a later durable change took, or
   * that went with its directory, is listed though nothing came back.
   */
  recover(): Promise<string[]>
}

export function withCrashAfter(inner: FsPort, crashAfter: number, options: CrashOptions = {}): CrashFs {
  const model = options.model ?? 'sigkill'
  let steps = 0
  let crashed = false
  let dead = false
  const journal: string[] = []
  const heldLocks = new Set<FileLock>()
  let dropping: Promise<unknown> = Promise.resolve()
  const dropLocks = (): void => {
    const locks = [...heldLocks]
    heldLocks.clear()
    dropping = Promise.all([dropping, ...locks.map((l) => l.release().catch(() => undefined))])
  }
  const gate = (call: MutatingCall, path: string): void => {
    if (dead || crashed || steps >= crashAfter) {
      if (!crashed) dropLocks()
      crashed = true
      throw new CrashError(call, path, steps + 1)
    }
    steps += 1
    journal.push(`${call} ${path}`)
  }

  const tracker = model === 'power-loss' ? new PowerLossTracker(inner) : undefined
  // One mutating call at a time under power loss, so that the pre-image read
  // before a call and the record made after it belong to the same state.
  let queue: Promise<unknown> = Promise.resolve()
  const serial = <R>(fn: () => Promise<R>): Promise<R> => {
    if (tracker === undefined) return fn()
    const run = queue.then(fn, fn)
    queue = run.catch(() => undefined)
    return run
  }
  /** Gate, then the call; under power loss `track` wraps the call to record what it changes. */
  const step = <R>(
    call: MutatingCall,
    label: string,
    act: () => Promise<R>,
    track?: (t: PowerLossTracker, act: () => Promise<R>) => Promise<R>,
  ): Promise<R> =>
    serial(async () => {
      gate(call, label)
      return tracker !== undefined && track !== undefined ? track(tracker, act) : act()
    })

  const wrapHandle = (h: WriteHandle, path: string, file: FileRef | undefined): WriteHandle => ({
    write: (chunk) =>
      step(
        'write',
        path,
        () => h.write(chunk),
        (t, act) => t.write(file, act),
      ),
    sync: () =>
      step(
        'fsync',
        path,
        () => h.sync(),
        (t, act) => t.syncHandle(file, act),
      ),
    // Closing releases the descriptor; it changes nothing on disk, so it is
    // always allowed (the kernel closes descriptors of a killed process too).
    close: () => h.close(),
  })

  const link = (e: string, p: string): Promise<void> => step('link', p, () => inner.link(e, p), (t, act) => t.create(p, act, e))

  return {
    get kind() {
      return inner.kind
    },
    model,
    get steps() {
      return steps
    },
    get crashed() {
      return crashed
    },
    journal,
    async recover() {
      dead = true
      dropLocks()
      await dropping
      if (tracker === undefined) return []
      // Let a call already past the gate finish before rolling back under it.
      await queue
      return tracker.powerLoss()
    },
    lstat: (p) => inner.lstat(p),
    readdir: (p) => inner.readdir(p),
    listTree: (r, f, m, o) => inner.listTree(r, f, m, o),
    inspect: (d, n, o) => inner.inspect(d, n, o),
    readlink: (p) => inner.readlink(p),
    realpath: (p) => inner.realpath(p),
    openRead: (p) => inner.openRead(p),
    openWrite: (p, o) =>
      serial(async () => {
        gate('openWrite', p)
        if (tracker === undefined) return wrapHandle(await inner.openWrite(p, o), p, undefined)
        const { handle, file } = await tracker.openWrite(p, o, () => inner.openWrite(p, o))
        return wrapHandle(handle, p, file)
      }),
    mkdir: (p, m) => step('mkdir', p, () => inner.mkdir(p, m), (t, act) => t.create(p, act)),
    mknod: (p, k, m, r) => step('mknod', p, () => inner.mknod(p, k, m, r), (t, act) => t.create(p, act)),
    symlink: (target, p) => step('symlink', p, () => inner.symlink(target, p), (t, act) => t.create(p, act)),
    link,
    // One step per name, so a crash can land between any two and the model records each name as `link` does.
    async linkNames(fromDir, toDir, names) {
      // Both directories opened (nothing changed) before any name, as the call refuses them on its own.
      await inner.linkNames(fromDir, toDir, [])
      return linkEachName(fromDir, toDir, names, link)
    },
    rename: (f, to) => step('rename', `${f} -> ${to}`, () => inner.rename(f, to), (t, act) => t.rename(f, to, act)),
    unlink: (p) => step('unlink', p, () => inner.unlink(p), (t, act) => t.remove(p, 'unlink', act)),
    rmdir: (p) => step('rmdir', p, () => inner.rmdir(p), (t, act) => t.remove(p, 'rmdir', act)),
    chmod: (p, m) => step('chmod', p, () => inner.chmod(p, m), (t, act) => t.meta(p, 'chmod', act)),
    lchown: (p, u, g) => step('lchown', p, () => inner.lchown(p, u, g), (t, act) => t.meta(p, 'lchown', act)),
    lutimes: (p, a, m) => step('lutimes', p, () => inner.lutimes(p, a, m), (t, act) => t.meta(p, 'lutimes', act)),
    xattr: {
      list: (p) => inner.xattr.list(p),
      get: (p, n) => inner.xattr.get(p, n),
      set: (p, n, v) =>
        step('xattr.set', `${p} ${n}`, () => inner.xattr.set(p, n, v), (t, act) => t.meta(p, 'xattr', act, n)),
      remove: (p, n) =>
        step('xattr.remove', `${p} ${n}`, () => inner.xattr.remove(p, n), (t, act) => t.meta(p, 'xattr', act, n)),
    },
    fsync: (p) => step('fsync', p, () => inner.fsync(p), (t, act) => t.fsync(p, act)),
    syncfs: (p) => step('syncfs', p, () => inner.syncfs(p), (t, act) => t.syncfs(p, act)),
    async tryLock(p, mode, o) {
      const take = async (): Promise<TryLockResult> => {
        const result = await inner.tryLock(p, mode, o)
        if (!result.ok) return result
        const held = result.lock
        heldLocks.add(held)
        const lock: FileLock = {
          mode: held.mode,
          async release() {
            // Already dropped when the process "died": releasing twice is harmless.
            if (!heldLocks.delete(held)) return
            await held.release()
          },
        }
        return { ok: true, lock }
      }
      // Creating the lock file is a directory entry like any other; it is not
      // a step, because a lock is not part of what the operation changes.
      if (tracker === undefined || !o?.create) return take()
      return serial(() => tracker.create(p, take))
    },
    credentials: () => inner.credentials(),
    fsType: (p) => inner.fsType(p),
    mounts: () => inner.mounts(),
    unmount: (p, o) => step('unmount', p, () => inner.unmount(p, o)),
  }
}

// --- the power-loss model ---------------------------------------------------

/** An inode as the model knows it: `dev:ino#generation`, since memfs reuses inode numbers. */
type Ident = string

/** What an open write handle writes to. */
interface FileRef {
  ident: Ident
  path: string
}

/** Everything needed to bring back an inode that an unlink, rmdir or rename took away. */
interface Snapshot {
  ident: Ident
  kind: InodeKind
  mode: number
  uid: number
  gid: number
  mtimeNs: bigint
  rdev: DevNo
  nlink: number
  xattrs: [string, Uint8Array][]
  content?: Uint8Array
  target?: string
}

type MetaPre =
  | { field: 'mode'; mode: number }
  | { field: 'owner'; uid: number; gid: number; mode: number | undefined }
  | { field: 'times'; mtimeNs: bigint }
  | { field: 'xattr'; name: string; value: Uint8Array | undefined }

type Change =
  | { op: 'create'; dir: Ident; dirPath: string; name: string; node: Ident }
  | { op: 'remove'; dir: Ident; dirPath: string; name: string; victim: Snapshot }
  | {
      op: 'rename'
      fromDir: Ident
      fromPath: string
      toDir: Ident
      toPath: string
      node: Ident
      victim: Snapshot | undefined
    }
  | { op: 'data'; node: Ident; path: string; content: Uint8Array; mtimeNs: bigint }
  | { op: 'meta'; node: Ident; path: string; pre: MetaPre }

interface Rec {
  seq: number
  /** How `recover()` names it. */
  label: string
  /** The inode whose fsync makes this durable. */
  cover: Ident
  /** The filesystem whose syncfs makes this durable. */
  dev: string
  durable: boolean
  undone: boolean
  change: Change
}

interface Parent {
  /** The directory's real path (symlinks in it resolved), so later renames can be followed by prefix. */
  dirPath: string
  name: string
  dir: Inode
}

const join2 = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`)
const keyOf = (ident: Ident): string => ident.slice(0, ident.lastIndexOf('#'))
const errCode = (err: unknown): string | undefined => (err as { code?: unknown })?.code as string | undefined

class PowerLossTracker {
  private readonly records: Rec[] = []
  private readonly renames: Rec[] = []
  private readonly byCover = new Map<Ident, Rec[]>()
  /** Inodes with a data record not yet durable: the first write after a sync records the durable bytes. */
  private readonly pendingData = new Set<Ident>()
  private readonly generations = new Map<string, number>()
  /** An inode brought back by the rollback under a new number answers for its old identity. */
  private readonly alias = new Map<Ident, Ident>()
  /** The deepest directory holding every path touched: where a moved inode is looked for. */
  private scope: string | undefined

  constructor(private readonly inner: FsPort) {}

  // --- identities -----------------------------------------------------------

  private identOf(key: string): Ident {
    return `${key}#${this.generations.get(key) ?? 0}`
  }

  /** A new inode under `key` (a create), or the end of the old one (its last name went). */
  private bump(key: string): Ident {
    const g = (this.generations.get(key) ?? 0) + 1
    this.generations.set(key, g)
    return `${key}#${g}`
  }

  /** The inode's current key, or undefined when it no longer exists. */
  private resolve(ident: Ident): string | undefined {
    let id = ident
    for (let next = this.alias.get(id); next !== undefined; next = this.alias.get(id)) id = next
    const key = keyOf(id)
    return this.identOf(key) === id ? key : undefined
  }

  private widen(path: string): void {
    if (this.scope === undefined) {
      this.scope = path
      return
    }
    let s = this.scope
    while (s !== '/' && path !== s && !path.startsWith(`${s}/`)) s = dirname(s)
    this.scope = s
  }

  // --- observing through the port -----------------------------------------

  private async lstatQuiet(path: string): Promise<Inode | undefined> {
    try {
      return await this.inner.lstat(path)
    } catch (err) {
      if (['ENOTDIR', 'ELOOP', 'EACCES', 'ENAMETOOLONG', 'EINVAL'].includes(errCode(err) ?? '')) return undefined
      throw err
    }
  }

  private async parentOf(path: string): Promise<Parent | undefined> {
    const name = basename(path)
    if (name === '' || name === '.' || name === '..') return undefined
    let dirPath: string
    try {
      dirPath = await this.inner.realpath(dirname(path))
    } catch {
      return undefined
    }
    const dir = await this.lstatQuiet(dirPath)
    if (dir?.kind !== 'dir') return undefined
    return { dirPath, name, dir }
  }

  private async readAll(path: string): Promise<Uint8Array> {
    const chunks: Buffer[] = []
    for await (const c of await this.inner.openRead(path)) chunks.push(c as Buffer)
    return new Uint8Array(Buffer.concat(chunks))
  }

  private async snapshot(path: string, st: Inode): Promise<Snapshot> {
    const xattrs: [string, Uint8Array][] = []
    for (const name of await this.inner.xattr.list(path)) {
      const value = await this.inner.xattr.get(path, name)
      if (value !== undefined) xattrs.push([name, value])
    }
    return {
      ident: this.identOf(inodeKey(st)),
      kind: st.kind,
      mode: st.mode,
      uid: st.uid,
      gid: st.gid,
      mtimeNs: st.mtimeNs,
      rdev: st.rdev,
      nlink: st.nlink,
      xattrs,
      ...(st.kind === 'file' ? { content: await this.readAll(path) } : {}),
      ...(st.kind === 'symlink' ? { target: await this.inner.readlink(path) } : {}),
    }
  }

  /**
   * Runs `capture` before the call and `record` after it succeeded. A
   * pre-image that cannot be read fails the call only if the call itself
   * succeeds: then the model cannot keep its promise, which must be loud.
   */
  private async around<P, R>(
    what: string,
    capture: () => Promise<P>,
    act: () => Promise<R>,
    record: (pre: P, result: R) => Promise<void> | void,
  ): Promise<R> {
    let pre: P | undefined
    let failed: unknown
    try {
      pre = await capture()
    } catch (err) {
      failed = err
    }
    const result = await act()
    if (failed !== undefined) {
      throw new Error(`power-loss model: could not record the state before ${what}: ${(failed as Error).message}`)
    }
    await record(pre as P, result)
    return result
  }

  private push(label: string, cover: Ident, dev: DevNo, change: Change, path: string): void {
    const rec: Rec = { seq: this.records.length, label, cover, dev: devKey(dev), durable: false, undone: false, change }
    this.records.push(rec)
    if (change.op === 'rename') this.renames.push(rec)
    const list = this.byCover.get(cover)
    if (list === undefined) this.byCover.set(cover, [rec])
    else list.push(rec)
    this.widen(path)
  }

  private makeDurable(ident: Ident): void {
    for (const rec of this.byCover.get(ident) ?? []) rec.durable = true
    this.byCover.delete(ident)
    this.pendingData.delete(ident)
  }

  // --- the calls --------------------------------------------------------------

  /** Any call that adds a name: mkdir, mknod, symlink, link (`linked` is its other name), a created lock file. */
  create<R>(path: string, act: () => Promise<R>, linked?: string): Promise<R> {
    return this.around(
      `creating ${path}`,
      async () => {
        const parent = await this.parentOf(path)
        const before = parent && (await this.lstatQuiet(join2(parent.dirPath, parent.name)))
        return { parent, existed: before !== undefined }
      },
      act,
      async ({ parent, existed }) => {
        if (parent === undefined || existed) return
        const at = join2(parent.dirPath, parent.name)
        const st = await this.inner.lstat(at)
        if (st === undefined) return
        // A hard link adds a name to a known inode; everything else is a new inode.
        const node = st.nlink > 1 && st.kind !== 'dir' ? this.identOf(inodeKey(st)) : this.bump(inodeKey(st))
        const dir = this.identOf(inodeKey(parent.dir))
        this.push(`create ${at}`, dir, parent.dir.dev, { op: 'create', dir, dirPath: parent.dirPath, name: parent.name, node }, at)
        // The rollback may look for the inode's other name.
        if (linked !== undefined) this.widen(linked)
      },
    )
  }

  async openWrite(
    path: string,
    options: WriteOptions | undefined,
    act: () => Promise<WriteHandle>,
  ): Promise<{ handle: WriteHandle; file: FileRef | undefined }> {
    let file: FileRef | undefined
    const handle = await this.around(
      `opening ${path}`,
      async () => {
        const parent = await this.parentOf(path)
        if (parent === undefined) return undefined
        const at = join2(parent.dirPath, parent.name)
        const st = await this.lstatQuiet(at)
        // O_TRUNC throws away bytes that may be the only durable copy; for an
        // append they are the pre-image too, and reading them here is cheaper
        // than reasoning about which adapter honours O_APPEND.
        const kept = st?.kind === 'file' && !options?.exclusive && st.size > 0
        const ident = st && this.identOf(inodeKey(st))
        const content = kept && ident !== undefined && !this.pendingData.has(ident) ? await this.readAll(at) : undefined
        return { parent, at, st, content }
      },
      act,
      async (pre) => {
        if (pre === undefined) return
        const { parent, at, st: before } = pre
        const st = await this.inner.lstat(at)
        if (st === undefined) return
        if (before === undefined) {
          const node = this.bump(inodeKey(st))
          const dir = this.identOf(inodeKey(parent.dir))
          this.push(`create ${at}`, dir, parent.dir.dev, { op: 'create', dir, dirPath: parent.dirPath, name: parent.name, node }, at)
          // A new file's durable bytes are none at all.
          this.recordData(node, at, st, new Uint8Array(0))
          file = { ident: node, path: at }
          return
        }
        const node = this.identOf(inodeKey(st))
        file = { ident: node, path: at }
        // Otherwise nothing was thrown away yet: the first write records the durable bytes.
        if (pre.content !== undefined) this.recordData(node, at, before, pre.content)
      },
    )
    return { handle, file }
  }

  private recordData(node: Ident, path: string, st: Inode, content: Uint8Array): void {
    this.pendingData.add(node)
    this.push(`data ${path}`, node, st.dev, { op: 'data', node, path, content, mtimeNs: st.mtimeNs }, path)
  }

  write(file: FileRef | undefined, act: () => Promise<void>): Promise<void> {
    if (file === undefined || this.pendingData.has(file.ident)) return act()
    return this.around(
      `writing ${file.path}`,
      async () => {
        const path = await this.locate(file.ident, file.path, Infinity)
        if (path === undefined) return undefined
        const st = await this.inner.lstat(path)
        return st && { path, st, content: await this.readAll(path) }
      },
      act,
      // An inode with no name left (unlinked while open) is gone at the crash anyway.
      (pre) => {
        if (pre !== undefined) this.recordData(file.ident, pre.path, pre.st, pre.content)
      },
    )
  }

  async syncHandle(file: FileRef | undefined, act: () => Promise<void>): Promise<void> {
    await act()
    if (file !== undefined) this.makeDurable(file.ident)
  }

  async fsync(path: string, act: () => Promise<void>): Promise<void> {
    await act()
    const st = await this.inner.lstat(path)
    // The port does not open special files to fsync them: nothing became durable.
    if (st === undefined || (st.kind !== 'file' && st.kind !== 'dir')) return
    this.makeDurable(this.identOf(inodeKey(st)))
  }

  async syncfs(path: string, act: () => Promise<void>): Promise<void> {
    await act()
    const st = await this.inner.lstat(path)
    if (st === undefined) return
    const dev = devKey(st.dev)
    for (const rec of this.records) {
      if (rec.durable || rec.dev !== dev) continue
      rec.durable = true
      this.byCover.get(rec.cover)?.splice(0)
      this.pendingData.delete(rec.cover)
    }
  }

  remove(path: string, call: 'unlink' | 'rmdir', act: () => Promise<void>): Promise<void> {
    return this.around(
      `${call} ${path}`,
      async () => {
        const parent = await this.parentOf(path)
        if (parent === undefined) return undefined
        const at = join2(parent.dirPath, parent.name)
        const st = await this.lstatQuiet(at)
        return st && { parent, at, st, victim: await this.snapshot(at, st) }
      },
      act,
      (pre) => {
        if (pre === undefined) return
        const { parent, at, st, victim } = pre
        if (st.kind === 'dir' || st.nlink <= 1) this.bump(inodeKey(st))
        const dir = this.identOf(inodeKey(parent.dir))
        this.push(`${call} ${at}`, dir, parent.dir.dev, { op: 'remove', dir, dirPath: parent.dirPath, name: parent.name, victim }, at)
      },
    )
  }

  rename(from: string, to: string, act: () => Promise<void>): Promise<void> {
    return this.around(
      `rename ${from} -> ${to}`,
      async () => {
        const src = await this.parentOf(from)
        const dst = await this.parentOf(to)
        if (src === undefined || dst === undefined) return undefined
        const fromPath = join2(src.dirPath, src.name)
        const toPath = join2(dst.dirPath, dst.name)
        const moved = await this.lstatQuiet(fromPath)
        const replaced = await this.lstatQuiet(toPath)
        if (moved === undefined) return undefined
        // Two names of one inode: rename(2) changes nothing.
        if (replaced !== undefined && inodeKey(replaced) === inodeKey(moved)) return undefined
        const victim = replaced && { st: replaced, snap: await this.snapshot(toPath, replaced) }
        return { src, dst, fromPath, toPath, moved, victim }
      },
      act,
      (pre) => {
        if (pre === undefined) return
        const { src, dst, fromPath, toPath, moved, victim } = pre
        if (victim !== undefined && (victim.st.kind === 'dir' || victim.st.nlink <= 1)) this.bump(inodeKey(victim.st))
        const toDir = this.identOf(inodeKey(dst.dir))
        this.push(
          `rename ${fromPath} -> ${toPath}`,
          toDir,
          dst.dir.dev,
          {
            op: 'rename',
            fromDir: this.identOf(inodeKey(src.dir)),
            fromPath,
            toDir,
            toPath,
            node: this.identOf(inodeKey(moved)),
            victim: victim?.snap,
          },
          fromPath,
        )
        this.widen(toPath)
      },
    )
  }

  meta(path: string, call: 'chmod' | 'lchown' | 'lutimes' | 'xattr', act: () => Promise<void>, xattrName = ''): Promise<void> {
    return this.around(
      `${call} ${path}`,
      async () => {
        const st = await this.lstatQuiet(path)
        if (st === undefined) return undefined
        let pre: MetaPre
        if (call === 'chmod') pre = { field: 'mode', mode: st.mode }
        else if (call === 'lchown') pre = { field: 'owner', uid: st.uid, gid: st.gid, mode: st.kind === 'symlink' ? undefined : st.mode }
        else if (call === 'lutimes') pre = { field: 'times', mtimeNs: st.mtimeNs }
        else pre = { field: 'xattr', name: xattrName, value: await this.inner.xattr.get(path, xattrName) }
        return { st, pre }
      },
      act,
      (p) => {
        if (p === undefined) return
        const node = this.identOf(inodeKey(p.st))
        this.push(`${call === 'xattr' ? `xattr ${xattrName}` : call} ${path}`, node, p.st.dev, { op: 'meta', node, path, pre: p.pre }, path)
      },
    )
  }

  // --- the rollback -----------------------------------------------------------

  async powerLoss(): Promise<string[]> {
    const lost: string[] = []
    const failures: string[] = []
    for (let i = this.records.length - 1; i >= 0; i--) {
      const rec = this.records[i]!
      if (rec.durable || rec.undone) continue
      rec.undone = true
      lost.push(rec.label)
      try {
        await this.undo(rec)
      } catch (err) {
        failures.push(`${rec.label}: ${(err as Error).message}`)
      }
    }
    this.records.length = 0
    this.renames.length = 0
    this.byCover.clear()
    this.pendingData.clear()
    if (failures.length > 0) throw new Error(`power-loss model could not roll back:\n  ${failures.join('\n  ')}`)
    return lost
  }

  /** Where a path of the time of record `seq` is now, following the renames after it that were kept. */
  private translate(path: string, seq: number): string {
    let p = path
    for (const rec of this.renames) {
      if (rec.seq <= seq || rec.undone || rec.change.op !== 'rename') continue
      const { fromPath, toPath } = rec.change
      if (p === fromPath) p = toPath
      else if (p.startsWith(`${fromPath}/`)) p = toPath + p.slice(fromPath.length)
    }
    return p
  }

  private async locate(ident: Ident, hint: string, seq: number): Promise<string | undefined> {
    const key = this.resolve(ident)
    if (key === undefined) return undefined
    const path = this.translate(hint, seq)
    const st = await this.lstatQuiet(path)
    if (st !== undefined && inodeKey(st) === key) return path
    return this.search(key)
  }

  private async search(key: string): Promise<string | undefined> {
    const root = this.scope ?? '/'
    const stack = [root]
    while (stack.length > 0) {
      const path = stack.pop()!
      const st = await this.lstatQuiet(path)
      if (st === undefined) continue
      if (inodeKey(st) === key) return path
      if (st.kind !== 'dir') continue
      let entries
      try {
        entries = await this.inner.readdir(path)
      } catch {
        continue
      }
      for (const e of entries) stack.push(join2(path, e.name))
    }
    return undefined
  }

  private async undo(rec: Rec): Promise<void> {
    const c = rec.change
    switch (c.op) {
      case 'create': {
        const dir = await this.locate(c.dir, c.dirPath, rec.seq)
        if (dir === undefined) return
        const at = join2(dir, c.name)
        const st = await this.lstatQuiet(at)
        // Moved away or replaced by a later durable change: that one wins.
        if (st === undefined || inodeKey(st) !== this.resolve(c.node)) return
        await this.removeAll(at, st)
        return
      }
      case 'remove': {
        const dir = await this.locate(c.dir, c.dirPath, rec.seq)
        if (dir === undefined) return
        await this.bringBack(join2(dir, c.name), c.victim)
        return
      }
      case 'rename': {
        const toDir = await this.locate(c.toDir, dirname(c.toPath), rec.seq)
        if (toDir === undefined) return
        const at = join2(toDir, basename(c.toPath))
        const st = await this.lstatQuiet(at)
        if (st !== undefined && inodeKey(st) === this.resolve(c.node)) {
          const fromDir = await this.locate(c.fromDir, dirname(c.fromPath), rec.seq)
          const back = fromDir === undefined ? undefined : join2(fromDir, basename(c.fromPath))
          if (back !== undefined && (await this.lstatQuiet(back)) === undefined) await this.inner.rename(at, back)
          else await this.removeAll(at, st)
        }
        if (c.victim !== undefined) await this.bringBack(at, c.victim)
        return
      }
      case 'data': {
        const path = await this.locate(c.node, c.path, rec.seq)
        if (path === undefined) return
        await this.rewrite(path, c.content)
        await this.inner.lutimes(path, c.mtimeNs, c.mtimeNs)
        return
      }
      case 'meta': {
        const path = await this.locate(c.node, c.path, rec.seq)
        if (path === undefined) return
        const pre = c.pre
        if (pre.field === 'mode') await this.inner.chmod(path, pre.mode)
        else if (pre.field === 'owner') {
          await this.inner.lchown(path, pre.uid, pre.gid)
          // lchown clears setuid/setgid; the undone call found them set.
          if (pre.mode !== undefined) await this.inner.chmod(path, pre.mode)
        } else if (pre.field === 'times') await this.inner.lutimes(path, pre.mtimeNs, pre.mtimeNs)
        else if (pre.value !== undefined) await this.inner.xattr.set(path, pre.name, pre.value)
        else {
          await this.inner.xattr.remove(path, pre.name).catch((err: unknown) => {
            if (errCode(err) !== 'ENODATA') throw err
          })
        }
        return
      }
    }
  }

  /** Removes `path` and whatever is below it, ending the inodes whose last name goes. */
  private async removeAll(path: string, st: Inode): Promise<void> {
    if (st.kind === 'dir') {
      for (const e of await this.inner.readdir(path)) {
        const child = join2(path, e.name)
        const cst = await this.inner.lstat(child)
        // Never through a mount: unmount is not undone, so what is mounted stays.
        if (cst !== undefined && devKey(cst.dev) === devKey(st.dev)) await this.removeAll(child, cst)
      }
      await this.inner.rmdir(path)
    } else {
      await this.inner.unlink(path)
    }
    if (st.kind === 'dir' || st.nlink <= 1) this.bump(inodeKey(st))
  }

  /** Puts a removed name back: a link when the inode still has another name, the inode rebuilt otherwise. */
  private async bringBack(path: string, victim: Snapshot): Promise<void> {
    // A later durable change took the name: it wins.
    if ((await this.lstatQuiet(path)) !== undefined) return
    const key = this.resolve(victim.ident)
    if (key !== undefined && victim.kind !== 'dir') {
      const other = await this.search(key)
      if (other !== undefined) {
        await this.inner.link(other, path)
        return
      }
    }
    if (victim.kind === 'socket') return // the port cannot make one; nothing in a store is one
    switch (victim.kind) {
      case 'file': {
        const h = await this.inner.openWrite(path, { exclusive: true, mode: victim.mode })
        try {
          await h.write(victim.content ?? new Uint8Array(0))
        } finally {
          await h.close()
        }
        break
      }
      case 'dir':
        await this.inner.mkdir(path, victim.mode)
        break
      case 'symlink':
        await this.inner.symlink(victim.target ?? '', path)
        break
      default:
        await this.inner.mknod(path, victim.kind, victim.mode, victim.rdev)
    }
    const st = await this.inner.lstat(path)
    if (st === undefined) return
    if (st.uid !== victim.uid || st.gid !== victim.gid) await this.inner.lchown(path, victim.uid, victim.gid)
    // After lchown, which clears setuid/setgid; exact bits, without the umask.
    if (victim.kind !== 'symlink') await this.inner.chmod(path, victim.mode)
    for (const [name, value] of victim.xattrs) await this.inner.xattr.set(path, name, value)
    await this.inner.lutimes(path, victim.mtimeNs, victim.mtimeNs)
    this.alias.set(victim.ident, this.bump(inodeKey(st)))
  }

  /** Replaces a file's bytes in place (same inode), even when its mode forbids writing. */
  private async rewrite(path: string, content: Uint8Array): Promise<void> {
    let restoreMode: number | undefined
    let h: WriteHandle
    try {
      h = await this.inner.openWrite(path)
    } catch (err) {
      const st = await this.inner.lstat(path)
      if (errCode(err) !== 'EACCES' || st === undefined) throw err
      restoreMode = st.mode
      await this.inner.chmod(path, st.mode | 0o200)
      h = await this.inner.openWrite(path)
    }
    try {
      await h.write(content)
    } finally {
      await h.close()
      if (restoreMode !== undefined) await this.inner.chmod(path, restoreMode)
    }
  }
}
