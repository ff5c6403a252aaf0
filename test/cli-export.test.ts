/**
 * `layerfsck export -o FILE` as an operator meets it: what it may replace,
 * where it refuses to write, what a failure leaves behind (nothing), and the
 * --json report. Each case runs on the memory adapter and on disk.
 */
import { describe, expect, it } from 'vitest'
import { errnoError } from '../src/errors.js'
import { writeFileAll } from '../src/fs/io.js'
import type { FsPort, WriteHandle } from '../src/fs/port.js'
import { generateMesosStore } from '../src/families/mesos/testing.js'
import { listTree } from '../src/testing/tree-spec.js'
import { SUBJECTS, type Subject } from './support/adapters.js'
import { runCli } from './support/cli.js'

async function withStore(subject: (typeof SUBJECTS)[number], body: (s: Subject, store: string, layer: string) => Promise<void>): Promise<void> {
  const s = await subject.make()
  try {
    const store = `${s.root}/store`
    const g = await generateMesosStore(s.fs, store, { format: '1.1.0', layers: 2, backends: ['aufs'], filesPerLayer: 4 })
    await s.fs.mkdir(`${s.root}/out`, 0o755)
    // The upper layer: it has whiteouts and an opaque dir to count.
    await body(s, store, g.layerIds[1]!)
  } finally {
    await s.cleanup()
  }
}

/** The port with some calls replaced, to make a step of the export fail. */
function failing(fs: FsPort, overrides: Partial<Pick<FsPort, 'rename' | 'fsync'>> & { write?: (chunk: Uint8Array, count: number) => void }): FsPort {
  let writes = 0
  return new Proxy(fs, {
    get(target, prop, receiver) {
      if (prop === 'rename' && overrides.rename) return overrides.rename
      if (prop === 'fsync' && overrides.fsync) return overrides.fsync
      if (prop === 'openWrite' && overrides.write) {
        return async (path: string, options?: Parameters<FsPort['openWrite']>[1]): Promise<WriteHandle> => {
          const h = await target.openWrite(path, options)
          return {
            write: async (chunk) => {
              overrides.write!(chunk, ++writes)
              await h.write(chunk)
            },
            sync: () => h.sync(),
            close: () => h.close(),
          }
        }
      }
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
}

for (const subject of SUBJECTS) {
  describe(`export -o on the ${subject.name} adapter`, () => {
    it('replaces an existing regular file, as tar -f does', async () => {
      await withStore(subject, async (s, store, layer) => {
        await writeFileAll(s.fs, `${s.root}/out/layer.tar`, 'old contents')
        const r = await runCli(s.fs, ['export', '--store', store, '--layer', layer, '-o', `${s.root}/out/layer.tar`])
        expect(r.code, r.stderr).toBe(0)
        const after = await s.fs.lstat(`${s.root}/out/layer.tar`)
        expect(after?.kind).toBe('file')
        expect(after!.size % 512).toBe(0)
        expect((await s.fs.readdir(`${s.root}/out`)).map((e) => e.name)).toEqual(['layer.tar'])
      })
    })

    const specials: { kind: string; make: (s: Subject, path: string) => Promise<void>; shown: RegExp; needsRoot?: boolean }[] = [
      { kind: 'a symlink', make: (s, p) => s.fs.symlink('elsewhere.tar', p), shown: /is a symlink, and export replaces only a regular file/ },
      { kind: 'a fifo', make: (s, p) => s.fs.mknod(p, 'fifo', 0o644), shown: /is a fifo/ },
      { kind: 'a directory', make: (s, p) => s.fs.mkdir(p, 0o755), shown: /is a directory/ },
      { kind: 'a char device', make: (s, p) => s.fs.mknod(p, 'char', 0o666, { major: 1, minor: 3 }), shown: /is a char device/, needsRoot: true },
    ]
    for (const special of specials) {
      it(`refuses to replace ${special.kind} at FILE and changes nothing`, async (ctx) => {
        await withStore(subject, async (s, store, layer) => {
          if (special.needsRoot && !s.privileged) return ctx.skip()
          const target = `${s.root}/out/target`
          await special.make(s, target)
          const before = await listTree(s.fs, s.root, { mtime: true })
          const r = await runCli(s.fs, ['export', '--store', store, '--layer', layer, '-o', target])
          expect(r.code).toBe(8)
          expect(r.stderr).toMatch(special.shown)
          expect(r.stderr).toContain('nothing was written')
          expect(await listTree(s.fs, s.root, { mtime: true })).toBe(before)
        })
      })
    }

    it('refuses an output path inside the store being exported, also through a symlinked directory', async () => {
      await withStore(subject, async (s, store, layer) => {
        await s.fs.symlink(`${store}/layers`, `${s.root}/out/into-store`)
        const before = await listTree(s.fs, s.root, { mtime: true })
        for (const output of [`${store}/layers/out.tar`, `${store}/out.tar`, `${s.root}/out/into-store/out.tar`]) {
          const r = await runCli(s.fs, ['export', '--store', store, '--layer', layer, '-o', output])
          expect(r.code, output).toBe(8)
          expect(r.stderr).toMatch(/is inside the store .* being exported/)
        }
        expect(await listTree(s.fs, s.root, { mtime: true })).toBe(before)
      })
    })

    it('says so clearly when FILE\'s directory is missing or not a directory', async () => {
      await withStore(subject, async (s, store, layer) => {
        await writeFileAll(s.fs, `${s.root}/out/plain`, 'x')
        const before = await listTree(s.fs, s.root, { mtime: true })
        const missing = await runCli(s.fs, ['export', '--store', store, '--layer', layer, '-o', `${s.root}/nowhere/l.tar`])
        expect(missing.code).toBe(8)
        expect(missing.stderr).toContain(`its directory ${s.root}/nowhere does not exist`)
        expect(missing.stderr).not.toMatch(/ENOENT|layerfsck-tmp/)
        const notDir = await runCli(s.fs, ['export', '--store', store, '--layer', layer, '-o', `${s.root}/out/plain/l.tar`])
        expect(notDir.code).toBe(8)
        expect(notDir.stderr).toContain(`${s.root}/out/plain is not a directory`)
        expect(notDir.stderr).not.toMatch(/ENOTDIR|layerfsck-tmp/)
        expect(await listTree(s.fs, s.root, { mtime: true })).toBe(before)
      })
    })

    const failures: { when: string; fs: (fs: FsPort) => FsPort; shown: RegExp }[] = [
      {
        when: 'writing the tar fails',
        fs: (fs) =>
          failing(fs, {
            write: (_chunk, count) => {
              // Export hands the tar over in batches: a small layer's is one write.
              if (count === 1) throw errnoError('ENOSPC', 'write')
            },
          }),
        shown: /^layerfsck: error: ENOSPC/,
      },
      {
        when: 'the rename onto FILE fails (a directory appeared there meanwhile)',
        fs: (fs) => failing(fs, { rename: (from, to) => Promise.reject(errnoError('EISDIR', 'rename', from, to)) }),
        shown: /renaming the finished tar onto it failed \(EISDIR\)/,
      },
    ]
    for (const failure of failures) {
      it(`removes the temp file when ${failure.when}`, async () => {
        await withStore(subject, async (s, store, layer) => {
          // The temp file comes and goes in out/, so out/'s own mtime changes; the store must not.
          const before = await listTree(s.fs, store, { mtime: true })
          const r = await runCli(failure.fs(s.fs), ['export', '--store', store, '--layer', layer, '-o', `${s.root}/out/l.tar`])
          expect(r.code).toBe(8)
          expect(r.stderr).toMatch(failure.shown)
          expect(await s.fs.readdir(`${s.root}/out`)).toEqual([])
          expect(await listTree(s.fs, store, { mtime: true })).toBe(before)
        })
      })
    }

    it('prints one JSON document about the tar with --json and -o', async () => {
      await withStore(subject, async (s, store, layer) => {
        const output = `${s.root}/out/l.tar`
        const r = await runCli(s.fs, ['export', '--store', store, '--layer', layer, '-o', output, '--json'])
        expect(r.code, r.stderr).toBe(0)
        const doc = JSON.parse(r.stdout)
        expect(doc).toMatchObject({ schemaVersion: 1, layer, output, rootfs: `${store}/layers/${layer}/rootfs`, incomplete: null, skipped: [] })
        for (const key of ['entries', 'whiteouts', 'opaqueDirs', 'hardLinks', 'bytes']) expect(typeof doc[key], key).toBe('number')
        expect(doc.entries).toBeGreaterThan(0)
        expect(doc.opaqueDirs).toBeGreaterThan(0)
        expect((await s.fs.lstat(output))?.kind).toBe('file')
      })
    })

    it('answers --json without -o as a usage error that says why, before reading the store', async () => {
      await withStore(subject, async (s, store, layer) => {
        for (const args of [['--json'], ['--json=true'], ['-o', '-', '--json']]) {
          const r = await runCli(s.fs, ['export', '--store', store, '--layer', layer, ...args])
          expect(r.code, args.join(' ')).toBe(16)
          expect(r.stderr).toContain('stdout carries the tar')
          // Only the error document: no tar bytes before it.
          expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'LAYERFSCK_USAGE', exitCode: 16 })
        }
      })
    })
  })
}
