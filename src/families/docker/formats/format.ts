/**
 * A Docker format descriptor: one on-disk layout of one storage driver, as
 * frozen data. Each driver is a version line of its own (`docker-overlay2`,
 * `docker-overlay`), because the two drivers changed at different releases
 * and a data root holds one driver's layout at a time. Readers, checks and
 * detect ask the descriptor (which entries belong in a layer dir of which
 * role, which whiteout form a content dir holds, which temp names are whose)
 * instead of testing a version number or a literal.
 *
 * The framework's `FormatInfo {family, version, title, introducedBy}` is a
 * structural subset of this; `family` is the version line, as stamps record
 * it (the family itself is `docker`).
 */
import { deepFreeze } from '../../../format/define.js'
import type { DockerDriver } from '../paths.js'

export type DockerFormatLine = 'docker-overlay2' | 'docker-overlay'

/** How a content dir marks deletions: overlayfs' 0/0 devices and opaque xattrs, or not at all (a flattened tree). */
export type DockerWhiteoutForm = 'overlay' | 'none'

/**
 * What a dir under the driver dir is for, told from the metadata that names
 * it: an image layer with no parent, an image layer with one, a container's
 * init layer (`<mount-id>-init`), a container's read-write layer.
 */
export type LayerRole = 'image-base' | 'image' | 'init' | 'container'

export interface LayerEntrySpec {
  name: string
  kind: 'file' | 'dir'
  /** The roles whose layer dir holds this entry; in any other role's dir it does not belong. */
  roles: readonly LayerRole[]
  /** Within those roles, whether a layer dir without it is damaged. */
  required: boolean
  /**
   * When it is there: `always` once the layer exists; `while-mounted` only
   * while the driver has the layer mounted (an empty one left after a crash
   * is harmless); `once-parent` once another layer was created on top.
   */
  when: 'always' | 'while-mounted' | 'once-parent'
  describe: string
}

/** A dir inside a layer dir that holds file content, and the whiteout form found in it. */
export interface ContentDirSpec {
  dir: string
  roles: readonly LayerRole[]
  whiteouts: DockerWhiteoutForm
  describe: string
}

export interface RootEntrySpec {
  name: string
  kind: 'file' | 'dir'
  required: boolean
  describe: string
}

export type TempNameId = 'write-set' | 'removing-record' | 'atomic-write' | 'overlay-tmproot'

/** A name something of Docker's uses only while an operation runs; one left at rest is a leftover of a crash. */
export interface TempNameSpec {
  id: TempNameId
  /** Where it appears, relative to the data root (`<driver>` stands for the driver's name, `<id>` for a layer dir). */
  where: string
  pattern: RegExp
  describe: string
}

export interface IdShapes {
  /** Names of dirs under the driver dir (cache-ids, mount-ids, init-ids). */
  layerDir: RegExp
  /** A `cache-id`'s content. */
  cacheId: RegExp
  mountId: RegExp
  initId: RegExp
  /** Layer record dir names under layerdb/sha256 (the hex of a chain id). */
  chainIdHex: RegExp
  /** Digests as layerdb and imagedb files hold them: chain ids, diff ids, image ids. */
  digest: RegExp
  /** Image config file names under imagedb/content/sha256. */
  imageIdHex: RegExp
  containerId: RegExp
  /** overlay2's `l/` names and `link` contents. */
  shortLink?: RegExp
}

export type DockerEvidenceId =
  | 'graph-metadata'
  | 'layerdb'
  | 'short-links'
  | 'no-merged-at-rest'
  | 'committed-file'
  | 'removing-record'

export interface DockerFormat {
  /** The version line (the framework's `FormatInfo.family`). */
  family: DockerFormatLine
  driver: DockerDriver
  /** semver; Docker's own release numbers (`17.12.0` for 17.12.0-ce). */
  version: string
  title: string
  introducedBy: string
  /** Where image and layer metadata live: the pre-1.10 `graph/`, or `image/<driver>/{layerdb,imagedb}`. */
  metadata: 'graph' | 'layerdb'
  /** Entries of a dir under `<root>/<driver>/`, by the layer's role. */
  layerEntries: readonly LayerEntrySpec[]
  contentDirs: readonly ContentDirSpec[]
  /** overlay2's `l/` dir of short-name symlinks to each layer's `diff`. */
  shortLinks: { dir: string; target: string } | undefined
  idShapes: IdShapes
  tempNames: readonly TempNameSpec[]
  /** Entries directly under a data root that a dockerd of this version (or one it was upgraded from) makes. */
  rootEntries: readonly RootEntrySpec[]
  /** Entries of `image/<driver>/layerdb/`. */
  layerDbEntries: readonly RootEntrySpec[]
  /** Entries of `image/<driver>/`. */
  imageEntries: readonly RootEntrySpec[]
  /** Any one of these, seen in a data root, proves it is at least this version. */
  evidence: readonly { id: DockerEvidenceId; describe: string }[]
  /** The release whose dockerd no longer reads this driver, when there is one. */
  removedIn?: string
}

/** Deep-freezes a descriptor so no code path can edit a format at run time. */
export function defineDockerFormat(d: DockerFormat): Readonly<DockerFormat> {
  return deepFreeze(d)
}

/** The specs of the entries a layer dir of `role` may hold in this format. */
export function entriesFor(format: DockerFormat, role: LayerRole): readonly LayerEntrySpec[] {
  return format.layerEntries.filter((e) => e.roles.includes(role))
}

/** The content dir a layer of `role` keeps its files in, with its whiteout form. */
export function contentDirFor(format: DockerFormat, role: LayerRole): ContentDirSpec | undefined {
  return format.contentDirs.find((c) => c.roles.includes(role))
}
