/**
 * Crash injection: a port decorator that lets the first N mutating calls
 * through and fails every one after that, as if the process had been killed
 * at that point and later calls never happened. A test runs an operation once
 * with `crashAfter: Infinity` to count its steps K, then for each n in 0..K
 * crashes it after n steps, re-runs it on the bare port, and compares the end
 * state with an uninterrupted run. Reads keep working after the crash so the
 * failing operation can unwind; nothing it does from then on lands.
 */
import type { FsPort, MutatingCall, WriteHandle } from './port.js'

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

export interface CrashFs extends FsPort {
  /** Mutating calls that went through. */
  readonly steps: number
  /** True once a call has been refused. */
  readonly crashed: boolean
  /** Every mutating call that went through, as `call path`: shows where each crash point is. */
  readonly journal: readonly string[]
}

export function withCrashAfter(inner: FsPort, crashAfter: number): CrashFs {
  let steps = 0
  let crashed = false
  const journal: string[] = []
  const gate = (call: MutatingCall, path: string): void => {
    if (crashed || steps >= crashAfter) {
      crashed = true
      throw new CrashError(call, path, steps + 1)
    }
    steps += 1
    journal.push(`${call} ${path}`)
  }
  const wrapHandle = (h: WriteHandle, path: string): WriteHandle => ({
    async write(chunk) {
      gate('write', path)
      await h.write(chunk)
    },
    async sync() {
      gate('fsync', path)
      await h.sync()
    },
    // Closing releases the descriptor; it changes nothing on disk, so it is
    // always allowed (the kernel closes descriptors of a killed process too).
    close: () => h.close(),
  })
  return {
    get kind() {
      return inner.kind
    },
    get steps() {
      return steps
    },
    get crashed() {
      return crashed
    },
    journal,
    lstat: (p) => inner.lstat(p),
    readdir: (p) => inner.readdir(p),
    readlink: (p) => inner.readlink(p),
    realpath: (p) => inner.realpath(p),
    openRead: (p) => inner.openRead(p),
    async openWrite(p, o) {
      gate('openWrite', p)
      return wrapHandle(await inner.openWrite(p, o), p)
    },
    async mkdir(p, m) {
      gate('mkdir', p)
      return inner.mkdir(p, m)
    },
    async mknod(p, k, m, r) {
      gate('mknod', p)
      return inner.mknod(p, k, m, r)
    },
    async symlink(t, p) {
      gate('symlink', p)
      return inner.symlink(t, p)
    },
    async link(e, p) {
      gate('link', p)
      return inner.link(e, p)
    },
    async rename(f, t) {
      gate('rename', `${f} -> ${t}`)
      return inner.rename(f, t)
    },
    async unlink(p) {
      gate('unlink', p)
      return inner.unlink(p)
    },
    async rmdir(p) {
      gate('rmdir', p)
      return inner.rmdir(p)
    },
    async chmod(p, m) {
      gate('chmod', p)
      return inner.chmod(p, m)
    },
    async lchown(p, u, g) {
      gate('lchown', p)
      return inner.lchown(p, u, g)
    },
    async lutimes(p, a, m) {
      gate('lutimes', p)
      return inner.lutimes(p, a, m)
    },
    xattr: {
      list: (p) => inner.xattr.list(p),
      get: (p, n) => inner.xattr.get(p, n),
      async set(p, n, v) {
        gate('xattr.set', `${p} ${n}`)
        return inner.xattr.set(p, n, v)
      },
      async remove(p, n) {
        gate('xattr.remove', `${p} ${n}`)
        return inner.xattr.remove(p, n)
      },
    },
    async fsync(p) {
      gate('fsync', p)
      return inner.fsync(p)
    },
    fsType: (p) => inner.fsType(p),
    mounts: () => inner.mounts(),
    async unmount(p, o) {
      gate('unmount', p)
      return inner.unmount(p, o)
    },
  }
}
