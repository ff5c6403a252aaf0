/**
 * The typed model of a Docker data root, read in one pass through the port:
 * layer records, container mounts, layerdb transactions, image configs and
 * their metadata, tags, containers, and the driver's layer dirs (overlay2's
 * `diff link lower work committed` and `l/` links, or the legacy overlay
 * driver's `root/` and `lower-id upper work`).
 *
 * Every file here is hostile input and any of it may be damaged, so reading
 * never throws for what it finds: a missing, empty, garbled, oversized or
 * unreadable file becomes a state in the model, and a directory this process
 * may not list is recorded in `unreadable` (and its holder marked
 * `readable: false`), never skipped in silence. Nothing follows a symlink:
 * a fixed path is descended only after lstat showed a real directory, and a
 * file is opened only when its listing says it is a regular file. All lists
 * are sorted by name, so two reads of equal trees give deep-equal models on
 * either adapter.
 */
import { createHash } from 'node:crypto'
import { isErrno, LayerfsckError } from '../../errors.js'
import { FileTooLargeError, readFileLimited } from '../../fs/io.js'
import type { DirEntry, FsPort, InodeKind } from '../../fs/port.js'
import { byName } from '../../fs/walk.js'
import {
  containersDir,
  DIGEST,
  driverDir,
  DRIVER_ID,
  HEX64,
  imageDbContentDir,
  imageDbMetadataRoot,
  imageDir,
  imageRootDir,
  INIT_SUFFIX,
  isDockerDriver,
  KNOWN_DRIVER_DIRS,
  layerDbDir,
  layerDbTmpDir,
  layerRecordsDir,
  linkDir,
  linkTargetId,
  mountsDir,
  OVERLAY_TMPROOT,
  REMOVING_RECORD,
  repositoriesPath,
  SHORT_LINK,
  toDigest,
  WRITE_SET_PREFIX,
  type DockerDriver,
} from './paths.js'

// --- states ------------------------------------------------------------------

/** A file or dir this process could not read, with the errno-like code (`EACCES`, `FILE_TOO_LARGE`, `NOT_A_FILE`, …). */
export interface Unreadable {
  path: string
  code: string
  reason: string
}

/**
 * One small metadata value (a cache-id, a digest, a size): `invalid` when it
 * is there but not of the shape Docker accepts (`raw` is what was read),
 * `unreadable` when it could not be read at all (a dir in its place, EACCES,
 * larger than the limit).
 */
export type ValueState<T = string> =
  | { state: 'ok'; value: T }
  | { state: 'missing' }
  | { state: 'empty' }
  | { state: 'invalid'; raw: string; reason: string }
  | { state: 'unreadable'; code: string; reason: string }

/** overlay2's `lower`: the entries as written (`l/<short name>`, nearest parent first), split on ':'. */
export type LowerState =
  | { state: 'ok'; entries: string[] }
  | { state: 'missing' }
  | { state: 'empty' }
  | { state: 'unreadable'; code: string; reason: string }

/** A fixed directory of the layout: there as a directory, absent, something else, or not listable. */
export interface DirPresence {
  path: string
  state: 'ok' | 'missing' | 'not-dir' | 'unreadable'
  /** What is there instead, for `not-dir`. */
  kind?: InodeKind
}

export interface NamedEntry {
  name: string
  kind: InodeKind
}

// --- records -------------------------------------------------------------------

/** `image/<driver>/layerdb/sha256/<name>`. */
export interface LayerRecord {
  name: string
  path: string
  kind: InodeKind
  /**
   * `sha256:<hex>`: the name's chain id, or for a `-removing` record the
   * chain id it was renamed from; undefined for a name of neither shape.
   */
  chainId: string | undefined
  /** Named `<chain hex>-…-removing`: a deletion that did not finish. */
  removing: boolean
  /** False when the record is a dir this process may not list (see `DockerModel.unreadable`). */
  readable: boolean
  /** The record dir's entries, sorted; empty for a non-dir or an unreadable dir. */
  entries: NamedEntry[]
  /** Trimmed (as moby reads it) and checked against `[0-9a-f]{64}(-init)?`. */
  cacheId: ValueState
  /** `diff`: the layer's diff id, `sha256:<hex>`. */
  diffId: ValueState
  /** `parent`: the parent's chain id; `missing` for a base layer. */
  parent: ValueState
  /** `size`: bytes of regular-file content, decimal. */
  size: ValueState<number>
  /** `tar-split.json.gz` is there as a regular file. */
  tarSplit: boolean
}

/** `image/<driver>/layerdb/mounts/<container id>`. */
export interface MountRecord {
  containerId: string
  path: string
  kind: InodeKind
  /** The name has a container id's shape (64 hex). */
  nameValid: boolean
  readable: boolean
  entries: NamedEntry[]
  /** The RW layer's dir name under the driver dir. */
  mountId: ValueState
  /** The init layer's dir name (`<mount-id>-init`); `missing` when the container has none. */
  initId: ValueState
  /** The image's top layer's chain id. */
  parent: ValueState
}

/** An entry of `image/<driver>/layerdb/tmp/`. */
export interface LayerDbTmpEntry {
  name: string
  path: string
  kind: InodeKind
  /** Named `write-set-…`: a metadata transaction that never committed. */
  writeSet: boolean
}

export interface ImageConfigSummary {
  /** `rootfs.diff_ids`, in order (base first). */
  diffIds: string[]
}

/** `image/<driver>/imagedb/metadata/sha256/<id>/`. */
export interface ImageMetadataRecord {
  /** `sha256:<name>`. */
  id: string
  name: string
  path: string
  kind: InodeKind
  readable: boolean
  entries: NamedEntry[]
  /** The image this one was committed or built on (`sha256:<hex>`). */
  parent: ValueState
  lastUpdated: ValueState
}

/** `image/<driver>/imagedb/content/sha256/<id>`: an image config. */
export interface ImageRecord {
  /** `sha256:<name>`. */
  id: string
  name: string
  path: string
  kind: InodeKind
  /** The name is 64 hex. */
  nameValid: boolean
  /** Bytes read; undefined when the file could not be read. */
  size: number | undefined
  /** Hex sha256 of the bytes; undefined when the file could not be read. */
  sha256: string | undefined
  /** The config's sha256 is its name, as imagedb requires of every config. */
  digestMatches: boolean
  /** The config as JSON: `empty` for zero bytes, `invalid` when it does not parse or has no `rootfs.diff_ids` list. */
  config: ValueState<ImageConfigSummary>
  /** Its metadata dir, when there is one. */
  metadata: ImageMetadataRecord | undefined
}

export interface RepositoryRef {
  /** As repositories.json holds it: `repo:tag` or `repo@sha256:…`. */
  ref: string
  imageId: string
}

export interface Repository {
  name: string
  refs: RepositoryRef[]
}

export type RepositoriesState = { path: string } & (
  | { state: 'ok'; repositories: Repository[] }
  | { state: 'missing' }
  | { state: 'empty' }
  | { state: 'invalid'; reason: string }
  | { state: 'unreadable'; code: string; reason: string }
)

export interface ContainerConfigSummary {
  id: string | undefined
  name: string | undefined
  /** The storage driver the container was created with. */
  driver: string | undefined
  /** `sha256:<hex>`. */
  image: string | undefined
  running: boolean | undefined
  pid: number | undefined
}

/** `containers/<id>/`. */
export interface ContainerRecord {
  id: string
  path: string
  kind: InodeKind
  nameValid: boolean
  readable: boolean
  entries: NamedEntry[]
  /** `config.v2.json`; `missing` when the container dir has none. */
  config: ValueState<ContainerConfigSummary>
}

// --- driver dirs -----------------------------------------------------------------

/** What every dir under a driver dir has, whichever driver. */
export interface LayerDirBase {
  name: string
  path: string
  kind: InodeKind
  /** The name without `-init`. */
  id: string
  /** Named `<id>-init`: a container's init layer. */
  isInit: boolean
  /** The name has the shape of a cache-id, mount-id or init-id (`[0-9a-f]{64}(-init)?`). */
  nameValid: boolean
  readable: boolean
  entries: NamedEntry[]
}

/** `overlay2/<id>/`. */
export interface Overlay2LayerDir extends LayerDirBase {
  /** `link`, read as overlay2 reads it (untrimmed), checked against the 26-character short-name shape. */
  link: ValueState
  lower: LowerState
  /** The empty `committed` file (any kind) is there. */
  committed: boolean
  /** Kind of each entry, undefined when absent. */
  diff: InodeKind | undefined
  work: InodeKind | undefined
  merged: InodeKind | undefined
}

/** `overlay2/l/<name>`. */
export interface ShortLink {
  name: string
  path: string
  kind: InodeKind
  /** The name has the 26-character shape. */
  nameValid: boolean
  /** The symlink's target as stored; undefined for a non-symlink or a failed readlink. */
  target: string | undefined
  /** The layer dir the target names when it has overlay2's form `../<id>/diff`. */
  targetId: string | undefined
}

/** `overlay/<id>/` of the legacy overlay driver. */
export interface OverlayLayerDir extends LayerDirBase {
  root: InodeKind | undefined
  upper: InodeKind | undefined
  work: InodeKind | undefined
  merged: InodeKind | undefined
  /** `lower-id`, read untrimmed as the driver does, checked against 64 hex. */
  lowerId: ValueState
  /** `tmproot*` dirs of an ApplyDiff that did not finish. */
  tmpRoots: string[]
}

export interface Overlay2Layout {
  driver: 'overlay2'
  /** Every entry of `overlay2/` but `l`, dirs or not. */
  layerDirs: Overlay2LayerDir[]
  linkDir: DirPresence
  links: ShortLink[]
}

export interface OverlayLayout {
  driver: 'overlay'
  layerDirs: OverlayLayerDir[]
}

export type DriverLayout = Overlay2Layout | OverlayLayout

export interface DockerModel {
  root: string
  driver: DockerDriver
  /** The data root's own entries. */
  topLevel: NamedEntry[]
  /** `image/<driver>/` and its entries. */
  imageDir: DirPresence
  imageEntries: NamedEntry[]
  layerDb: DirPresence
  layerDbEntries: NamedEntry[]
  layerRecordsDir: DirPresence
  layers: LayerRecord[]
  mountsDir: DirPresence
  mounts: MountRecord[]
  layerDbTmpDir: DirPresence
  layerDbTmp: LayerDbTmpEntry[]
  imageContentDir: DirPresence
  images: ImageRecord[]
  imageMetadataDir: DirPresence
  /** Metadata dirs of images that have no config file. */
  orphanImageMetadata: ImageMetadataRecord[]
  repositories: RepositoriesState
  containersDir: DirPresence
  containers: ContainerRecord[]
  driverDir: DirPresence
  layout: DriverLayout
  /** Everything that could not be read, sorted by path. */
  unreadable: Unreadable[]
}

export interface DockerReadLimits {
  /** Id and digest files: cache-id, diff, parent, size, mount-id, init-id, link, lower, lower-id, lastUpdated. */
  smallFile: number
  imageConfig: number
  repositories: number
  containerConfig: number
}

export const DEFAULT_DOCKER_LIMITS: Readonly<DockerReadLimits> = Object.freeze({
  // A lower file of 128 layers is under 4 KiB; 64 KiB leaves room and still refuses garbage.
  smallFile: 64 * 1024,
  imageConfig: 32 * 1024 * 1024,
  repositories: 64 * 1024 * 1024,
  containerConfig: 16 * 1024 * 1024,
})

export interface ReadDockerOptions {
  /** Which driver's data to read; by default the one `detectDrivers` finds (see `pickDriver`). */
  driver?: DockerDriver
  limits?: Partial<DockerReadLimits>
}

// --- detect ------------------------------------------------------------------------

export interface DetectedDriver {
  name: string
  /** overlay2 or overlay: a driver this family reads. */
  supported: boolean
  /** `image/<name>/layerdb` is a directory. */
  layerDb: boolean
  /** `<root>/<name>` is a directory. */
  driverDir: boolean
}

/**
 * The drivers a data root holds data of: every `image/<name>/layerdb`, and
 * every known driver's dir at the top. Sorted by name; reads only, never
 * throws for what it finds (an unlistable `image/` just yields no layerdb).
 */
export async function detectDrivers(fs: FsPort, root: string): Promise<DetectedDriver[]> {
  const found = new Map<string, DetectedDriver>()
  const entry = (name: string): DetectedDriver => {
    let d = found.get(name)
    if (!d) {
      d = { name, supported: isDockerDriver(name), layerDb: false, driverDir: false }
      found.set(name, d)
    }
    return d
  }
  const top = await quietList(fs, root)
  for (const e of top) if (e.kind === 'dir' && KNOWN_DRIVER_DIRS.includes(e.name)) entry(e.name).driverDir = true
  if (top.some((e) => e.name === 'image' && e.kind === 'dir')) {
    for (const e of await quietList(fs, imageRootDir(root))) {
      if (e.kind !== 'dir') continue
      const layerdb = await quietLstat(fs, layerDbDir(root, e.name))
      if (layerdb === 'dir') entry(e.name).layerDb = true
    }
  }
  return [...found.values()].sort(byName)
}

/**
 * The driver to read when none is named: the one supported driver with a
 * layerdb, else the one supported driver dir. Throws (a usage problem, not
 * damage) when there is none or two are equally likely.
 */
export function pickDriver(detected: readonly DetectedDriver[]): DockerDriver {
  const supported = detected.filter((d) => d.supported)
  const withDb = supported.filter((d) => d.layerDb)
  const pool = withDb.length > 0 ? withDb : supported.filter((d) => d.driverDir)
  if (pool.length === 1) return pool[0]!.name as DockerDriver
  if (pool.length === 0) {
    throw new LayerfsckError('DOCKER_DRIVER_UNKNOWN', 'no overlay2 or overlay data in this data root', {
      hint: `drivers seen: ${detected.map((d) => d.name).join(', ') || 'none'}`,
    })
  }
  throw new LayerfsckError('DOCKER_DRIVER_AMBIGUOUS', `this data root holds data of ${pool.map((d) => d.name).join(' and ')}`, {
    hint: 'name the driver to read',
  })
}

// --- reading -----------------------------------------------------------------------

class Reader {
  readonly unreadable: Unreadable[] = []
  constructor(
    readonly fs: FsPort,
    readonly limits: DockerReadLimits,
  ) {}

  note(path: string, err: unknown): { code: string; reason: string } {
    const code = errCode(err)
    const reason = (err as Error)?.message ?? String(err)
    this.unreadable.push({ path, code, reason })
    return { code, reason }
  }

  /** A fixed directory: lstat, then list it only when it is a real one. */
  async dir(path: string): Promise<{ presence: DirPresence; entries: NamedEntry[] }> {
    let kind: InodeKind | undefined
    try {
      kind = (await this.fs.lstat(path))?.kind
    } catch (err) {
      this.note(path, err)
      return { presence: { path, state: 'unreadable' }, entries: [] }
    }
    if (kind === undefined) return { presence: { path, state: 'missing' }, entries: [] }
    if (kind !== 'dir') return { presence: { path, state: 'not-dir', kind }, entries: [] }
    const listed = await this.list(path)
    if (listed === undefined) return { presence: { path, state: 'unreadable' }, entries: [] }
    return { presence: { path, state: 'ok' }, entries: listed }
  }

  /** A directory known from its parent's listing to be one; undefined (and noted) when it cannot be listed. */
  async list(path: string): Promise<NamedEntry[] | undefined> {
    try {
      return (await this.fs.readdir(path)).map((e: DirEntry) => ({ name: e.name, kind: e.kind })).sort(byName)
    } catch (err) {
      this.note(path, err)
      return undefined
    }
  }

  /** The bytes of a file named in a listing, or its state when they cannot be had. */
  async bytes(
    path: string,
    kind: InodeKind | undefined,
    limit: number,
  ): Promise<{ ok: true; bytes: Uint8Array } | { ok: false; state: 'missing' } | { ok: false; state: 'unreadable'; code: string; reason: string }> {
    if (kind === undefined) return { ok: false, state: 'missing' }
    if (kind !== 'file') {
      const problem = { code: 'NOT_A_FILE', reason: `${path} is a ${kind}, not a regular file` }
      this.unreadable.push({ path, ...problem })
      return { ok: false, state: 'unreadable', ...problem }
    }
    try {
      return { ok: true, bytes: await readFileLimited(this.fs, path, limit) }
    } catch (err) {
      return { ok: false, state: 'unreadable', ...this.note(path, err) }
    }
  }

  /** A small id or digest file as a ValueState. */
  async value(
    dir: string,
    entries: NamedEntry[],
    name: string,
    check: (text: string) => string | undefined,
    options: { trim: boolean },
  ): Promise<ValueState> {
    const path = `${dir}/${name}`
    const read = await this.bytes(path, kindOf(entries, name), this.limits.smallFile)
    if (!read.ok) return read.state === 'missing' ? { state: 'missing' } : { state: 'unreadable', code: read.code, reason: read.reason }
    const raw = Buffer.from(read.bytes).toString('utf8')
    const text = options.trim ? raw.trim() : raw
    if (text === '') return { state: 'empty' }
    const problem = check(text)
    return problem === undefined ? { state: 'ok', value: text } : { state: 'invalid', raw: clip(raw), reason: problem }
  }
}

function errCode(err: unknown): string {
  if (err instanceof FileTooLargeError) return 'FILE_TOO_LARGE'
  if (err instanceof LayerfsckError) return err.code
  if (isErrno(err)) return err.code
  return 'EIO'
}

function kindOf(entries: readonly NamedEntry[], name: string): InodeKind | undefined {
  return entries.find((e) => e.name === name)?.kind
}

async function quietList(fs: FsPort, path: string): Promise<NamedEntry[]> {
  try {
    if ((await fs.lstat(path))?.kind !== 'dir') return []
    return (await fs.readdir(path)).map((e) => ({ name: e.name, kind: e.kind })).sort(byName)
  } catch {
    return []
  }
}

async function quietLstat(fs: FsPort, path: string): Promise<InodeKind | undefined> {
  try {
    return (await fs.lstat(path))?.kind
  } catch {
    return undefined
  }
}

/** Runs `fn` over `items` with at most `limit` in flight, results in input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

const CONCURRENCY = 16

const shape =
  (re: RegExp, what: string) =>
  (text: string): string | undefined =>
    re.test(text) ? undefined : `not ${what}`

const isDriverId = shape(DRIVER_ID, 'one path component (a 64-hex id, optionally -init, up to Docker 20.10)')
const isDigest = shape(DIGEST, 'a sha256:<64 hex> digest')
const isHex64 = shape(HEX64, 'a 64-hex id')
const isShortLink = shape(SHORT_LINK, 'a 26-character short link name')
const anyText = (): undefined => undefined

async function readLayerRecord(r: Reader, dir: string, e: NamedEntry): Promise<LayerRecord> {
  const path = `${dir}/${e.name}`
  const removing = REMOVING_RECORD.exec(e.name)
  const chainId = HEX64.test(e.name) ? toDigest(e.name) : removing ? toDigest(removing[1]!) : undefined
  const record: LayerRecord = {
    name: e.name,
    path,
    kind: e.kind,
    chainId,
    removing: removing !== null,
    readable: e.kind === 'dir',
    entries: [],
    cacheId: { state: 'missing' },
    diffId: { state: 'missing' },
    parent: { state: 'missing' },
    size: { state: 'missing' },
    tarSplit: false,
  }
  if (e.kind !== 'dir') return record
  const entries = await r.list(path)
  if (entries === undefined) return { ...record, readable: false }
  const size = await r.value(path, entries, 'size', shape(/^[0-9]+$/, 'a decimal byte count'), { trim: true })
  return {
    ...record,
    entries,
    cacheId: await r.value(path, entries, 'cache-id', isDriverId, { trim: true }),
    diffId: await r.value(path, entries, 'diff', isDigest, { trim: true }),
    parent: await r.value(path, entries, 'parent', isDigest, { trim: true }),
    size: size.state === 'ok' ? { state: 'ok', value: Number(size.value) } : size,
    tarSplit: kindOf(entries, 'tar-split.json.gz') === 'file',
  }
}

async function readMount(r: Reader, dir: string, e: NamedEntry): Promise<MountRecord> {
  const path = `${dir}/${e.name}`
  const record: MountRecord = {
    containerId: e.name,
    path,
    kind: e.kind,
    nameValid: HEX64.test(e.name),
    readable: e.kind === 'dir',
    entries: [],
    mountId: { state: 'missing' },
    initId: { state: 'missing' },
    parent: { state: 'missing' },
  }
  if (e.kind !== 'dir') return record
  const entries = await r.list(path)
  if (entries === undefined) return { ...record, readable: false }
  return {
    ...record,
    entries,
    mountId: await r.value(path, entries, 'mount-id', isDriverId, { trim: true }),
    initId: await r.value(path, entries, 'init-id', isDriverId, { trim: true }),
    parent: await r.value(path, entries, 'parent', isDigest, { trim: true }),
  }
}

async function readImageMetadata(r: Reader, dir: string, e: NamedEntry): Promise<ImageMetadataRecord> {
  const path = `${dir}/${e.name}`
  const record: ImageMetadataRecord = {
    id: toDigest(e.name),
    name: e.name,
    path,
    kind: e.kind,
    readable: e.kind === 'dir',
    entries: [],
    parent: { state: 'missing' },
    lastUpdated: { state: 'missing' },
  }
  if (e.kind !== 'dir') return record
  const entries = await r.list(path)
  if (entries === undefined) return { ...record, readable: false }
  return {
    ...record,
    entries,
    parent: await r.value(path, entries, 'parent', isDigest, { trim: true }),
    lastUpdated: await r.value(path, entries, 'lastUpdated', anyText, { trim: true }),
  }
}

function decodeImageConfig(bytes: Uint8Array): ValueState<ImageConfigSummary> {
  if (bytes.length === 0) return { state: 'empty' }
  const raw = Buffer.from(bytes).toString('utf8')
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch (err) {
    return { state: 'invalid', raw: clip(raw), reason: `not JSON: ${(err as Error).message}` }
  }
  const rootfs = isObject(parsed) ? parsed['rootfs'] : undefined
  const diffIds = isObject(rootfs) ? rootfs['diff_ids'] : undefined
  if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string')) {
    return { state: 'invalid', raw: clip(raw), reason: 'no rootfs.diff_ids list of strings' }
  }
  return { state: 'ok', value: { diffIds: diffIds as string[] } }
}

async function readImage(r: Reader, dir: string, e: NamedEntry, metadata: ImageMetadataRecord | undefined): Promise<ImageRecord> {
  const path = `${dir}/${e.name}`
  const record: ImageRecord = {
    id: toDigest(e.name),
    name: e.name,
    path,
    kind: e.kind,
    nameValid: HEX64.test(e.name),
    size: undefined,
    sha256: undefined,
    digestMatches: false,
    config: { state: 'missing' },
    metadata,
  }
  const read = await r.bytes(path, e.kind, r.limits.imageConfig)
  if (!read.ok) return { ...record, config: read.state === 'missing' ? { state: 'missing' } : { state: 'unreadable', code: read.code, reason: read.reason } }
  const sha256 = createHash('sha256').update(read.bytes).digest('hex')
  return { ...record, size: read.bytes.length, sha256, digestMatches: sha256 === e.name, config: decodeImageConfig(read.bytes) }
}

async function readRepositories(r: Reader, path: string, kind: InodeKind | undefined): Promise<RepositoriesState> {
  const read = await r.bytes(path, kind, r.limits.repositories)
  if (!read.ok) return read.state === 'missing' ? { path, state: 'missing' } : { path, state: 'unreadable', code: read.code, reason: read.reason }
  if (read.bytes.length === 0) return { path, state: 'empty' }
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(read.bytes).toString('utf8'))
  } catch (err) {
    return { path, state: 'invalid', reason: `not JSON: ${(err as Error).message}` }
  }
  // reference/store.go unmarshals into map[string]map[string]digest.Digest: anything else fails the whole file.
  const repos = isObject(parsed) ? parsed['Repositories'] : undefined
  if (!isObject(repos)) return { path, state: 'invalid', reason: 'no "Repositories" object' }
  const repositories: Repository[] = []
  for (const [name, refs] of Object.entries(repos)) {
    if (!isObject(refs)) return { path, state: 'invalid', reason: `repository ${JSON.stringify(name)} is not an object` }
    const list: RepositoryRef[] = []
    for (const [ref, imageId] of Object.entries(refs)) {
      if (typeof imageId !== 'string') return { path, state: 'invalid', reason: `${JSON.stringify(ref)} does not name an image id` }
      list.push({ ref, imageId })
    }
    repositories.push({ name, refs: list.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0)) })
  }
  return { path, state: 'ok', repositories: repositories.sort(byName) }
}

function decodeContainerConfig(bytes: Uint8Array): ValueState<ContainerConfigSummary> {
  if (bytes.length === 0) return { state: 'empty' }
  const raw = Buffer.from(bytes).toString('utf8')
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch (err) {
    return { state: 'invalid', raw: clip(raw), reason: `not JSON: ${(err as Error).message}` }
  }
  if (!isObject(parsed)) return { state: 'invalid', raw: clip(raw), reason: 'not a JSON object' }
  const state = isObject(parsed['State']) ? parsed['State'] : {}
  return {
    state: 'ok',
    value: {
      id: str(parsed['ID']),
      name: str(parsed['Name']),
      driver: str(parsed['Driver']),
      image: str(parsed['Image']),
      running: typeof state['Running'] === 'boolean' ? state['Running'] : undefined,
      pid: typeof state['Pid'] === 'number' && Number.isSafeInteger(state['Pid']) ? state['Pid'] : undefined,
    },
  }
}

async function readContainer(r: Reader, dir: string, e: NamedEntry): Promise<ContainerRecord> {
  const path = `${dir}/${e.name}`
  const record: ContainerRecord = {
    id: e.name,
    path,
    kind: e.kind,
    nameValid: HEX64.test(e.name),
    readable: e.kind === 'dir',
    entries: [],
    config: { state: 'missing' },
  }
  if (e.kind !== 'dir') return record
  const entries = await r.list(path)
  if (entries === undefined) return { ...record, readable: false }
  const configPath = `${path}/config.v2.json`
  const read = await r.bytes(configPath, kindOf(entries, 'config.v2.json'), r.limits.containerConfig)
  const config: ValueState<ContainerConfigSummary> = read.ok
    ? decodeContainerConfig(read.bytes)
    : read.state === 'missing'
      ? { state: 'missing' }
      : { state: 'unreadable', code: read.code, reason: read.reason }
  return { ...record, entries, config }
}

function layerDirBase(dir: string, e: NamedEntry): LayerDirBase {
  const isInit = e.name.endsWith(INIT_SUFFIX)
  return {
    name: e.name,
    path: `${dir}/${e.name}`,
    kind: e.kind,
    id: isInit ? e.name.slice(0, -INIT_SUFFIX.length) : e.name,
    isInit,
    nameValid: DRIVER_ID.test(e.name),
    readable: e.kind === 'dir',
    entries: [],
  }
}

async function readOverlay2Dir(r: Reader, dir: string, e: NamedEntry): Promise<Overlay2LayerDir> {
  const base = layerDirBase(dir, e)
  const record: Overlay2LayerDir = {
    ...base,
    link: { state: 'missing' },
    lower: { state: 'missing' },
    committed: false,
    diff: undefined,
    work: undefined,
    merged: undefined,
  }
  if (e.kind !== 'dir') return record
  const entries = await r.list(base.path)
  if (entries === undefined) return { ...record, readable: false }
  // overlay2 uses `link` and `lower` bytes as they are (no trim): a stray newline breaks the mount too.
  const lowerRead = await r.bytes(`${base.path}/lower`, kindOf(entries, 'lower'), r.limits.smallFile)
  let lower: LowerState
  if (!lowerRead.ok) lower = lowerRead.state === 'missing' ? { state: 'missing' } : { state: 'unreadable', code: lowerRead.code, reason: lowerRead.reason }
  else if (lowerRead.bytes.length === 0) lower = { state: 'empty' }
  else lower = { state: 'ok', entries: Buffer.from(lowerRead.bytes).toString('utf8').split(':') }
  return {
    ...record,
    entries,
    link: await r.value(base.path, entries, 'link', isShortLink, { trim: false }),
    lower,
    committed: kindOf(entries, 'committed') !== undefined,
    diff: kindOf(entries, 'diff'),
    work: kindOf(entries, 'work'),
    merged: kindOf(entries, 'merged'),
  }
}

async function readShortLink(r: Reader, dir: string, e: NamedEntry): Promise<ShortLink> {
  const path = `${dir}/${e.name}`
  let target: string | undefined
  if (e.kind === 'symlink') {
    try {
      target = await r.fs.readlink(path)
    } catch (err) {
      r.note(path, err)
    }
  }
  return { name: e.name, path, kind: e.kind, nameValid: SHORT_LINK.test(e.name), target, targetId: target === undefined ? undefined : linkTargetId(target) }
}

async function readOverlayDir(r: Reader, dir: string, e: NamedEntry): Promise<OverlayLayerDir> {
  const base = layerDirBase(dir, e)
  const record: OverlayLayerDir = {
    ...base,
    root: undefined,
    upper: undefined,
    work: undefined,
    merged: undefined,
    lowerId: { state: 'missing' },
    tmpRoots: [],
  }
  if (e.kind !== 'dir') return record
  const entries = await r.list(base.path)
  if (entries === undefined) return { ...record, readable: false }
  return {
    ...record,
    entries,
    root: kindOf(entries, 'root'),
    upper: kindOf(entries, 'upper'),
    work: kindOf(entries, 'work'),
    merged: kindOf(entries, 'merged'),
    lowerId: await r.value(base.path, entries, 'lower-id', isHex64, { trim: false }),
    tmpRoots: entries.filter((x) => OVERLAY_TMPROOT.test(x.name)).map((x) => x.name),
  }
}

/**
 * Reads a data root's metadata and driver dirs into a DockerModel. `root`
 * is taken as given (resolve a symlinked `--data-root` with realpath first:
 * a symlink there reads as `not-dir`). Throws only when it cannot tell
 * which driver to read (see `pickDriver`); every damage it meets is in the
 * model.
 */
export async function readDockerRoot(fs: FsPort, root: string, options: ReadDockerOptions = {}): Promise<DockerModel> {
  const driver = options.driver ?? pickDriver(await detectDrivers(fs, root))
  const r = new Reader(fs, { ...DEFAULT_DOCKER_LIMITS, ...options.limits })
  const missing = (path: string): { presence: DirPresence; entries: NamedEntry[] } => ({ presence: { path, state: 'missing' }, entries: [] })
  /** A fixed child dir, looked at only when its parent is a real, listed dir. */
  const child = async (parent: { presence: DirPresence; entries: NamedEntry[] }, path: string, name: string) => {
    if (parent.presence.state !== 'ok') return missing(path)
    const kind = kindOf(parent.entries, name)
    if (kind === undefined) return missing(path)
    if (kind !== 'dir') return { presence: { path, state: 'not-dir', kind } satisfies DirPresence, entries: [] }
    return r.dir(path)
  }

  const top = await r.dir(root)
  const image = await child(top, imageRootDir(root), 'image')
  const drvImage = await child(image, imageDir(root, driver), driver)
  const layerDb = await child(drvImage, layerDbDir(root, driver), 'layerdb')
  const records = await child(layerDb, layerRecordsDir(root, driver), 'sha256')
  const mounts = await child(layerDb, mountsDir(root, driver), 'mounts')
  const tmp = await child(layerDb, layerDbTmpDir(root, driver), 'tmp')
  const imagedb = await child(drvImage, `${imageDir(root, driver)}/imagedb`, 'imagedb')
  const content = await child(await child(imagedb, `${imageDir(root, driver)}/imagedb/content`, 'content'), imageDbContentDir(root, driver), 'sha256')
  const metadata = await child(await child(imagedb, `${imageDir(root, driver)}/imagedb/metadata`, 'metadata'), imageDbMetadataRoot(root, driver), 'sha256')
  const containers = await child(top, containersDir(root), 'containers')
  const drv = await child(top, driverDir(root, driver), driver)

  const layers = await mapLimit(records.entries, CONCURRENCY, (e) => readLayerRecord(r, records.presence.path, e))
  const mountRecords = await mapLimit(mounts.entries, CONCURRENCY, (e) => readMount(r, mounts.presence.path, e))
  const layerDbTmp: LayerDbTmpEntry[] = tmp.entries.map((e) => ({
    name: e.name,
    path: `${tmp.presence.path}/${e.name}`,
    kind: e.kind,
    writeSet: e.name.startsWith(WRITE_SET_PREFIX),
  }))

  const metadataRecords = await mapLimit(metadata.entries, CONCURRENCY, (e) => readImageMetadata(r, metadata.presence.path, e))
  const metadataByName = new Map(metadataRecords.map((m) => [m.name, m]))
  const images = await mapLimit(content.entries, CONCURRENCY, (e) => readImage(r, content.presence.path, e, metadataByName.get(e.name)))
  const contentNames = new Set(content.entries.map((e) => e.name))
  const orphanImageMetadata = metadataRecords.filter((m) => !contentNames.has(m.name))

  const repositories: RepositoriesState =
    drvImage.presence.state === 'ok'
      ? await readRepositories(r, repositoriesPath(root, driver), kindOf(drvImage.entries, 'repositories.json'))
      : { path: repositoriesPath(root, driver), state: 'missing' }

  const containerRecords = await mapLimit(containers.entries, CONCURRENCY, (e) => readContainer(r, containers.presence.path, e))

  let layout: DriverLayout
  if (driver === 'overlay2') {
    const l = await child(drv, linkDir(root), 'l')
    const layerDirs = await mapLimit(
      drv.entries.filter((e) => e.name !== 'l'),
      CONCURRENCY,
      (e) => readOverlay2Dir(r, drv.presence.path, e),
    )
    const links = await mapLimit(l.entries, CONCURRENCY, (e) => readShortLink(r, l.presence.path, e))
    layout = { driver, layerDirs, linkDir: l.presence, links }
  } else {
    layout = { driver, layerDirs: await mapLimit(drv.entries, CONCURRENCY, (e) => readOverlayDir(r, drv.presence.path, e)) }
  }

  return {
    root,
    driver,
    topLevel: top.entries,
    imageDir: drvImage.presence,
    imageEntries: drvImage.entries,
    layerDb: layerDb.presence,
    layerDbEntries: layerDb.entries,
    layerRecordsDir: records.presence,
    layers,
    mountsDir: mounts.presence,
    mounts: mountRecords,
    layerDbTmpDir: tmp.presence,
    layerDbTmp,
    imageContentDir: content.presence,
    images,
    imageMetadataDir: metadata.presence,
    orphanImageMetadata,
    repositories,
    containersDir: containers.presence,
    containers: containerRecords,
    driverDir: drv.presence,
    layout,
    unreadable: r.unreadable.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
  }
}

// --- small helpers -------------------------------------------------------------------

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

/** Enough of a garbled file to recognise it in a report. */
function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text
}

