import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCheck, type CheckOptions, type CheckReport } from '../src/check/run.js'
import { checksOf } from '../src/check/registry.js'
import { makeDirs, readFileLimited, readTextLimited, writeFileAll } from '../src/fs/io.js'
import type { FsPort } from '../src/fs/port.js'
import { createMemoryFs } from '../src/fs/memory.js'
import { removeTree } from '../src/fs/remove.js'
import { treeSize } from '../src/fs/tree-size.js'
import { walkTree } from '../src/fs/walk.js'
import { listTree } from '../src/testing/tree-spec.js'
import { memorySubject, SUBJECTS, type Subject } from './support/adapters.js'
import { dockerFixtureSkipReason, loadDockerFixture, type FixtureDriver } from './support/docker-fixture.js'

// fixtures/docker/README.md and <driver>.listing.md: the ids the damages aim at.
const O1_CHAIN = '0a3c4199b078910c5fd773fb6589c3326033974b62f73f1c320cdf4f16be2225'
const O2_CHAIN = 'cb9e4815f3ba4f8814b7b92441a7ebd22555ff6318aadeaf66d4c4195f962c12'
const O3_CHAIN = 'b4dfabf462d6ce08bdb6354ece6934e701f6b02e2583fa6cc7bea8a5a22a8900'
const O1 = 'e1b89a3c92a882f30e96cc029bdfad8d0c2f2b64cd7972617a234b34fcb20220'
const O2 = '073f1888b945de6ee4ebe050447b8540d5d906eade10655b3f15c0a839b2def4'
const O3 = '188d9247bf9d7ac87bdcc1c71d358b1fd100fffb6d5196eff460f18b3e081f3b'
const C = '0089693a196490a1670278fb1d0be3ef2cf82be1ebf9677088c8727c13f5bca1'
const O1_LINK = 'ZKKHYNXIEHRKQW7WFGKER25TUR'
const O2_LINK = 'UTFGFTWYF3ITKNGUWTUY4LZV46'
/** created-overlay: its container id, RW dir and init dir. */
const CREATED = '872a243c9855e87e8a446cb0124824bbafe4c8f0a9a07fa7eb2ff4530c1c8a33'
const CREATED_RW = '60746c96f65914e7d5a63ac218f74c7c497e2bdb42050f145406731a50c35626'
const INIT_LINK = 'GDN3IVXHPH6BG2H37WFG6U3IE5'
const VFS_IMAGE = 'b0724e953ff52d13844be684f034f78d1665001a9c61d7d2b4713a43ca64f1e0'
// The legacy overlay store: O1's and O3's cache-ids, created-overlay's RW dir.
const LEGACY_O1 = 'cea36c34c3efa6e4a4d5b421331b12473f91947e381575c8541a48406b12143a'
const LEGACY_O3 = '14e3c20fff106e0c995d393cc4008c636c58201aad1e355617b3827eabe73b35'
const LEGACY_CREATED_RW = '9c94711defeeda914c138400ff2c6808e958d111d060c9611756b9228f39bbb0'

const HEX_A = 'a'.repeat(64)
const HEX_B = 'b'.repeat(64)
const HEX_D = 'd'.repeat(64)
const NEW_LINK = 'AAAAAAAAAAAAAAAAAAAAAAAAAA'
/** 2024-01-01: an orphan's age is told from its dir's mtime. */
const LONG_AGO = 1_704_067_200_000_000_000n

interface Env {
  s: Subject
  fs: FsPort
  driver: FixtureDriver
  store: string
  /** `<store>/<driver>`. */
  drv: string
  layerdb: string
  options: CheckOptions
}

async function makeEnv(s: Subject, driver: FixtureDriver): Promise<Env> {
  const store = `${s.root}/data`
  await s.fs.mkdir(store, 0o710)
  await loadDockerFixture(s.fs, driver, store)
  const known = `${s.root}/known-containers`
  await writeFileAll(s.fs, known, '')
  // An empty /proc: no dockerd, and no process standing in any mount.
  const proc = `${s.root}/proc`
  await makeDirs(s.fs, proc)
  const filesystems = `${s.root}/filesystems`
  await writeFileAll(s.fs, filesystems, 'nodev\ttmpfs\nnodev\toverlay\n\text4\n')
  return {
    s,
    fs: s.fs,
    driver,
    store,
    drv: `${store}/${driver}`,
    layerdb: `${store}/image/${driver}/layerdb`,
    options: { store, knownContainers: known, procRoot: proc, procFilesystems: filesystems, graceMs: 0 },
  }
}

const findingsOf = (r: CheckReport, code?: string) => r.passes.flatMap((p) => p.findings.filter((f) => code === undefined || f.code === code))
const codesOf = (r: CheckReport): string[] => [...new Set(findingsOf(r).map((f) => f.code))].sort()

const write = (fs: FsPort, path: string, text: string): Promise<void> => writeFileAll(fs, path, text)
const read = (fs: FsPort, path: string): Promise<string> => readTextLimited(fs, path, 1024 * 1024)

async function replaceLink(fs: FsPort, path: string, target: string): Promise<void> {
  await fs.unlink(path)
  await fs.symlink(target, path)
}

/** Copies a layer record dir (its files only, as layerdb holds them). */
async function copyRecord(fs: FsPort, from: string, to: string): Promise<void> {
  await fs.mkdir(to, 0o755)
  for (const e of await fs.readdir(from)) await writeFileAll(fs, `${to}/${e.name}`, await readFileLimited(fs, `${from}/${e.name}`))
}

interface Case {
  title: string
  code: string
  driver?: FixtureDriver
  /** Applies the damage; returns the path the finding must name. */
  damage(e: Env): Promise<string>
  /** The other codes the damaged store shows, exactly; unasserted when absent. */
  others?: string[]
  fix?: 'preen' | 'yes'
  /** Codes left after the fix (the whole store checks clean when empty). */
  after?: string[]
  /** A fact that must hold after the fix. */
  verify?(e: Env): Promise<void>
  message?: RegExp
}

const CASES: Case[] = [
  {
    title: "a layer record's diff emptied",
    code: 'docker-metadata-unreadable',
    async damage(e) {
      await write(e.fs, `${e.layerdb}/sha256/${O2_CHAIN}/diff`, '')
      return `${e.layerdb}/sha256/${O2_CHAIN}/diff`
    },
    others: [],
  },
  {
    title: "a container's config.v2.json that is not JSON",
    code: 'docker-metadata-unreadable',
    async damage(e) {
      await write(e.fs, `${e.store}/containers/${CREATED}/config.v2.json`, '{"ID": ')
      return `${e.store}/containers/${CREATED}/config.v2.json`
    },
    others: [],
  },
  {
    title: 'a layer dir no record names, with its size counting a hard-linked file once',
    code: 'docker-layer-dir-orphan',
    async damage(e) {
      await makeDirs(e.fs, `${e.drv}/${HEX_A}/diff/data`)
      await write(e.fs, `${e.drv}/${HEX_A}/diff/data/a`, '0123456789')
      await e.fs.link(`${e.drv}/${HEX_A}/diff/data/a`, `${e.drv}/${HEX_A}/diff/data/b`)
      await write(e.fs, `${e.drv}/${HEX_A}/diff/c`, 'abcde')
      await write(e.fs, `${e.drv}/${HEX_A}/link`, NEW_LINK)
      // Age is the newest change anywhere in the tree: every entry is old.
      for (const p of ['diff/data/a', 'diff/data/b', 'diff/c', 'link', 'diff/data', 'diff', '']) await e.fs.lutimes(`${e.drv}/${HEX_A}/${p}`.replace(/\/$/, ''), LONG_AGO, LONG_AGO)
      return `${e.drv}/${HEX_A}`
    },
    others: [],
    // 10 + 5 bytes of content (the hard link once) and the 26-byte link file.
    message: /holds 41 bytes in 3 files, last changed \d{3,} days ago/,
  },
  {
    title: 'a container layer dir left by a removed mount record',
    code: 'docker-layer-dir-orphan',
    async damage(e) {
      await write(e.fs, `${e.layerdb}/mounts/${CREATED}/mount-id`, '')
      return `${e.drv}/${CREATED_RW}`
    },
    others: ['docker-mount-dir-missing'],
  },
  {
    title: 'an emptied cache-id, written back from the lower chains on top of it',
    code: 'docker-cache-id-invalid',
    async damage(e) {
      await write(e.fs, `${e.layerdb}/sha256/${O2_CHAIN}/cache-id`, '')
      return `${e.layerdb}/sha256/${O2_CHAIN}/cache-id`
    },
    others: [],
    fix: 'yes',
    after: [],
    message: new RegExp(`the cache-id is empty.*it must be ${O2}`),
    async verify(e) {
      expect(await read(e.fs, `${e.layerdb}/sha256/${O2_CHAIN}/cache-id`)).toBe(O2)
    },
  },
  {
    title: 'a cache-id that is not an id, on a layer only containers sit on',
    code: 'docker-cache-id-invalid',
    async damage(e) {
      await write(e.fs, `${e.layerdb}/sha256/${O3_CHAIN}/cache-id`, '../not-an-id\n')
      return `${e.layerdb}/sha256/${O3_CHAIN}/cache-id`
    },
    others: [],
    fix: 'yes',
    after: [],
  },
  {
    title: "a layer's dir removed",
    code: 'docker-layer-dir-missing',
    async damage(e) {
      await removeTree(e.fs, `${e.drv}/${C}`)
      return `${e.drv}/${C}`
    },
    others: ['docker-link-dangling'],
  },
  {
    title: 'an interrupted rmi: -y finishes it, the layer dir, its short link, then the record',
    code: 'docker-removing-record',
    async damage(e) {
      await makeDirs(e.fs, `${e.drv}/${HEX_A}/diff`)
      await write(e.fs, `${e.drv}/${HEX_A}/diff/f`, 'abc')
      await write(e.fs, `${e.drv}/${HEX_A}/link`, NEW_LINK)
      await e.fs.symlink(`../${HEX_A}/diff`, `${e.drv}/l/${NEW_LINK}`)
      const record = `${e.layerdb}/sha256/${HEX_D}-${HEX_B}-removing`
      await makeDirs(e.fs, record)
      await write(e.fs, `${record}/cache-id`, HEX_A)
      return record
    },
    others: [],
    fix: 'yes',
    after: [],
    message: /its dir .* \(29 bytes\) is left/,
    async verify(e) {
      expect(await e.fs.lstat(`${e.drv}/${HEX_A}`)).toBeUndefined()
      expect(await e.fs.lstat(`${e.drv}/l/${NEW_LINK}`)).toBeUndefined()
    },
  },
  {
    title: 'a -removing record whose layer dir is already gone',
    code: 'docker-removing-leftover',
    async damage(e) {
      const record = `${e.layerdb}/sha256/${HEX_D}-${HEX_B}-removing`
      await makeDirs(e.fs, record)
      await write(e.fs, `${record}/cache-id`, HEX_A)
      await write(e.fs, `${record}/size`, '3')
      return record
    },
    others: [],
    fix: 'preen',
    after: [],
    message: /its dir .* is already gone/,
  },
  {
    title: 'an empty -removing record dir, which dockerd skips for good',
    code: 'docker-removing-leftover',
    async damage(e) {
      const record = `${e.layerdb}/sha256/${O1_CHAIN}-${HEX_B}-removing`
      await makeDirs(e.fs, record)
      return record
    },
    others: [],
    fix: 'preen',
    after: [],
    message: /its cache-id is missing, so it names no dir/,
  },
  {
    title: "a -removing record naming a live layer's dir: removed, the live dir untouched",
    code: 'docker-removing-hazard',
    async damage(e) {
      const record = `${e.layerdb}/sha256/${O2_CHAIN}-${HEX_B}-removing`
      await copyRecord(e.fs, `${e.layerdb}/sha256/${O2_CHAIN}`, record)
      return record
    },
    others: [],
    fix: 'preen',
    after: [],
  },
  {
    title: 'a write-set left in layerdb/tmp',
    code: 'docker-write-set-leftover',
    async damage(e) {
      const dir = `${e.layerdb}/tmp/write-set-382917465`
      await makeDirs(e.fs, dir)
      await write(e.fs, `${dir}/cache-id`, HEX_A)
      return dir
    },
    others: [],
    fix: 'preen',
    after: [],
  },
  {
    title: 'a removed l/ link, recreated from the link file',
    code: 'docker-link-missing',
    async damage(e) {
      await e.fs.unlink(`${e.drv}/l/${O1_LINK}`)
      return `${e.drv}/l/${O1_LINK}`
    },
    others: [],
    fix: 'preen',
    after: [],
    async verify(e) {
      expect(await e.fs.readlink(`${e.drv}/l/${O1_LINK}`)).toBe(`../${O1}/diff`)
    },
  },
  {
    title: 'the whole l/ dir removed',
    code: 'docker-link-missing',
    async damage(e) {
      await removeTree(e.fs, `${e.drv}/l`)
      return `${e.drv}/l/${INIT_LINK}`
    },
    others: [],
    fix: 'preen',
    after: [],
  },
  {
    title: 'an l/ link to a layer dir that is gone',
    code: 'docker-link-dangling',
    async damage(e) {
      await e.fs.symlink(`../${HEX_D}/diff`, `${e.drv}/l/${NEW_LINK}`)
      return `${e.drv}/l/${NEW_LINK}`
    },
    others: [],
    fix: 'preen',
    after: [],
  },
  {
    title: 'an l/ link pointing to another layer',
    code: 'docker-link-mismatch',
    async damage(e) {
      await replaceLink(e.fs, `${e.drv}/l/${O1_LINK}`, `../${O2}/diff`)
      return `${e.drv}/l/${O1_LINK}`
    },
    others: [],
    fix: 'yes',
    after: [],
    async verify(e) {
      expect(await e.fs.readlink(`${e.drv}/l/${O1_LINK}`)).toBe(`../${O1}/diff`)
    },
  },
  {
    title: 'an l/ entry that is a file, not a symlink',
    code: 'docker-link-mismatch',
    async damage(e) {
      await e.fs.unlink(`${e.drv}/l/${O2_LINK}`)
      await write(e.fs, `${e.drv}/l/${O2_LINK}`, 'not a link')
      return `${e.drv}/l/${O2_LINK}`
    },
    others: [],
    fix: 'yes',
    after: [],
  },
  {
    title: "a garbled link file, written back from the one l/ link to its dir",
    code: 'docker-link-mismatch',
    async damage(e) {
      await write(e.fs, `${e.drv}/${O1}/link`, 'garbage\n')
      return `${e.drv}/${O1}/link`
    },
    others: [],
    fix: 'yes',
    after: [],
    async verify(e) {
      expect(await read(e.fs, `${e.drv}/${O1}/link`)).toBe(O1_LINK)
    },
  },
  {
    title: "an image layer's emptied lower",
    code: 'docker-lower-invalid',
    async damage(e) {
      await write(e.fs, `${e.drv}/${O3}/lower`, '')
      return `${e.drv}/${O3}/lower`
    },
    others: [],
    fix: 'yes',
    after: [],
    message: /it is empty/,
    async verify(e) {
      expect(await read(e.fs, `${e.drv}/${O3}/lower`)).toBe(`l/${O2_LINK}:l/${O1_LINK}`)
    },
  },
  {
    title: "a container layer's emptied lower (docker export would export the whole driver dir)",
    code: 'docker-lower-invalid',
    async damage(e) {
      await write(e.fs, `${e.drv}/${CREATED_RW}/lower`, '')
      return `${e.drv}/${CREATED_RW}/lower`
    },
    others: [],
    fix: 'yes',
    after: [],
    async verify(e) {
      expect(await read(e.fs, `${e.drv}/${CREATED_RW}/lower`)).toMatch(new RegExp(`^l/${INIT_LINK}:l/`))
    },
  },
  {
    title: 'a lower naming a link that nothing holds',
    code: 'docker-lower-invalid',
    async damage(e) {
      await write(e.fs, `${e.drv}/${O3}/lower`, `l/${NEW_LINK}:l/${O2_LINK}:l/${O1_LINK}`)
      return `${e.drv}/${O3}/lower`
    },
    others: [],
    fix: 'yes',
    after: [],
    message: new RegExp(`names l/${NEW_LINK}, which is missing`),
  },
  {
    title: "a lower chain in the wrong order",
    code: 'docker-lower-invalid',
    async damage(e) {
      await write(e.fs, `${e.drv}/${O3}/lower`, `l/${O1_LINK}:l/${O2_LINK}`)
      return `${e.drv}/${O3}/lower`
    },
    others: [],
    fix: 'yes',
    after: [],
    message: /does not match the layer records/,
  },
  {
    title: "a non-base layer's lower removed",
    code: 'docker-lower-invalid',
    async damage(e) {
      await e.fs.unlink(`${e.drv}/${C}/lower`)
      return `${e.drv}/${C}/lower`
    },
    others: [],
    fix: 'yes',
    after: [],
  },
  {
    title: 'an emptied image config',
    code: 'docker-image-config-invalid',
    async damage(e) {
      const path = `${e.store}/image/overlay2/imagedb/content/sha256/${VFS_IMAGE}`
      await write(e.fs, path, '')
      return path
    },
    message: /it is empty; Docker hides the image and its tags localhost\/wh-third-vfs:1, localhost\/wh-third:1 dangle|it is empty; Docker hides the image and its tags localhost\/wh-third:1, localhost\/wh-third-vfs:1 dangle/,
  },
  {
    title: 'an image config whose sha256 is not its name',
    code: 'docker-image-config-invalid',
    async damage(e) {
      const path = `${e.store}/image/overlay2/imagedb/content/sha256/${VFS_IMAGE}`
      await write(e.fs, path, `${await read(e.fs, path)} `)
      return path
    },
    others: [],
    message: /its sha256 is [0-9a-f]{64}, not its name/,
  },
  {
    title: 'repositories.json naming an image with no config',
    code: 'docker-repositories-dangling',
    async damage(e) {
      const path = `${e.store}/image/overlay2/repositories.json`
      const repos = JSON.parse(await read(e.fs, path)) as { Repositories: Record<string, Record<string, string>> }
      repos.Repositories['localhost/ghost'] = { 'localhost/ghost:1': `sha256:${HEX_D}` }
      await write(e.fs, path, JSON.stringify(repos))
      return path
    },
    others: [],
    message: /localhost\/ghost:1 names image sha256:d{64}/,
  },
  {
    title: 'a garbled repositories.json',
    code: 'docker-repositories-dangling',
    async damage(e) {
      const path = `${e.store}/image/overlay2/repositories.json`
      await write(e.fs, path, '{"Repositories":')
      return path
    },
    others: [],
    message: /garbled/,
  },
  {
    title: "a container's init layer dir removed",
    code: 'docker-mount-dir-missing',
    async damage(e) {
      await removeTree(e.fs, `${e.drv}/${CREATED_RW}-init`)
      return `${e.drv}/${CREATED_RW}-init`
    },
  },
  {
    title: "a container's emptied mount-id",
    code: 'docker-mount-dir-missing',
    async damage(e) {
      await write(e.fs, `${e.layerdb}/mounts/${CREATED}/mount-id`, '')
      return `${e.layerdb}/mounts/${CREATED}/mount-id`
    },
    others: ['docker-layer-dir-orphan'],
  },
  {
    title: "a legacy container's emptied lower-id, written back from its mount record",
    code: 'docker-lower-id-missing',
    driver: 'overlay',
    async damage(e) {
      await write(e.fs, `${e.drv}/${LEGACY_CREATED_RW}/lower-id`, '')
      return `${e.drv}/${LEGACY_CREATED_RW}/lower-id`
    },
    others: [],
    fix: 'yes',
    after: [],
    async verify(e) {
      expect(await read(e.fs, `${e.drv}/${LEGACY_CREATED_RW}/lower-id`)).toBe(LEGACY_O3)
    },
  },
  {
    title: 'a legacy init layer whose lower-id names a dir that is not there',
    code: 'docker-lower-id-missing',
    driver: 'overlay',
    async damage(e) {
      await write(e.fs, `${e.drv}/${LEGACY_CREATED_RW}-init/lower-id`, HEX_D)
      return `${e.drv}/${LEGACY_CREATED_RW}-init/lower-id`
    },
    others: [],
    fix: 'yes',
    after: [],
  },
  {
    title: "a legacy image layer's root/ removed",
    code: 'docker-root-missing',
    driver: 'overlay',
    async damage(e) {
      await removeTree(e.fs, `${e.drv}/${LEGACY_O1}/root`)
      return `${e.drv}/${LEGACY_O1}/root`
    },
    others: [],
  },
  {
    title: 'a legacy emptied cache-id, written back from the lower-ids of its containers',
    code: 'docker-cache-id-invalid',
    driver: 'overlay',
    async damage(e) {
      await write(e.fs, `${e.layerdb}/sha256/${O3_CHAIN}/cache-id`, '')
      return `${e.layerdb}/sha256/${O3_CHAIN}/cache-id`
    },
    others: [],
    fix: 'yes',
    after: [],
  },
  {
    title: 'a legacy layer dir no record names',
    code: 'docker-layer-dir-orphan',
    driver: 'overlay',
    async damage(e) {
      await makeDirs(e.fs, `${e.drv}/${HEX_A}/root/etc`)
      await write(e.fs, `${e.drv}/${HEX_A}/root/etc/x`, '1234')
      return `${e.drv}/${HEX_A}`
    },
    others: [],
    message: /holds 4 bytes in 1 file,/,
  },
]

for (const subject of SUBJECTS) {
  describe(`docker check on ${subject.name}`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await subject.make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    for (const driver of ['overlay2', 'overlay'] as const) {
      it(`finds nothing at all in the pristine ${driver} data root`, async ({ skip }) => {
        const reason = dockerFixtureSkipReason(subject.name)
        if (reason) return skip(reason)
        const e = await makeEnv(s, driver)
        const report = await runCheck(s.fs, e.options)
        expect(findingsOf(report)).toEqual([])
        expect(report.exitCode).toBe(0)
        expect(report.settings['driver']).toContain(driver)
        expect(report.liveness).toBe('known-containers')
      })
    }

    for (const c of CASES) {
      const driver = c.driver ?? 'overlay2'
      it(`reports ${c.code} for ${c.title}${c.fix ? `, and ${c.fix === 'preen' ? '-p' : '-y'} fixes it` : ''}`, async ({ skip }) => {
        const reason = dockerFixtureSkipReason(subject.name)
        if (reason) return skip(reason)
        const e = await makeEnv(s, driver)
        const path = await c.damage(e)
        const before = await listTree(s.fs, s.root, { mtime: true })
        const report = await runCheck(s.fs, e.options)
        // -n reads only.
        expect(await listTree(s.fs, s.root, { mtime: true })).toBe(before)
        const found = findingsOf(report, c.code)
        expect(found.map((f) => f.path)).toContain(path)
        const finding = found.find((f) => f.path === path)!
        if (c.message) expect(finding.message).toMatch(c.message)
        if (c.others !== undefined) expect(codesOf(report).filter((code) => code !== c.code)).toEqual(c.others)
        expect(report.exitCode & 4).toBe(4)
        if (!c.fix) {
          expect(finding.fix?.by).toBe(c.code === 'docker-layer-dir-orphan' ? 'gc' : 'operator')
          return
        }
        expect(finding.fix).toMatchObject({ by: 'check', safe: c.fix === 'preen' })
        const fixed = await runCheck(s.fs, { ...e.options, mode: c.fix })
        expect(findingsOf(fixed, c.code).map((f) => [f.path, f.status, f.fixError])).toContainEqual([path, 'fixed', undefined])
        expect(fixed.exitCode & 1).toBe(1)
        const second = await runCheck(s.fs, e.options)
        expect(findingsOf(second, c.code)).toEqual([])
        expect(codesOf(second)).toEqual(c.after ?? [])
        if ((c.after ?? []).length === 0) expect(second.exitCode).toBe(0)
        await c.verify?.(e)
      })
    }

    it('removes a -removing record with -p and leaves the live layer it names byte for byte', async ({ skip }) => {
      const reason = dockerFixtureSkipReason(subject.name)
      if (reason) return skip(reason)
      const e = await makeEnv(s, 'overlay2')
      const record = `${e.layerdb}/sha256/${O2_CHAIN}-${HEX_B}-removing`
      await copyRecord(e.fs, `${e.layerdb}/sha256/${O2_CHAIN}`, record)
      const live = await listTree(s.fs, `${e.drv}/${O2}`, { mtime: true })
      const liveRecord = await listTree(s.fs, `${e.layerdb}/sha256/${O2_CHAIN}`, { mtime: true })
      const report = await runCheck(s.fs, { ...e.options, mode: 'preen' })
      const [finding] = findingsOf(report, 'docker-removing-hazard')
      expect(finding).toMatchObject({ path: record, severity: 'error', status: 'fixed' })
      expect(finding!.message).toContain(`${e.drv}/${O2}, which layer sha256:${O2_CHAIN}`)
      expect(await s.fs.lstat(record)).toBeUndefined()
      expect(await listTree(s.fs, `${e.drv}/${O2}`, { mtime: true })).toBe(live)
      expect(await listTree(s.fs, `${e.layerdb}/sha256/${O2_CHAIN}`, { mtime: true })).toBe(liveRecord)
    })

    it('writes back a cache-id it can tell, refuses the one it cannot, and finishes on the next run', async ({ skip }) => {
      const reason = dockerFixtureSkipReason(subject.name)
      if (reason) return skip(reason)
      const e = await makeEnv(s, 'overlay2')
      // O1's only evidence is O2's dir, whose own cache-id is gone too: one run can tell O2, the next O1.
      await write(e.fs, `${e.layerdb}/sha256/${O1_CHAIN}/cache-id`, '')
      await write(e.fs, `${e.layerdb}/sha256/${O2_CHAIN}/cache-id`, '')
      const first = await runCheck(s.fs, { ...e.options, mode: 'yes' })
      const byPath = new Map(findingsOf(first, 'docker-cache-id-invalid').map((f) => [f.path, f]))
      expect(byPath.get(`${e.layerdb}/sha256/${O2_CHAIN}/cache-id`)?.status).toBe('fixed')
      const o1 = byPath.get(`${e.layerdb}/sha256/${O1_CHAIN}/cache-id`)
      expect(o1?.status).toBe('fix-failed')
      expect(o1?.fixError).toMatch(/no child layer or container points to a dir for it/)
      // Until then O1's dir is named by nothing, but O2's lower chain reaches it: never taken for an orphan.
      expect(findingsOf(first, 'docker-layer-dir-orphan')).toEqual([])
      const second = await runCheck(s.fs, { ...e.options, mode: 'yes' })
      expect(findingsOf(second).map((f) => [f.code, f.status])).toEqual([['docker-cache-id-invalid', 'fixed']])
      expect(findingsOf(await runCheck(s.fs, e.options))).toEqual([])
      expect(await read(e.fs, `${e.layerdb}/sha256/${O1_CHAIN}/cache-id`)).toBe(O1)
    })

    it('leaves a -y fix it cannot make unambiguously: an l/ link whose name two link files hold', async ({ skip }) => {
      const reason = dockerFixtureSkipReason(subject.name)
      if (reason) return skip(reason)
      const e = await makeEnv(s, 'overlay2')
      await write(e.fs, `${e.drv}/${O2}/link`, O1_LINK)
      const before = await listTree(s.fs, e.drv)
      const report = await runCheck(s.fs, { ...e.options, mode: 'yes' })
      // O3's lower names O2 by its old link: with O2's name unknown, no chain is rewritten either.
      expect(codesOf(report)).toEqual(['docker-link-mismatch'])
      expect(report.totals.fixed).toBe(0)
      const mismatch = findingsOf(report, 'docker-link-mismatch')
      expect(mismatch.map((f) => f.path)).toEqual([`${e.drv}/${O2}/link`])
      expect(mismatch[0]).toMatchObject({ status: 'fix-failed' })
      expect(mismatch[0]!.fixError).toMatch(/more than one layer dir holds the name/)
      expect(await read(e.fs, `${e.drv}/${O2}/link`)).toBe(O1_LINK)
      expect(await listTree(s.fs, e.drv)).toBe(before)
    })
  })
}

describe('docker check where it cannot read', () => {
  it('takes no dir for an orphan and no record for a missing dir when layerdb/sha256 cannot be listed', async () => {
    const s = await memorySubject()
    const e = await makeEnv(s, 'overlay2')
    for await (const x of walkTree(s.fs, s.root)) await s.fs.lchown(x.path, 1000, 1000)
    await s.fs.lchown(s.root, 1000, 1000)
    await s.fs.chmod(`${e.layerdb}/sha256`, 0o000)
    // The same volume, as uid 1000: what an unprivileged check of a copied data root meets.
    const user = createMemoryFs({ volume: s.fs.volume, uid: 1000, gid: 1000, capabilities: { sysAdmin: true, mknod: false } })
    const report = await runCheck(user, e.options)
    const codes = codesOf(report)
    expect(findingsOf(report, 'dir-unreadable').map((f) => f.path)).toContain(`${e.layerdb}/sha256`)
    // Without the records every layer dir would look unnamed and every link unused: none of that is said.
    expect(codes).toEqual(['dir-unreadable'])
  })
})

describe('docker check on both adapters', () => {
  it('gives identical findings on disk and in memory for the same damaged data root', async ({ skip }) => {
    const reason = dockerFixtureSkipReason('disk')
    if (reason) return skip(reason)
    const reports: unknown[] = []
    for (const subject of SUBJECTS) {
      const s = await subject.make()
      try {
        const e = await makeEnv(s, 'overlay2')
        for (const c of CASES.filter((x) => (x.driver ?? 'overlay2') === 'overlay2' && ['docker-link-missing', 'docker-write-set-leftover', 'docker-removing-hazard', 'docker-cache-id-invalid', 'docker-layer-dir-orphan'].includes(x.code))) {
          await c.damage(e).catch(() => undefined)
        }
        const report = await runCheck(s.fs, e.options)
        // Paths differ only by the temp root each adapter works in.
        reports.push(JSON.parse(JSON.stringify(findingsOf(report)).split(s.root).join('<root>')))
      } finally {
        await s.cleanup()
      }
    }
    expect((reports[0] as unknown[]).length).toBeGreaterThan(4)
    expect(reports[1]).toEqual(reports[0])
  })
})

for (const subject of SUBJECTS) {
  describe(`docker check fixes under crashes on ${subject.name}`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await subject.make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    for (const model of ['sigkill', 'power-loss'] as const) {
      it(`ends where an uninterrupted -p ends after a ${model} at any step of recreating a link and removing a -removing record, and a re-run`, async ({ skip }) => {
        const reason = dockerFixtureSkipReason(subject.name)
        if (reason) return skip(reason)
        if (model === 'power-loss' && s.fs.kind === 'disk') return skip('the power-loss model runs on the memory adapter')
        const damage = async (): Promise<Env> => {
          for (const name of ['data', 'proc', 'known-containers', 'filesystems']) await removeTree(s.fs, `${s.root}/${name}`)
          const e = await makeEnv(s, 'overlay2')
          await e.fs.unlink(`${e.drv}/l/${O1_LINK}`)
          await copyRecord(e.fs, `${e.layerdb}/sha256/${O2_CHAIN}`, `${e.layerdb}/sha256/${O2_CHAIN}-${HEX_B}-removing`)
          return e
        }
        const now = (): Date => new Date('2026-06-01T00:00:00Z')
        const e = await damage()
        const clean = await runCheck(s.fs, { ...e.options, mode: 'preen', now })
        expect(findingsOf(clean).map((f) => [f.code, f.status])).toEqual([
          ['docker-removing-hazard', 'fixed'],
          ['docker-link-missing', 'fixed'],
        ])
        const expected = await listTree(s.fs, s.root)
        const { withCrashAfter, CrashError } = await import('../src/fs/crash.js')
        let crashes = 0
        let lost = 0
        for (let n = 0; ; n++) {
          await damage()
          const crashing = withCrashAfter(s.fs, n, { model })
          let crashed = false
          try {
            await runCheck(crashing, { ...e.options, mode: 'preen', now })
          } catch (err) {
            if (!(err instanceof CrashError)) throw err
            crashed = true
          }
          lost += (await crashing.recover()).length
          if (crashed) crashes += 1
          const rerun = await runCheck(s.fs, { ...e.options, mode: 'preen', now })
          expect(findingsOf(rerun).filter((f) => f.status !== 'fixed'), `after a ${model} at step ${n}`).toEqual([])
          expect(await listTree(s.fs, s.root), `after a ${model} at step ${n}`).toBe(expected)
          if (!crashed) break
        }
        expect(crashes).toBeGreaterThan(5)
        if (model === 'power-loss') expect(lost).toBeGreaterThan(0)
      }, 240_000)
    }
  })
}

describe('tree sizes', () => {
  for (const subject of SUBJECTS) {
    it(`counts a hard-linked file once and does not enter a mount, on ${subject.name}`, async ({ skip }) => {
      const s = await subject.make()
      try {
        if (!s.privileged) return skip('needs root to mount a tmpfs')
        const root = `${s.root}/t`
        await makeDirs(s.fs, `${root}/a/m`)
        await writeFileAll(s.fs, `${root}/a/one`, '12345')
        await s.fs.link(`${root}/a/one`, `${root}/two`)
        await s.fs.symlink('/etc/passwd', `${root}/ln`)
        await s.mountTmpfs(`${root}/a/m`)
        await writeFileAll(s.fs, `${root}/a/m/inside`, 'x'.repeat(100))
        const size = await treeSize(s.fs, root)
        expect(size).toMatchObject({ bytes: 5, files: 1, mounts: [`${root}/a/m`], unreadable: undefined })
      } finally {
        await s.cleanup()
      }
    })
  }
})

describe('the Docker check registry', () => {
  const DOCKER = checksOf('docker')
  const MINE = DOCKER.filter((c) => c.code.startsWith('docker-') && !['docker-merged-stale-mount', 'docker-mount-liveness-unknown'].includes(c.code))

  it('has a damage case for every code of the layout checks', () => {
    // docker-whiteout-lost has its own file, test/docker-whiteout.test.ts.
    const tested = new Set([...CASES.map((c) => c.code), 'docker-whiteout-lost'])
    expect(MINE.map((c) => c.code).filter((code) => !tested.has(code))).toEqual([])
  })

  it('runs the structure checks first, then contents, references, containers and host', () => {
    const order = ['structure', 'contents', 'references', 'containers', 'host']
    const passes = DOCKER.map((c) => order.indexOf(c.pass))
    expect(passes).toEqual([...passes].sort((a, b) => a - b))
  })

  it('gives every code a docker- prefix, one file, and an explanation', () => {
    const codes = MINE.map((c) => c.code)
    expect(new Set(codes).size).toBe(codes.length)
    for (const c of MINE) expect(c.explain.length).toBeGreaterThan(80)
  })
})
