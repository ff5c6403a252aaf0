import { gzipSync } from 'node:zlib'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCheck, type CheckOptions, type CheckReport } from '../src/check/run.js'
import { readTarSplitMarks, TAR_SPLIT_FILE } from '../src/families/docker/tar-split.js'
import { makeDirs, writeFileAll } from '../src/fs/io.js'
import { createMemoryFs } from '../src/fs/memory.js'
import { decodeName } from '../src/fs/name-bytes.js'
import type { FsPort } from '../src/fs/port.js'
import { listTree } from '../src/testing/tree-spec.js'
import { memorySubject, SUBJECTS, type Subject } from './support/adapters.js'
import { dockerFixtureSkipReason, loadDockerFixture, type FixtureDriver } from './support/docker-fixture.js'

// fixtures/docker/README.md: O2 deletes data/gone.txt and var/log/old.log and makes data/cache opaque.
const O2_CHAIN = 'cb9e4815f3ba4f8814b7b92441a7ebd22555ff6318aadeaf66d4c4195f962c12'
const O2 = '073f1888b945de6ee4ebe050447b8540d5d906eade10655b3f15c0a839b2def4'
const CODE = 'docker-whiteout-lost'

interface Env {
  fs: FsPort
  store: string
  /** O2's diff/. */
  diff: string
  /** O2's layer record. */
  record: string
  options: CheckOptions
}

async function makeEnv(s: Subject, driver: FixtureDriver = 'overlay2'): Promise<Env> {
  const store = `${s.root}/data`
  await s.fs.mkdir(store, 0o710)
  await loadDockerFixture(s.fs, driver, store)
  const known = `${s.root}/known-containers`
  await writeFileAll(s.fs, known, '')
  const proc = `${s.root}/proc`
  await makeDirs(s.fs, proc)
  const filesystems = `${s.root}/filesystems`
  await writeFileAll(s.fs, filesystems, 'nodev\ttmpfs\nnodev\toverlay\n\text4\n')
  return {
    fs: s.fs,
    store,
    diff: `${store}/overlay2/${O2}/diff`,
    record: `${store}/image/${driver}/layerdb/sha256/${O2_CHAIN}`,
    options: { store, knownContainers: known, procRoot: proc, procFilesystems: filesystems },
  }
}

/** The layer dirs and records, mtimes included: what a fix may change (a changing run also takes the store lock). */
const layout = async (e: Env): Promise<string> =>
  (await listTree(e.fs, `${e.store}/overlay2`, { mtime: true })) + (await listTree(e.fs, `${e.store}/image`, { mtime: true }))

const findingsOf = (r: CheckReport, code?: string) => r.passes.flatMap((p) => p.findings.filter((f) => code === undefined || f.code === code))
const codesOf = (r: CheckReport): string[] => [...new Set(findingsOf(r).map((f) => f.code))].sort()

/** A tar-split file as Docker's layer store writes it: one JSON entry per line, gzipped; segments left out. */
function tarSplit(entries: ({ name: string } | { raw: Uint8Array } | { line: string })[]): Uint8Array {
  const lines = entries.map((e, position) => {
    if ('line' in e) return e.line
    if ('raw' in e) return JSON.stringify({ type: 1, name_raw: Buffer.from(e.raw).toString('base64'), payload: null, position })
    return JSON.stringify({ type: 1, name: e.name, payload: null, position })
  })
  return new Uint8Array(gzipSync(Buffer.from(lines.map((l) => `${l}\n`).join(''))))
}

for (const subject of SUBJECTS) {
  describe(`${CODE} on ${subject.name}`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await subject.make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    for (const driver of ['overlay2', 'overlay'] as const) {
      it(`finds no lost whiteout in the pristine ${driver} data root, whose tar-splits hold them all`, async ({ skip }) => {
        const reason = dockerFixtureSkipReason(subject.name)
        if (reason) return skip(reason)
        const e = await makeEnv(s, driver)
        const report = await runCheck(s.fs, e.options)
        expect(findingsOf(report)).toEqual([])
        expect(report.exitCode).toBe(0)
      })
    }

    it('reports a removed whiteout device with the layer and its counts, and -y recreates it as Docker made it', async ({ skip }) => {
      const reason = dockerFixtureSkipReason(subject.name)
      if (reason) return skip(reason)
      const e = await makeEnv(s)
      await s.fs.unlink(`${e.diff}/data/gone.txt`)
      const before = await listTree(s.fs, s.root, { mtime: true })
      const report = await runCheck(s.fs, e.options)
      expect(await listTree(s.fs, s.root, { mtime: true })).toBe(before)
      expect(codesOf(report)).toEqual([CODE])
      const [finding] = findingsOf(report, CODE)
      expect(finding).toMatchObject({ path: e.diff, severity: 'error', pass: 'references', fix: { by: 'check', safe: false } })
      expect(finding!.message).toMatch(new RegExp(`^1 of 2 whiteouts that the tar of layer sha256:${O2_CHAIN} made is lost \\(e\\.g\\. the whiteout data/gone\\.txt is missing\\)`))
      expect(finding!.detail).toMatchObject({ whiteouts: 2, opaqueDirs: 1, lostWhiteouts: 1, lostOpaque: 0, blocked: 0, record: e.record })
      expect(report.exitCode & 4).toBe(4)

      const dataMtime = (await s.fs.lstat(`${e.diff}/data`))!.mtimeNs
      const fixed = await runCheck(s.fs, { ...e.options, mode: 'yes' })
      expect(findingsOf(fixed, CODE).map((f) => [f.path, f.status, f.fixError])).toEqual([[e.diff, 'fixed', undefined]])
      const device = await s.fs.lstat(`${e.diff}/data/gone.txt`)
      expect(device).toMatchObject({ kind: 'char', rdev: { major: 0, minor: 0 }, mode: 0, uid: 0, gid: 0 })
      expect((await s.fs.lstat(`${e.diff}/data`))!.mtimeNs).toBe(dataMtime)

      const second = await runCheck(s.fs, e.options)
      expect(findingsOf(second)).toEqual([])
      expect(second.exitCode).toBe(0)
    })

    it('reports a removed opaque xattr, and -y sets it again', async ({ skip }) => {
      const reason = dockerFixtureSkipReason(subject.name)
      if (reason) return skip(reason)
      const e = await makeEnv(s)
      await s.fs.xattr.remove(`${e.diff}/data/cache`, 'trusted.overlay.opaque')
      const report = await runCheck(s.fs, e.options)
      expect(codesOf(report)).toEqual([CODE])
      const [finding] = findingsOf(report, CODE)
      expect(finding!.path).toBe(e.diff)
      expect(finding!.message).toMatch(/^1 of 1 opaque dir that the tar of layer .* is lost \(e\.g\. data\/cache lacks trusted\.overlay\.opaque=y\)/)
      expect(finding!.detail).toMatchObject({ lostWhiteouts: 0, lostOpaque: 1, blocked: 0 })

      const fixed = await runCheck(s.fs, { ...e.options, mode: 'yes' })
      expect(findingsOf(fixed, CODE).map((f) => f.status)).toEqual(['fixed'])
      expect(Buffer.from((await s.fs.xattr.get(`${e.diff}/data/cache`, 'trusted.overlay.opaque'))!).toString()).toBe('y')
      const second = await runCheck(s.fs, e.options)
      expect(findingsOf(second)).toEqual([])
      expect(second.exitCode).toBe(0)
    })

    it('reports a regular file where a whiteout should be and refuses to replace it, changing nothing', async ({ skip }) => {
      const reason = dockerFixtureSkipReason(subject.name)
      if (reason) return skip(reason)
      const e = await makeEnv(s)
      // A lost device too: the whole layer waits for the person, not half of it.
      await s.fs.unlink(`${e.diff}/var/log/old.log`)
      await s.fs.unlink(`${e.diff}/data/gone.txt`)
      await writeFileAll(s.fs, `${e.diff}/data/gone.txt`, 'back from the dead\n')
      const report = await runCheck(s.fs, e.options)
      expect(codesOf(report)).toEqual([CODE])
      const [finding] = findingsOf(report, CODE)
      expect(finding!.message).toMatch(/^2 of 2 whiteouts .* are lost \(e\.g\. the whiteout var\/log\/old\.log is missing\)/)
      expect(finding!.message).toContain('1 needs a person (e.g. data/gone.txt is a regular file, not the 0/0 whiteout its tar made)')
      expect(finding!.detail).toMatchObject({ lostWhiteouts: 2, blocked: 1 })

      const before = await layout(e)
      const fixed = await runCheck(s.fs, { ...e.options, mode: 'yes' })
      const [refused] = findingsOf(fixed, CODE)
      expect(refused).toMatchObject({ path: e.diff, status: 'fix-failed' })
      expect(refused!.fixError).toMatch(/nothing changed: data\/gone\.txt is a regular file/)
      expect(await layout(e)).toBe(before)
      expect(fixed.exitCode & 4).toBe(4)
    })

    it('restores a whiteout whose name is not UTF-8, as tar-split records it in name_raw', async ({ skip }) => {
      const reason = dockerFixtureSkipReason(subject.name)
      if (reason) return skip(reason)
      const e = await makeEnv(s)
      const name = decodeName(Buffer.from([0x6f, 0x6c, 0x64, 0xff]))
      await writeFileAll(
        s.fs,
        `${e.record}/${TAR_SPLIT_FILE}`,
        tarSplit([{ name: 'data/' }, { raw: Buffer.concat([Buffer.from('data/.wh.'), Buffer.from([0x6f, 0x6c, 0x64, 0xff])]) }, { name: 'data/.wh.gone.txt' }]),
      )
      const report = await runCheck(s.fs, e.options)
      const [finding] = findingsOf(report, CODE)
      expect(finding!.message).toMatch(/^1 of 2 whiteouts .* \(e\.g\. the whiteout data\/old\\377 is missing\)/)
      const fixed = await runCheck(s.fs, { ...e.options, mode: 'yes' })
      expect(findingsOf(fixed, CODE).map((f) => f.status)).toEqual(['fixed'])
      expect(await s.fs.lstat(`${e.diff}/data/${name}`)).toMatchObject({ kind: 'char', rdev: { major: 0, minor: 0 } })
      expect(findingsOf(await runCheck(s.fs, e.options))).toEqual([])
    })

    it('skips a layer whose tar-split is garbled or missing, without a crash and without a guess', async ({ skip }) => {
      const reason = dockerFixtureSkipReason(subject.name)
      if (reason) return skip(reason)
      const e = await makeEnv(s)
      await s.fs.unlink(`${e.diff}/data/gone.txt`)
      await writeFileAll(s.fs, `${e.record}/${TAR_SPLIT_FILE}`, 'not gzip at all')
      expect(findingsOf(await runCheck(s.fs, e.options), CODE)).toEqual([])
      await s.fs.unlink(`${e.record}/${TAR_SPLIT_FILE}`)
      expect(findingsOf(await runCheck(s.fs, e.options), CODE)).toEqual([])
    })

    it('reads whiteouts and opaque markers from a tar-split as Docker applies the tar', async () => {
      const path = `${s.root}/${TAR_SPLIT_FILE}`
      await writeFileAll(
        s.fs,
        path,
        tarSplit([
          { line: JSON.stringify({ type: 2, payload: Buffer.alloc(512).toString('base64'), position: 0 }) },
          { name: './a/' },
          { name: 'a/.wh.gone' },
          // A later entry at a whited-out name replaces the device.
          { name: 'a/.wh.back' },
          { name: 'a/back' },
          // A later file at a dir's name removes the dir and the marks below it.
          { name: 'b/.wh.x' },
          { name: 'b/c/.wh..wh..opq' },
          { name: 'b' },
          { name: '.wh..wh..opq' },
          { name: '/../d/.wh.e' },
          // Names Docker refuses or that are aufs' own: no whiteouts.
          { name: '../escape/.wh.f' },
          { name: '.wh..wh..plnk/' },
          { name: 'a/.wh..' },
          { name: 'data/cache/.wh..wh..opq' },
        ]),
      )
      expect(await readTarSplitMarks(s.fs, path)).toEqual({ ok: true, whiteouts: ['a/gone', 'd/e'], opaqueDirs: ['', 'data/cache'], entries: 13 })
    })

    it('keeps nothing of a hostile tar-split nesting a whiteout 50000 dirs deep under a dir a later file replaces', async () => {
      const path = `${s.root}/${TAR_SPLIT_FILE}`
      const deep = `${'d/'.repeat(50_000)}.wh.x`
      await writeFileAll(s.fs, path, tarSplit([{ name: deep }, { name: 'k/.wh.y' }, { name: 'd' }]))
      expect(await readTarSplitMarks(s.fs, path)).toEqual({ ok: true, whiteouts: ['k/y'], opaqueDirs: [], entries: 3 })
    })

    it('gives an unreadable answer, not an exception, for a tar-split too large, garbled or not gzip', async () => {
      const path = `${s.root}/${TAR_SPLIT_FILE}`
      const many = Array.from({ length: 2000 }, (_, i) => ({ name: `f${i}` }))
      await writeFileAll(s.fs, path, tarSplit(many))
      expect(await readTarSplitMarks(s.fs, path, { decompressed: 4096 })).toMatchObject({ ok: false, code: 'FILE_TOO_LARGE' })
      expect(await readTarSplitMarks(s.fs, path, { line: 8 })).toMatchObject({ ok: false, code: 'LINE_TOO_LONG' })
      await writeFileAll(s.fs, path, tarSplit([{ name: 'a/.wh.b' }, { line: '{"type":1,' }, { name: 'c' }]))
      expect(await readTarSplitMarks(s.fs, path)).toMatchObject({ ok: false, code: 'GARBLED' })
      await writeFileAll(s.fs, path, 'plain text')
      const notGzip = await readTarSplitMarks(s.fs, path)
      expect(notGzip.ok).toBe(false)
      expect(await readTarSplitMarks(s.fs, `${s.root}/absent`)).toMatchObject({ ok: false, code: 'ENOENT' })
    })
  })
}

describe(`${CODE} without the capabilities`, () => {
  it('skips opaque dirs it cannot see and refuses to restore a whiteout without CAP_MKNOD', async () => {
    const s = await memorySubject()
    const e = await makeEnv(s)
    await s.fs.unlink(`${e.diff}/data/gone.txt`)
    await s.fs.xattr.remove(`${e.diff}/data/cache`, 'trusted.overlay.opaque')
    const user = createMemoryFs({ volume: s.fs.volume, capabilities: { sysAdmin: false, mknod: false } })
    const before = await layout(e)
    const report = await runCheck(user, { ...e.options, mode: 'yes' })
    const [finding] = findingsOf(report, CODE)
    // The opaque dir is invisible without CAP_SYS_ADMIN: only the whiteout is counted, and xattrs-unreadable says why.
    expect(finding!.detail).toMatchObject({ whiteouts: 2, opaqueDirs: 0, lostWhiteouts: 1, lostOpaque: 0 })
    expect(finding).toMatchObject({ status: 'fix-failed' })
    expect(finding!.fixError).toMatch(/CAP_MKNOD/)
    expect(codesOf(report)).toContain('xattrs-unreadable')
    expect(await layout(e)).toBe(before)
  })
})
