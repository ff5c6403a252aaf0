/**
 * What a directory named as `--store` is, decided before anything reads it
 * as a store. A wrong `--store` is the easiest mistake an operator makes,
 * and every rule a store check applies (a six-character file is a
 * checkpoint temp file, everything in gc/ is garbage) is destructive when
 * applied to a directory that is not a store. So a store is recognised only
 * from positive evidence its format defines, never from the absence of
 * anything surprising:
 *
 * - `layers/` holding at least one entry shaped like a layer id (or a config
 *   blob), the one directory every format requires;
 * - a `storedImages` that decodes as the Images checkpoint without a problem,
 *   framed as Mesos writes it (never empty: an empty file is a legal
 *   checkpoint after a power cut, but anyone can make one), and that names a
 *   layer or sits beside a `layers/` dir (four bytes of zero are a framed
 *   empty Images message, too easily made by accident to count alone);
 * - layerfsck's own stamp, `.layerfsck/format.json`.
 *
 * Anything else is "not a store", and says what it looks like instead, so
 * that an operator who pointed at a podman graphroot or a Docker data root
 * learns that rather than a list of findings.
 */
import { ExitCode, isErrno, LayerfsckError } from '../errors.js'
import type { EntrySpec } from '../format/descriptor.js'
import { FORMATS } from '../format/registry.js'
import { readStamp, type StampState } from '../format/stamp.js'
import { escapeName } from '../fs/name-bytes.js'
import type { DirEntry, FsPort, InodeKind } from '../fs/port.js'
import { basename } from '../fs/safe-path.js'
import { byName } from '../fs/walk.js'
import { layerIdShape, layersDir, provisionerDir, SHA256_DIGEST, stampDir, stampPath, storedImagesPath } from '../mesos/paths.js'
import { readMetadata } from '../metadata/read.js'
import { decodeStoredImages } from '../metadata/stored-images.js'

/** How many names an answer lists, and how many examples of evidence it keeps. */
const LISTED = 5

export type StoreEvidenceId = 'layerfsck-stamp' | 'layers-dir' | 'stored-images'

export interface StoreEvidence {
  id: StoreEvidenceId
  /** What was seen, in words (names escaped). */
  describe: string
  path: string
}

interface Looks {
  /** What it is, in words that hold no name read from the directory. */
  title: string
  /** The names that show it (markers found, or the first entries), exact bytes. */
  shows: string[]
  /** Title and names as one phrase, names escaped like `ls -b` (for messages). */
  describe: string
}

export type LooksLike = Looks &
  (
    | { kind: 'absent' }
    | { kind: 'not-a-directory'; inodeKind: InodeKind }
    | { kind: 'empty' }
    /** Only the empty directories a Mesos store starts with: import may fill it, check has nothing to check. */
    | { kind: 'empty-mesos-store'; entries: string[] }
    | { kind: 'containers-storage'; drivers: string[]; markers: string[] }
    | { kind: 'docker-data-root'; drivers: string[]; markers: string[] }
    | { kind: 'unknown'; names: string[]; total: number }
  )

/** `title: a, b, c` with the names escaped. */
const phrase = (title: string, shows: readonly string[], more = ''): string =>
  shows.length === 0 ? title : `${title}: ${shows.map(escapeName).join(', ')}${more}`

export type StoreIdentity =
  | { isStore: true; path: string; family: 'mesos-docker'; evidence: StoreEvidence[]; stamp: StampState }
  | {
      isStore: false
      path: string
      /** looksLike.kind, at hand. */
      kind: LooksLike['kind']
      /** Whether import may make a store here: nothing there yet, or only an empty store skeleton. */
      canCreate: boolean
      looksLike: LooksLike
    }

/** Places import may turn into a store without destroying anything. */
const CREATABLE: ReadonlySet<LooksLike['kind']> = new Set(['absent', 'empty', 'empty-mesos-store'])

const notAStore = (path: string, looksLike: LooksLike): StoreIdentity => ({
  isStore: false,
  path,
  kind: looksLike.kind,
  canCreate: CREATABLE.has(looksLike.kind),
  looksLike,
})

/** Entries any known format puts at the store's top, by kind, and layerfsck's own directory. */
export function storeEntries(): { dirs: Set<string>; files: Set<string>; own: string } {
  const all: EntrySpec[] = FORMATS.flatMap((f) => [...f.storeEntries])
  return {
    dirs: new Set(all.filter((e) => e.kind === 'dir').map((e) => e.name)),
    files: new Set(all.filter((e) => e.kind === 'file').map((e) => e.name)),
    own: basename(stampDir('/')),
  }
}

/** A name in a list, with a slash after a directory; exact bytes (JSON carries them as they are). */
const label = (e: DirEntry): string => `${e.name}${e.kind === 'dir' ? '/' : ''}`
/** The same as a person reads it: escaped like `ls -b`. */
const shown = (e: DirEntry): string => escapeName(label(e))

class UnreadableStoreError extends LayerfsckError {
  constructor(path: string, cause: unknown) {
    super('STORE_UNREADABLE', `cannot read ${escapeName(path)} (${isErrno(cause) ? cause.code : String(cause)}); cannot tell whether it is a store`, {
      cause,
      exitCode: ExitCode.operational,
      hint: 'run as a user who can read the store (root, as the Mesos agent runs)',
    })
  }
}

async function list(fs: FsPort, path: string): Promise<DirEntry[]> {
  try {
    return (await fs.readdir(path)).sort(byName)
  } catch (err) {
    if (isErrno(err, 'EACCES', 'EPERM')) throw new UnreadableStoreError(path, err)
    throw err
  }
}

/**
 * Collects the evidence that `dir` is a Mesos docker store. The stamp is
 * read first and a stamp from a newer major format throws, as everywhere:
 * nothing else of such a store is interpreted.
 */
async function storeEvidence(fs: FsPort, dir: string): Promise<{ evidence: StoreEvidence[]; stamp: StampState }> {
  const evidence: StoreEvidence[] = []
  const stamp = await readStamp(fs, dir)
  if (stamp.state === 'ok') {
    evidence.push({ id: 'layerfsck-stamp', path: stampPath(dir), describe: `layerfsck stamp: ${stamp.stamp.family} ${stamp.stamp.version}` })
  }

  const layers = layersDir(dir)
  const hasLayersDir = (await fs.lstat(layers))?.kind === 'dir'
  const images = await storedImagesEvidence(fs, dir, hasLayersDir)
  if (hasLayersDir) {
    let entries: DirEntry[] | undefined
    try {
      entries = await fs.readdir(layers)
    } catch (err) {
      // Other evidence may still prove the store; with none, this is why we cannot tell.
      if (!isErrno(err, 'EACCES', 'EPERM')) throw err
      if (evidence.length === 0 && images === undefined) throw new UnreadableStoreError(layers, err)
    }
    const shaped = (entries ?? []).filter(
      (e) => (e.kind === 'dir' && layerIdShape(e.name) !== undefined) || (e.kind === 'file' && SHA256_DIGEST.test(e.name)),
    )
    if (shaped.length > 0) {
      const examples = shaped.sort(byName).slice(0, 2).map(shown).join(', ')
      evidence.push({ id: 'layers-dir', path: layers, describe: `layers/ holds ${shaped.length} layer-shaped entr${shaped.length === 1 ? 'y' : 'ies'} (${examples}${shaped.length > 2 ? ', …' : ''})` })
    }
  }

  if (images !== undefined) evidence.push({ id: 'stored-images', path: storedImagesPath(dir), describe: `storedImages decodes: ${images} image${images === 1 ? '' : 's'}` })
  return { evidence, stamp }
}

/** storedImages as evidence: an empty file decodes as "nothing recorded", which says nothing about whose file it is. */
function decodeWrittenStoredImages(bytes: Uint8Array): ReturnType<typeof decodeStoredImages> {
  const decoded = decodeStoredImages(bytes)
  if (!decoded.empty) return decoded
  return { ...decoded, problems: [{ code: 'truncated-length', message: 'the file is empty; Mesos always writes a length-prefixed message', offset: 0 }] }
}

/**
 * The number of images storedImages records when it counts as evidence of a
 * store (see the top of this file), or undefined.
 */
async function storedImagesEvidence(fs: FsPort, dir: string, hasLayersDir: boolean): Promise<number | undefined> {
  const state = await readMetadata(fs, storedImagesPath(dir), decodeWrittenStoredImages)
  if (state.state !== 'ok') return undefined
  const namesLayer = state.value.some((image) => image.layerIds.some((id) => layerIdShape(id) !== undefined))
  return namesLayer || hasLayersDir ? state.value.length : undefined
}

/** Markers of the layouts people confuse with a Mesos store; data, as a format descriptor is. */
const CONTAINERS_STORAGE = {
  lock: 'storage.lock',
  /** `<driver>-layers/layers.json`, `<driver>-images/` (containers/storage store.go). */
  layersDir: /^(.+)-layers$/,
  layersFile: 'layers.json',
  imagesDir: /^(.+)-images$/,
}
const DOCKER = {
  /** `image/<driver>/layerdb` (moby daemon/images, layer/filestore.go). */
  imageDir: 'image',
  layerDb: 'layerdb',
}

async function isDir(fs: FsPort, path: string): Promise<boolean> {
  try {
    return (await fs.lstat(path))?.kind === 'dir'
  } catch (err) {
    if (isErrno(err, 'EACCES', 'ENOTDIR')) return false
    throw err
  }
}

async function containersStorage(fs: FsPort, dir: string, entries: DirEntry[]): Promise<LooksLike | undefined> {
  const markers: string[] = []
  const drivers = new Set<string>()
  if (entries.some((e) => e.name === CONTAINERS_STORAGE.lock && e.kind === 'file')) markers.push(CONTAINERS_STORAGE.lock)
  for (const e of entries) {
    if (e.kind !== 'dir') continue
    const layers = CONTAINERS_STORAGE.layersDir.exec(e.name)
    if (layers && (await fs.lstat(`${dir}/${e.name}/${CONTAINERS_STORAGE.layersFile}`).catch(() => undefined))?.kind === 'file') {
      markers.push(`${e.name}/${CONTAINERS_STORAGE.layersFile}`)
      drivers.add(layers[1]!)
    }
    const images = CONTAINERS_STORAGE.imagesDir.exec(e.name)
    if (images) {
      markers.push(`${e.name}/`)
      drivers.add(images[1]!)
    }
  }
  // The lock alone is a weak sign; with a layers.json or an images dir it is the layout.
  if (drivers.size === 0) return undefined
  const title = 'a containers/storage graphroot (podman, CRI-O, buildah)'
  return { kind: 'containers-storage', drivers: [...drivers].sort(), markers, title, shows: markers, describe: phrase(title, markers) }
}

async function dockerDataRoot(fs: FsPort, dir: string, entries: DirEntry[]): Promise<LooksLike | undefined> {
  if (!entries.some((e) => e.name === DOCKER.imageDir && e.kind === 'dir')) return undefined
  let drivers: DirEntry[]
  try {
    drivers = await fs.readdir(`${dir}/${DOCKER.imageDir}`)
  } catch (err) {
    if (isErrno(err, 'EACCES')) return undefined
    throw err
  }
  const found: string[] = []
  for (const d of drivers.sort(byName)) {
    if (d.kind === 'dir' && (await isDir(fs, `${dir}/${DOCKER.imageDir}/${d.name}/${DOCKER.layerDb}`))) found.push(d.name)
  }
  if (found.length === 0) return undefined
  const markers = found.map((d) => `${DOCKER.imageDir}/${d}/${DOCKER.layerDb}`)
  const title = 'a Docker data root, by its image/<driver>/layerdb'
  return { kind: 'docker-data-root', drivers: found, markers, title, shows: markers, describe: phrase(title, markers) }
}

async function emptyMesosStore(fs: FsPort, dir: string, entries: DirEntry[]): Promise<LooksLike | undefined> {
  const { dirs, own } = storeEntries()
  for (const e of entries) {
    if (e.kind !== 'dir') return undefined
    // layerfsck's own dir may hold a lock or the journal of an import that never finished.
    if (e.name === own) continue
    if (!dirs.has(e.name)) return undefined
    if ((await list(fs, `${dir}/${e.name}`)).length > 0) return undefined
  }
  const names = entries.map(label)
  const title = 'an empty Mesos docker store (no layer, no storedImages: nothing to check yet) of only empty directories'
  return { kind: 'empty-mesos-store', entries: names, title, shows: names, describe: phrase(title, names) }
}

async function looksLike(fs: FsPort, dir: string, entries: DirEntry[]): Promise<LooksLike> {
  if (entries.length === 0) return { kind: 'empty', title: 'an empty directory', shows: [], describe: 'an empty directory' }
  const known = (await emptyMesosStore(fs, dir, entries)) ?? (await containersStorage(fs, dir, entries)) ?? (await dockerDataRoot(fs, dir, entries))
  if (known !== undefined) return known
  const names = entries.slice(0, LISTED).map(label)
  const more = entries.length > LISTED ? `, … (${entries.length} entries)` : ''
  const title = 'a directory of something else (no layers/ with layers, no storedImages as Mesos writes it, no layerfsck stamp)'
  return { kind: 'unknown', names, total: entries.length, title, shows: names, describe: phrase(title, names, more) }
}

/** What `dir` is: a store with the evidence for it, or what it looks like instead. Reads only; changes nothing. */
export async function identifyStore(fs: FsPort, dir: string): Promise<StoreIdentity> {
  let inode
  try {
    inode = await fs.lstat(dir)
  } catch (err) {
    if (!isErrno(err, 'ENOTDIR')) throw err
  }
  if (inode === undefined) return notAStore(dir, { kind: 'absent', title: 'a path that does not exist', shows: [], describe: 'a path that does not exist' })
  if (inode.kind !== 'dir') {
    const title = `a ${inode.kind}, not a directory`
    return notAStore(dir, { kind: 'not-a-directory', inodeKind: inode.kind, title, shows: [], describe: title })
  }
  const entries = await list(fs, dir)
  if (entries.length > 0) {
    const { evidence, stamp } = await storeEvidence(fs, dir)
    if (evidence.length > 0) return { isStore: true, path: dir, family: 'mesos-docker', evidence, stamp }
  }
  return notAStore(dir, await looksLike(fs, dir, entries))
}

const HINTS: Record<LooksLike['kind'], string> = {
  absent: 'name the Mesos docker store (the agent\'s --docker_store_dir); layerfsck import creates a new one',
  'not-a-directory': 'name the Mesos docker store directory (the agent\'s --docker_store_dir)',
  empty: 'name the Mesos docker store (the agent\'s --docker_store_dir); layerfsck import fills an empty directory',
  'empty-mesos-store': 'there is nothing to check until an image is pulled or imported (layerfsck import)',
  'containers-storage': 'layerfsck reads Mesos docker stores; for this graphroot use podman system check (or name the Mesos store)',
  'docker-data-root': 'layerfsck reads Mesos docker stores; name the Mesos agent\'s --docker_store_dir instead',
  unknown: 'name the Mesos docker store (the agent\'s --docker_store_dir, /tmp/mesos/store/docker by default)',
}

export class NotAStoreError extends LayerfsckError {
  constructor(
    readonly path: string,
    readonly command: string,
    readonly looksLike: LooksLike,
  ) {
    super('NOT_A_STORE', `${escapeName(path)} is not a Mesos docker store; it looks like ${looksLike.describe}. ${command} read no further and changed nothing`, {
      exitCode: ExitCode.operational,
      hint: HINTS[looksLike.kind],
    })
  }

  /** The machine-readable half of the answer, for --json. */
  toJSON(): { code: string; message: string; hint: string | null; exitCode: number; path: string; looksLike: LooksLike } {
    return { code: this.code, message: this.message, hint: this.hint ?? null, exitCode: this.exitCode, path: this.path, looksLike: this.looksLike }
  }
}

/** The refusal for a command given a directory that is no store. */
export function notAStoreError(identity: Extract<StoreIdentity, { isStore: false }>, command: string): NotAStoreError {
  return new NotAStoreError(identity.path, command, identity.looksLike)
}

/**
 * The gate every command that reads a store as a store passes first: the
 * store's identity, or a NotAStoreError (exit 8) that names what `dir` looks
 * like and says that `command` changed nothing.
 */
export async function requireStore(fs: FsPort, dir: string, command: string): Promise<Extract<StoreIdentity, { isStore: true }>> {
  const identity = await identifyStore(fs, dir)
  if (!identity.isStore) throw notAStoreError(identity, command)
  return identity
}

/**
 * An agent work dir proves itself by its `provisioner/`: a mistyped
 * `--work-dir` would otherwise read as an agent with no containers, and
 * every mount under it would look like nobody's.
 */
export async function requireWorkDir(fs: FsPort, workDir: string): Promise<string> {
  const provisioner = provisionerDir(workDir)
  const inode = await fs.lstat(provisioner)
  if (inode?.kind !== 'dir') {
    throw new LayerfsckError('NOT_A_WORK_DIR', `${escapeName(workDir)} has no provisioner/ directory, so it is not a Mesos agent work dir; nothing was read or changed`, {
      exitCode: ExitCode.operational,
      hint: "name the agent's --work_dir (the directory holding provisioner/, slaves/ and meta/), or leave --work-dir out to check the store alone",
    })
  }
  return provisioner
}
