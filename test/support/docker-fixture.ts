/**
 * Puts a real Docker data root from fixtures/docker/ onto any port, exactly
 * as `fixtures/docker/extract.sh` puts it on disk: every entry of the
 * archive as it is (char 0/0 whiteouts stay devices, `trusted.overlay.*`
 * xattrs byte for byte from the PAX records, no whiteout conversion), then
 * the device hard links tar cannot carry, re-linked from `<driver>.hardlinks`
 * with the parent dir's mtime kept.
 *
 * The archive is parsed here rather than by `importLayerTar`, which is a
 * layer importer and rightly drops overlay's own xattrs; the inodes are made
 * by `materialize` (src/testing/tree-spec.ts), which creates what an entry
 * describes without converting anything, so the tar's header bytes are read
 * by the same RawPaxTap the importer uses.
 */
import { extract as tarExtract } from 'tar-stream'
import { fileURLToPath } from 'node:url'
import { readTextLimited } from '../../src/fs/io.js'
import { decodeName } from '../../src/fs/name-bytes.js'
import { createNodeFs } from '../../src/fs/node.js'
import type { FsPort } from '../../src/fs/port.js'
import { dirname } from '../../src/fs/safe-path.js'
import { TAR_ENTRY_KINDS } from '../../src/tar/import-layer.js'
import { openTarBytes } from '../../src/tar/open.js'
import { xattrsFromPax } from '../../src/tar/pax.js'
import { RawPaxTap } from '../../src/tar/raw-pax-tap.js'
import { materialize, type TreeEntry } from '../../src/testing/tree-spec.js'
import { rootSkipReason } from './adapters.js'

export type FixtureDriver = 'overlay2' | 'overlay'

export const DOCKER_FIXTURES = fileURLToPath(new URL('../../fixtures/docker', import.meta.url))

export const dockerFixtureArchive = (driver: FixtureDriver): string => `${DOCKER_FIXTURES}/${driver}.tar.gz`

/**
 * Why a case that loads a fixture cannot run on this adapter here, or ''.
 * On disk the fixtures need root (char devices, trusted.* xattrs); the
 * memory adapter runs as uid 0 and can always hold them.
 */
export function dockerFixtureSkipReason(adapter: 'disk' | 'memory' = 'disk'): string {
  return adapter === 'memory' ? '' : rootSkipReason()
}

/** `./a/b/` → `a/b`; the archive's own `./` is the data root, `.`. */
function relName(name: string): string {
  const trimmed = name.replace(/^\.\//, '').replace(/\/+$/, '')
  return trimmed === '' || trimmed === '.' ? '.' : trimmed
}

/** PAX `mtime` is decimal seconds with an optional fraction (GNU tar writes nanoseconds). */
function paxTime(value: Uint8Array | undefined): bigint | undefined {
  if (value === undefined) return undefined
  const m = /^(-?\d+)(?:\.(\d{1,9})\d*)?$/.exec(Buffer.from(value).toString('latin1'))
  if (!m) return undefined
  return BigInt(m[1]!) * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'))
}

const parsed = new Map<FixtureDriver, Promise<TreeEntry[]>>()

/** Every entry of a fixture archive as a tree-spec entry, in archive order (parsed once per driver and process). */
export function readDockerFixtureEntries(driver: FixtureDriver): Promise<TreeEntry[]> {
  let entries = parsed.get(driver)
  if (entries === undefined) {
    entries = parseArchive(driver)
    parsed.set(driver, entries)
    // A failed parse is not kept: the next caller sees the error afresh.
    entries.catch(() => parsed.delete(driver))
  }
  return entries
}

async function parseArchive(driver: FixtureDriver): Promise<TreeEntry[]> {
  const { stream } = await openTarBytes(await createNodeFs().openRead(dockerFixtureArchive(driver)))
  const tap = new RawPaxTap({ maxHeaderBytes: 1024 * 1024 })
  const extract = tarExtract()
  stream.on('error', (err) => tap.destroy(err))
  tap.on('error', (err) => extract.destroy(err))
  stream.pipe(tap).pipe(extract as unknown as NodeJS.WritableStream)

  const entries: TreeEntry[] = []
  let index = 0
  for await (const entry of extract) {
    index += 1
    const header = entry.header
    const raw = tap.entry(index)
    if (raw === undefined) throw new Error(`${driver}.tar.gz: lost track of the headers at entry ${index}`)
    const type = TAR_ENTRY_KINDS[header.type] as TreeEntry['type'] | undefined
    if (type === undefined) throw new Error(`${driver}.tar.gz: entry type ${String(header.type)} is not expected in a data root`)
    const chunks: Buffer[] = []
    for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk)
    const path = relName(decodeName(raw.name))
    const linkname = raw.linkname === undefined ? undefined : decodeName(raw.linkname)
    const e: TreeEntry = { path, type }
    if (type !== 'link') {
      e.mode = (header.mode ?? 0) & 0o7777
      e.uid = header.uid ?? 0
      e.gid = header.gid ?? 0
      e.mtimeNs = paxTime(raw.records.get('mtime')) ?? BigInt(Math.floor((header.mtime?.getTime() ?? 0) / 1000)) * 1_000_000_000n
      const xattrs = xattrsFromPax(raw.records)
      // Plain Uint8Arrays, as the disk adapter hands them back: the PAX parser's are Buffer views of the header.
      if (xattrs.size > 0) e.xattrs = Object.fromEntries([...xattrs].map(([k, v]) => [k, new Uint8Array(v)]))
    }
    if (type === 'file') e.content = new Uint8Array(Buffer.concat(chunks))
    if (type === 'symlink') e.target = linkname ?? ''
    if (type === 'link') e.target = relName(linkname ?? '')
    if (type === 'char' || type === 'block') e.rdev = { major: header.devmajor ?? 0, minor: header.devminor ?? 0 }
    entries.push(e)
  }
  return entries
}

/** The `first<TAB>other` pairs of `<driver>.hardlinks`. */
export async function readDockerFixtureHardlinks(driver: FixtureDriver): Promise<[string, string][]> {
  const text = await readTextLimited(createNodeFs(), `${DOCKER_FIXTURES}/${driver}.hardlinks`, 1024 * 1024)
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [first, other] = line.split('\t')
      if (!first || !other) throw new Error(`${driver}.hardlinks: expected "first<TAB>other", got ${JSON.stringify(line)}`)
      return [first, other]
    })
}

/**
 * Extracts `fixtures/docker/<driver>.tar.gz` into `dest` (which must exist
 * and be empty) through the port, then restores the device hard links.
 */
export async function loadDockerFixture(fs: FsPort, driver: FixtureDriver, dest: string): Promise<void> {
  await materialize(fs, dest, await readDockerFixtureEntries(driver))
  for (const [first, other] of await readDockerFixtureHardlinks(driver)) {
    const parent = dirname(`${dest}/${other}`)
    const before = await fs.lstat(parent)
    await fs.unlink(`${dest}/${other}`)
    await fs.link(`${dest}/${first}`, `${dest}/${other}`)
    if (before) await fs.lutimes(parent, before.mtimeNs, before.mtimeNs)
  }
}
