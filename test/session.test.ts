import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { errnoError, LayerfsckError } from '../src/errors.js'
import { findFormat } from '../src/format/registry.js'
import { readStamp } from '../src/format/stamp.js'
import { CrashError, withCrashAfter } from '../src/fs/crash.js'
import { makeDirs, readTextLimited, writeFileAll, writeFileDurable } from '../src/fs/io.js'
import type { FsPort } from '../src/fs/port.js'
import { dirname } from '../src/fs/safe-path.js'
import { JOURNAL_VERSION, readJournal } from '../src/steps/journal.js'
import { journalPath, lockPath, StoreLockedError } from '../src/steps/lock.js'
import { GuardedProcessError, InternalError, StepFailedError, StoreSession, withSession } from '../src/steps/session.js'
import type { Step } from '../src/steps/step.js'
import { listTree } from '../src/testing/tree-spec.js'
import { SUBJECTS, type Subject } from './support/adapters.js'

const FORMAT = findFormat('mesos-docker', '1.8.0')!
const NOW = (): Date => new Date('2026-01-02T03:04:05Z')
const CLAIMS = { dir: 'staging', name: /^[A-Za-z0-9]{6}$/ }

/** The port with the journal's fsyncs watched: `durable` gets the records the journal held at each, as `type step`. */
function watchJournalSyncs(fs: FsPort, store: string): { watched: FsPort; durable: string[][] } {
  const durable: string[][] = []
  const journal = journalPath(store)
  const watched: FsPort = {
    ...fs,
    openWrite: async (path, options) => {
      const handle = await fs.openWrite(path, options)
      if (path !== journal) return handle
      return {
        ...handle,
        write: (chunk) => handle.write(chunk),
        close: () => handle.close(),
        sync: async () => {
          await handle.sync()
          const records = (await readTextLimited(fs, journal, 1 << 20)).split('\n').filter((l) => l !== '')
          durable.push(records.map((l) => JSON.parse(l) as { type: string; step?: string }).map((r) => (r.step ? `${r.type} ${r.step}` : r.type)))
        },
      }
    },
  }
  return { watched, durable }
}


/**
 * A step that creates one file; done once the file is there. It writes
 * through a temp name and a rename: with a plain create, a crash between
 * open and write leaves an empty file that isDone would take for done (the
 * crash test below caught exactly that).
 */
function fileStep(path: string, text = 'x'): Step {
  return {
    id: `write:${path}`,
    describe: () => `write ${path}`,
    isDone: async ({ fs }) => (await fs.lstat(path)) !== undefined,
    apply: async ({ fs }) => writeFileDurable(fs, path, Buffer.from(text)),
  }
}

function throwingStep(id: string, err: () => unknown, calls = { n: 0 }): Step {
  return {
    id,
    describe: () => id,
    isDone: async () => false,
    apply: async () => {
      calls.n += 1
      throw err()
    },
  }
}

for (const subject of SUBJECTS) {
  describe(`the store session (${subject.name})`, () => {
    let s: Subject
    let fs: FsPort
    let store: string
    beforeEach(async () => {
      s = await subject.make()
      fs = s.fs
      store = `${s.root}/store`
      await makeDirs(fs, `${store}/layers`)
    })
    afterEach(async () => s.cleanup())

    const change = (extra: Partial<Parameters<typeof StoreSession.open>[1]> = {}) =>
      ({ store, command: 'test', intent: 'change', now: NOW, waitSeconds: 0.3, claims: CLAIMS, ...extra }) as const

    it('runs the steps, writes the stamp last and leaves no journal behind', async () => {
      const outcomes = await withSession(fs, change(), async (session) => {
        const o = await session.runSteps([fileStep(`${store}/a`), fileStep(`${store}/b`)])
        await session.commit(FORMAT)
        return o
      })
      expect(outcomes.map((o) => o.status)).toEqual(['applied', 'applied'])
      const stamp = await readStamp(fs, store)
      expect(stamp.state === 'ok' && stamp.stamp.version).toBe('1.8.0')
      expect(await fs.lstat(journalPath(store))).toBeUndefined()
    })

    it("makes each step's begin durable before it applies, and its done durable with the record after it, not by an fsync of its own", async () => {
      // What the journal held at each of its fsyncs: the records a power cut would keep.
      const { watched, durable } = watchJournalSyncs(fs, store)
      const seenAtApply: string[][] = []
      const step = (name: string): Step => ({
        id: name,
        describe: () => name,
        isDone: async () => false,
        apply: async () => {
          seenAtApply.push(durable.at(-1) ?? [])
        },
      })
      await withSession(watched, change(), async (session) => {
        await session.runSteps([step('a'), step('b'), step('c')])
        await session.commit(FORMAT)
      })
      expect(seenAtApply.map((records) => records.at(-1))).toEqual(['begin a', 'begin b', 'begin c'])
      // b's begin made a's done durable with it; c's done waits for the commit's syncfs.
      expect(seenAtApply[1]).toContain('done a')
      expect(durable.at(-1)).toEqual(['run', 'begin a', 'done a', 'begin b', 'done b', 'begin c'])
      // The journal's creation, its run record and one per step.
      expect(durable).toHaveLength(5)
    })

    it("leaves the begin of a step that needs only its isDone to the next durable record, and still syncs a claim before the claimed path is made", async () => {
      const { watched, durable } = watchJournalSyncs(fs, store)
      const seenAtApply: string[][] = []
      const step = (name: string, claims: boolean): Step => ({
        id: name,
        describe: () => name,
        isDone: async () => false,
        beginDurable: false,
        apply: async (ctx) => {
          seenAtApply.push(durable.at(-1) ?? [])
          if (!claims) return
          const sessionNow = current!
          const dir = await sessionNow.claim(`${ctx.store}/staging/abcdef`)
          seenAtApply.push(durable.at(-1) ?? [])
          await ctx.fs.mkdir(dir, 0o700)
        },
      })
      let current: StoreSession | undefined
      await fs.mkdir(`${store}/staging`, 0o755)
      await withSession(watched, change(), async (session) => {
        current = session
        await session.runSteps([step('a', true), step('b', false), step('c', false)])
        await session.commit(FORMAT)
      })
      // a's begin was not synced before it applied; its claim was, and took a's begin with it.
      expect(seenAtApply[0]).toEqual(['run'])
      expect(seenAtApply[1]).toEqual(['run', 'begin a', 'claim'])
      expect(seenAtApply[2]).toEqual(['run', 'begin a', 'claim'])
      expect(seenAtApply[3]).toEqual(['run', 'begin a', 'claim'])
      // The journal's creation, its run record and the claim: no fsync per step.
      expect(durable).toHaveLength(3)
    })

    it('drops a torn tail of unsynced begin and done records, and calls a bad line before a synced record damage', async () => {
      const journal = journalPath(store)
      await makeDirs(fs, dirname(journal), 0o700)
      const line = (r: object): string => `${JSON.stringify({ v: JOURNAL_VERSION, run: 'r1', ...r })}\n`
      const head = line({ type: 'run', command: 'migrate', pid: 1, at: '2026-01-01T00:00:00.000Z' }) + line({ type: 'claim', rel: 'staging/abcdef' })
      // A page of the unsynced tail never written, a later one written: a gap of zero bytes, then records.
      const gap = '\0'.repeat(300) + '\n'
      await writeFileAll(fs, journal, head + line({ type: 'begin', step: 'a', describe: 'a' }) + gap + line({ type: 'done', step: 'a', status: 'applied' }) + line({ type: 'begin', step: 'b', describe: 'b' }))
      expect((await readJournal(fs, journal)).map((r) => r.type)).toEqual(['run', 'claim', 'begin'])
      await writeFileAll(fs, journal, head + gap + line({ type: 'claim', rel: 'staging/ghijkl' }))
      await expect(readJournal(fs, journal)).rejects.toMatchObject({ code: 'LAYERFSCK_JOURNAL_DAMAGED' })
    })

    it('skips a step whose isDone says it already landed', async () => {
      await writeFileAll(fs, `${store}/a`, 'old')
      const outcomes = await withSession(fs, change(), (session) => session.runSteps([fileStep(`${store}/a`, 'new')]))
      expect(outcomes[0]!.status).toBe('already-done')
      expect(await readTextLimited(fs, `${store}/a`)).toBe('old')
    })

    it('changes nothing at all when the plan is empty', async () => {
      const before = await listTree(fs, s.root)
      await withSession(fs, change(), async (session) => {
        await session.runSteps([])
        await session.commit(FORMAT)
      })
      // The lock file is the one trace: it is how the next layerfsck waits for this one.
      const after = (await listTree(fs, s.root)).split('\n').filter((l) => !l.includes('.layerfsck'))
      expect(after.join('\n')).toBe(before)
      expect(await fs.lstat(`${store}/.layerfsck/format.json`)).toBeUndefined()
    })

    it('never creates anything for a read-only session', async () => {
      const before = await listTree(fs, s.root, { mtime: true })
      await withSession(fs, { store, command: 'check -n', intent: 'read' }, async () => undefined)
      expect(await listTree(fs, s.root, { mtime: true })).toBe(before)
    })

    it('makes a second changing session wait, then fail naming the holder', async () => {
      const first = await StoreSession.open(fs, change())
      try {
        const started = Date.now()
        const err = await StoreSession.open(fs, change()).catch((e: unknown) => e)
        expect(err).toBeInstanceOf(StoreLockedError)
        expect((err as StoreLockedError).exitCode).toBe(8)
        expect((err as Error).message).toContain(`pid ${process.pid}`)
        expect(Date.now() - started).toBeGreaterThanOrEqual(250)
        // A reader waits for a writer too.
        await expect(StoreSession.open(fs, { store, command: 'detect', intent: 'read', waitSeconds: 0.1 })).rejects.toBeInstanceOf(StoreLockedError)
      } finally {
        await first.close()
      }
      const again = await StoreSession.open(fs, change())
      await again.close()
    })

    it('lets readers share the lock and keeps writers out while they read', async () => {
      const writer = await StoreSession.open(fs, change())
      await writer.close()
      const a = await StoreSession.open(fs, { store, command: 'detect', intent: 'read' })
      const b = await StoreSession.open(fs, { store, command: 'export', intent: 'read' })
      await expect(StoreSession.open(fs, change({ waitSeconds: 0.1 }))).rejects.toBeInstanceOf(StoreLockedError)
      await a.close()
      await b.close()
      expect((await fs.lstat(lockPath(store)))?.kind).toBe('file')
    })

    it('queues sessions that arrive together instead of losing one', async () => {
      const log: string[] = []
      await Promise.all(
        ['a', 'b', 'c'].map((name) =>
          withSession(fs, change({ waitSeconds: 5 }), async (session) => {
            log.push(`start ${name}`)
            await session.runSteps([fileStep(`${store}/${name}`)])
            await new Promise((r) => setTimeout(r, 20))
            log.push(`end ${name}`)
          }),
        ),
      )
      // Never two starts in a row: each session ran alone.
      for (let i = 0; i < log.length; i += 2) expect(log[i]!.replace('start', 'end')).toBe(log[i + 1])
    })

    it('refuses to change the store while a Mesos agent runs, unless forced', async () => {
      const proc = `${s.root}/proc`
      await makeDirs(fs, `${proc}/4242`)
      await writeFileAll(fs, `${proc}/4242/comm`, 'mesos-agent\n')
      await makeDirs(fs, `${proc}/17`)
      await writeFileAll(fs, `${proc}/17/comm`, 'bash\n')
      const guarded = change({ procRoot: proc, guardProcesses: ['mesos-agent', 'mesos-slave'] })
      const err = await StoreSession.open(fs, guarded).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(GuardedProcessError)
      expect((err as Error).message).toContain('mesos-agent (pid 4242)')
      expect(await fs.lstat(`${store}/.layerfsck`)).toBeUndefined()
      await (await StoreSession.open(fs, { ...guarded, force: true })).close()
      // Reading is fine while the agent runs.
      await (await StoreSession.open(fs, { ...guarded, intent: 'read' })).close()
    })

    it('retries a busy step, then defers it for the next run', async () => {
      const calls = { n: 0 }
      const outcomes = await withSession(fs, change(), (session) =>
        session.runSteps([throwingStep('busy', () => errnoError('EBUSY', 'rmdir', '/x'), calls), fileStep(`${store}/after`)]),
      )
      expect(calls.n).toBe(4)
      expect(outcomes[0]).toMatchObject({ status: 'deferred' })
      expect(outcomes[0]!.reason).toMatch(/busy/)
      expect(outcomes[1]!.status).toBe('applied')
    })

    it('records a refusal without stopping the plan', async () => {
      const outcomes = await withSession(fs, change(), (session) =>
        session.runSteps([throwingStep('refuse', () => new LayerfsckError('MOUNTED_BELOW', 'a mount is below', { refusal: true })), fileStep(`${store}/after`)]),
      )
      expect(outcomes.map((o) => o.status)).toEqual(['refused', 'applied'])
      expect(outcomes[0]!.reason).toBe('a mount is below')
    })

    it('stops the plan at a step that fails with any other errno, naming it', async () => {
      const err = await withSession(fs, change(), (session) =>
        session.runSteps([throwingStep('denied', () => errnoError('EACCES', 'unlink', '/x')), fileStep(`${store}/after`)]),
      ).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(StepFailedError)
      expect((err as Error).message).toContain('step denied')
      expect((err as StepFailedError).exitCode).toBe(8)
      expect(await fs.lstat(`${store}/after`)).toBeUndefined()
    })

    it('reports a bug in a step as an internal error, not as a failed change', async () => {
      const err = await withSession(fs, change(), (session) =>
        session.runSteps([throwingStep('bug', () => new TypeError("Cannot read properties of undefined (reading 'x')"))]),
      ).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(InternalError)
      expect((err as Error).message).toMatch(/^internal error/)
      expect((err as InternalError).exitCode).toBe(8)
    })

    it('removes what an interrupted run claimed before the next run starts', async () => {
      const stage = `${store}/staging/DeAd01`
      const crashing = withCrashAfter(fs, Infinity)
      const session = await StoreSession.open(crashing, change())
      await session.claim(stage)
      await makeDirs(fs, `${stage}/deep`)
      await writeFileAll(fs, `${stage}/deep/file`, 'half')
      await session.runSteps([fileStep(`${store}/a`)])
      // Killed here: no commit, and the kernel drops the lock.
      await session.close()
      const next = await StoreSession.open(fs, change())
      try {
        expect(next.resumed).toMatchObject({ command: 'test', pid: process.pid, stepsDone: 1, claims: ['staging/DeAd01'] })
        expect(next.recovered).toEqual([stage])
        expect(await fs.lstat(stage)).toBeUndefined()
        await next.runSteps([fileStep(`${store}/a`)])
        await next.commit(FORMAT)
      } finally {
        await next.close()
      }
      expect(await fs.lstat(journalPath(store))).toBeUndefined()
    })

    it('never removes a claim that leaves the store or is not a staging dir, whatever the journal says', async () => {
      const victim = `${s.root}/victim`
      await makeDirs(fs, `${victim}/keep`)
      await makeDirs(fs, `${store}/.layerfsck`)
      await makeDirs(fs, `${store}/staging`)
      await makeDirs(fs, `${store}/staging/AbC123`)
      await fs.symlink(victim, `${store}/staging/Link01`)
      await writeFileAll(fs, `${store}/storedImages`, 'precious')
      const claims = [victim, '../victim', 'staging/../../victim', 'staging/Link01/keep', 'layers', 'storedImages', 'staging/too-long-name', 'staging/Link01', 'staging/AbC123']
      const records = [
        { v: 1, type: 'run', run: 'r1', command: 'import', pid: 1, at: '' },
        ...claims.map((rel) => ({ v: 1, type: 'claim', run: 'r1', rel })),
        { v: 1, type: 'claim', run: 'r1', path: victim },
      ]
      await writeFileAll(fs, journalPath(store), `${records.map((r) => JSON.stringify(r)).join('\n')}\n`)
      const session = await StoreSession.open(fs, change())
      await session.close()
      expect((await fs.lstat(`${victim}/keep`))?.kind).toBe('dir')
      expect((await fs.lstat(`${store}/layers`))?.kind).toBe('dir')
      expect(await readTextLimited(fs, `${store}/storedImages`)).toBe('precious')
      // A symlink of the staging shape is unlinked, never followed; the staging dir goes.
      expect(session.recovered).toEqual([`${store}/staging/Link01`, `${store}/staging/AbC123`])
    })

    it('never follows a staging dir that is a symlink out of the store', async () => {
      const victim = `${s.root}/victim`
      await makeDirs(fs, `${victim}/AbC123/keep`)
      await makeDirs(fs, `${store}/.layerfsck`)
      await fs.symlink(victim, `${store}/staging`)
      const records = [
        { v: 1, type: 'run', run: 'r1', command: 'import', pid: 1, at: '' },
        { v: 1, type: 'claim', run: 'r1', rel: 'staging/AbC123' },
      ]
      await writeFileAll(fs, journalPath(store), `${records.map((r) => JSON.stringify(r)).join('\n')}\n`)
      await (await StoreSession.open(fs, change())).close()
      expect((await fs.lstat(`${victim}/AbC123/keep`))?.kind).toBe('dir')
    })

    it('removes the claims of a store that was moved after the crash from its new place only', async () => {
      const crashing = withCrashAfter(fs, Infinity)
      const session = await StoreSession.open(crashing, change())
      await makeDirs(fs, `${store}/staging`)
      await makeDirs(fs, await session.claim(`${store}/staging/AbC123`))
      await session.close()
      const moved = `${s.root}/moved`
      await fs.rename(store, moved)
      await makeDirs(fs, `${store}/staging/AbC123/precious`)
      const next = await StoreSession.open(fs, { ...change(), store: moved })
      await next.close()
      expect(await fs.lstat(`${moved}/staging/AbC123`)).toBeUndefined()
      expect((await fs.lstat(`${store}/staging/AbC123/precious`))?.kind).toBe('dir')
    })

    it('leaves no journal behind when a run fails cleanly, so nothing looks interrupted', async () => {
      await expect(
        withSession(fs, change(), async (session) => {
          await makeDirs(fs, `${store}/staging`)
          await makeDirs(fs, await session.claim(`${store}/staging/Zz9999`))
          throw new LayerfsckError('IMAGE_SOURCE', 'no such tag')
        }),
      ).rejects.toThrow('no such tag')
      expect(await fs.lstat(journalPath(store))).toBeUndefined()
      expect(await fs.lstat(`${store}/staging/Zz9999`)).toBeUndefined()
      const next = await StoreSession.open(fs, change())
      expect(next.resumed).toBeUndefined()
      await next.close()
    })

    it('makes the steps of a failed run durable before it drops the journal that names them', async () => {
      const calls: string[] = []
      const watched: FsPort = {
        ...fs,
        syncfs: async (path) => (calls.push('syncfs'), fs.syncfs(path)),
        unlink: async (path) => (calls.push(path === journalPath(store) ? 'unlink journal' : 'unlink'), fs.unlink(path)),
      }
      await expect(
        withSession(watched, change(), async (session) => {
          await session.runSteps([fileStep(`${store}/a`)])
          throw new LayerfsckError('IMAGE_SOURCE', 'no such tag')
        }),
      ).rejects.toThrow('no such tag')
      // The step's done record and its change may have waited for a commit that never came.
      expect(calls.filter((c) => c === 'syncfs' || c === 'unlink journal')).toEqual(['syncfs', 'unlink journal'])
      expect(await fs.lstat(`${store}/a`)).toBeDefined()
    })

    it('resumes a journal written by an earlier layerfsck and refuses one from a newer', async () => {
      await makeDirs(fs, `${store}/.layerfsck`)
      await makeDirs(fs, `${store}/staging/OLDRUN`)
      const old = [
        { v: 1, type: 'run', run: 'r1', command: 'import', pid: 1, at: '2026-01-01T00:00:00Z', host: 'an old field' },
        { v: 1, type: 'claim', run: 'r1', rel: 'staging/OLDRUN' },
        { v: 1, type: 'begin', run: 'r1', step: 'layer:x', describe: 'import layer x' },
      ]
      await writeFileAll(fs, journalPath(store), `${old.map((r) => JSON.stringify(r)).join('\n')}\n{"v":1,"type":"do`)
      const session = await StoreSession.open(fs, change())
      expect(session.resumed).toMatchObject({ command: 'import', inProgress: { step: 'layer:x' } })
      expect(await fs.lstat(`${store}/staging/OLDRUN`)).toBeUndefined()
      await session.close()

      await writeFileAll(fs, journalPath(store), `${JSON.stringify({ v: JOURNAL_VERSION + 1, type: 'run', run: 'r2', command: 'x', pid: 1, at: '' })}\n`)
      await expect(StoreSession.open(fs, change())).rejects.toThrow(/newer layerfsck/)
    })

    it('ends identical to an uninterrupted run after a crash at any step', async () => {
      const plan = (): Step[] => [fileStep(`${store}/a`), fileStep(`${store}/b`), fileStep(`${store}/c`)]
      const run = async (port: FsPort): Promise<void> =>
        withSession(port, change(), async (session) => {
          await makeDirs(port, `${store}/staging`)
          await session.claim(`${store}/staging/TmpCl1`)
          await session.runSteps(plan())
          await session.commit(FORMAT)
        })
      const counter = withCrashAfter(fs, Infinity)
      await run(counter)
      const expected = await listTree(fs, store)
      const total = counter.steps
      expect(total).toBeGreaterThan(8)
      for (let n = 0; n < total; n++) {
        const fresh = await subject.make()
        try {
          const root = `${fresh.root}/store`
          await makeDirs(fresh.fs, `${root}/layers`)
          const target = root
          const runAt = async (port: FsPort): Promise<void> =>
            withSession(port, { ...change(), store: target }, async (session) => {
              await makeDirs(port, `${target}/staging`)
              await session.claim(`${target}/staging/TmpCl1`)
              await session.runSteps([fileStep(`${target}/a`), fileStep(`${target}/b`), fileStep(`${target}/c`)])
              await session.commit(FORMAT)
            })
          await runAt(withCrashAfter(fresh.fs, n)).catch((err) => {
            if (!(err instanceof CrashError)) throw err
          })
          await runAt(fresh.fs)
          expect(await listTree(fresh.fs, target)).toBe(expected)
        } finally {
          await fresh.cleanup()
        }
      }
    })
  })
}
