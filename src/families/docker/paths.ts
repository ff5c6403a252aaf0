/**
 * Path arithmetic for a Docker data root (`dockerd --data-root`), pure and
 * string-only (pnpm's getFilePathInCafs style): no IO, no normalisation.
 * Names and nesting follow moby 20.10: daemon/daemon.go (image/<driver>/…),
 * layer/filestore.go (layerdb), image/fs.go (imagedb),
 * daemon/graphdriver/overlay2/overlay.go and …/overlay/overlay.go.
 */

/** The storage drivers this family reads; others are recognised and reported as unsupported. */
export type DockerDriver = 'overlay2' | 'overlay'
export const DOCKER_DRIVERS: readonly DockerDriver[] = ['overlay2', 'overlay']

/**
 * Every graph driver a Linux dockerd may keep a directory for at the top of
 * its data root (daemon/graphdriver/driver_linux.go priority list plus the
 * removed ones); a root that switched drivers keeps the old one's dir.
 */
export const KNOWN_DRIVER_DIRS: readonly string[] = [
  'aufs',
  'btrfs',
  'devicemapper',
  'fuse-overlayfs',
  'overlay',
  'overlay2',
  'vfs',
  'zfs',
]

export function isDockerDriver(name: string): name is DockerDriver {
  return (DOCKER_DRIVERS as readonly string[]).includes(name)
}

// --- image/<driver>/ (per-driver metadata) -----------------------------------

export const imageRootDir = (root: string): string => `${root}/image`
export const imageDir = (root: string, driver: string): string => `${root}/image/${driver}`
export const repositoriesPath = (root: string, driver: string): string => `${root}/image/${driver}/repositories.json`

export const layerDbDir = (root: string, driver: string): string => `${root}/image/${driver}/layerdb`
/** Layer records live under the digest algorithm's name; moby only ever wrote sha256. */
export const layerRecordsDir = (root: string, driver: string): string => `${root}/image/${driver}/layerdb/sha256`
/** `chainId` as `sha256:<hex>` or bare hex; a record dir is named by the hex (or a `-removing` name, passed whole). */
export const layerRecordDir = (root: string, driver: string, chainId: string): string =>
  `${root}/image/${driver}/layerdb/sha256/${stripSha256(chainId)}`
export const mountsDir = (root: string, driver: string): string => `${root}/image/${driver}/layerdb/mounts`
export const layerDbTmpDir = (root: string, driver: string): string => `${root}/image/${driver}/layerdb/tmp`

export const imageDbContentDir = (root: string, driver: string): string => `${root}/image/${driver}/imagedb/content/sha256`
/** `imageId` as `sha256:<hex>` or bare hex. */
export const imageDbContentPath = (root: string, driver: string, imageId: string): string =>
  `${root}/image/${driver}/imagedb/content/sha256/${stripSha256(imageId)}`
export const imageDbMetadataRoot = (root: string, driver: string): string => `${root}/image/${driver}/imagedb/metadata/sha256`

/** Files of a layer record (layer/filestore.go); `descriptor.json` only for layers pulled with a foreign URL. */
const LAYER_RECORD_FILES = ['cache-id', 'descriptor.json', 'diff', 'parent', 'size', 'tar-split.json.gz'] as const
export type LayerRecordFile = (typeof LAYER_RECORD_FILES)[number]

// --- <driver>/ (layer contents) ------------------------------------------------

export const driverDir = (root: string, driver: string): string => `${root}/${driver}`
/** A layer's dir under the driver dir: a cache-id, a mount-id or an init-id (`<mount-id>-init`). */
export const driverLayerDir = (root: string, driver: string, id: string): string => `${root}/${driver}/${id}`

/** overlay2's short-name symlinks, `l/<26 chars> -> ../<id>/diff`, which keep mount options under a page. */
export const linkDir = (root: string): string => `${root}/overlay2/l`
export const linkPath = (root: string, shortName: string): string => `${root}/overlay2/l/${shortName}`

export const containersDir = (root: string): string => `${root}/containers`
export const containerDir = (root: string, id: string): string => `${root}/containers/${id}`

// --- id shapes -----------------------------------------------------------------

export const HEX64 = /^[0-9a-f]{64}$/
export const DIGEST = /^sha256:[0-9a-f]{64}$/
/**
 * A cache-id, mount-id or init-id: one path component. dockerd up to 20.10
 * accepts only 64 hex (stringIDRegexp, optionally `-init`); later releases
 * accept any non-empty value (BuildKit and snapshotter ids are not hex), and
 * detection cannot tell the two apart, so any safe name counts: what is
 * refused is what could name something outside the driver dir.
 */
export const DRIVER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/
/** A container's init layer: `<mount-id>-init` (layer/layer_store.go initMount). */
export const INIT_ID = /^([A-Za-z0-9][A-Za-z0-9_.-]*)-init$/
export const INIT_SUFFIX = '-init'
/** overlay2's short link name: 26 chars of base32 (overlayutils.GenerateID, idLength 26). */
export const SHORT_LINK = /^[A-Z0-9]{26}$/
/** One entry of a `lower` file. */
const LOWER_ENTRY = /^l\/([A-Z0-9]{26})$/
/** A short link's target as overlay2 writes it: the diff dir of a sibling layer dir. */
const LINK_TARGET = /^\.\.\/([^/]+)\/diff$/

/**
 * A layer record being deleted: layer_store.go deleteLayer renames
 * `<chain hex>` to `<chain hex>-<stringid.GenerateRandomID()>-removing`
 * (64 hex in the middle, moby PR 39193, Docker 20.10) before removing the
 * driver's dir. On start, filestore.go getOrphan takes any directory whose
 * name ends in `-removing` and whose part before the first `-` is a valid
 * hex digest; its cache-id dir is then removed at shutdown. So the middle is
 * matched loosely here, as dockerd reads it.
 */
export const REMOVING_RECORD = /^([0-9a-f]{64})(?:-(.*))?-removing$/

/**
 * layerdb/tmp: ioutils.NewAtomicWriteSet's `ioutil.TempDir(tmp, "write-set-")`
 * (a random decimal number follows), renamed into place on commit; one left
 * behind is an interrupted load, pull or commit.
 */
export const WRITE_SET_TEMP = /^write-set-[0-9]+$/
export const WRITE_SET_PREFIX = 'write-set-'

/**
 * ioutils.AtomicWriteFile's temp, `ioutil.TempFile(dir, ".tmp-" + base)`:
 * imagedb content and metadata files and repositories.json are written
 * through one beside the final name.
 */
export const ATOMIC_WRITE_TEMP = /^\.tmp-(.+?)[0-9]+$/

/** The legacy overlay driver's ApplyDiff stages a layer's root in `ioutil.TempDir(<id>, "tmproot")`. */
export const OVERLAY_TMPROOT = /^tmproot[0-9]+$/

export function stripSha256(id: string): string {
  return id.startsWith('sha256:') ? id.slice('sha256:'.length) : id
}

export function toDigest(hex: string): string {
  return `sha256:${hex}`
}

/** `abc…-init` → `abc…`; anything else unchanged. */
export function stripInit(id: string): string {
  return id.endsWith(INIT_SUFFIX) ? id.slice(0, -INIT_SUFFIX.length) : id
}

/** The chain id (`sha256:<hex>`) a `-removing` record was renamed from, or undefined when the name is not one. */
export function removingRecordChain(name: string): string | undefined {
  const m = REMOVING_RECORD.exec(name)
  return m ? toDigest(m[1]!) : undefined
}

/** The layer dir id a short link's target names (`../<id>/diff`), or undefined for any other target. */
export function linkTargetId(target: string): string | undefined {
  const m = LINK_TARGET.exec(target)
  return m ? m[1] : undefined
}

/** The short name a `lower` entry names (`l/<name>`), or undefined for any other form. */
export function lowerEntryLink(entry: string): string | undefined {
  const m = LOWER_ENTRY.exec(entry)
  return m ? m[1] : undefined
}

/** The process names of a daemon that owns a data root: fixes refuse while one runs unless forced. */
export const DAEMON_PROCESSES: readonly string[] = ['dockerd']
