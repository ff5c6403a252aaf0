/**
 * Pieces both drivers' descriptors share: the data root around the driver
 * dir, the layerdb and imagedb (one format for every driver since 1.10), and
 * the id shapes. Each is a function of the driver name where the name shows.
 */
import {
  ATOMIC_WRITE_TEMP,
  DIGEST,
  DRIVER_ID,
  HEX64,
  INIT_ID,
  REMOVING_RECORD,
  WRITE_SET_TEMP,
  type DockerDriver,
} from '../paths.js'
import type { IdShapes, RootEntrySpec, TempNameSpec } from './format.js'

export const LAYERDB_ID_SHAPES: IdShapes = {
  layerDir: DRIVER_ID,
  cacheId: DRIVER_ID,
  mountId: DRIVER_ID,
  initId: INIT_ID,
  chainIdHex: HEX64,
  digest: DIGEST,
  imageIdHex: HEX64,
  containerId: HEX64,
}

/** What 1.10 up to 19.03 write at the top of a data root, the driver dir aside. */
export function rootEntries_1_10(driver: DockerDriver): RootEntrySpec[] {
  return [
    { name: 'containers', kind: 'dir', required: true, describe: 'one dir per container: config.v2.json, hostconfig.json, logs, resolv.conf, …' },
    { name: 'image', kind: 'dir', required: true, describe: 'per-driver image and layer metadata: image/<driver>/{imagedb,layerdb,repositories.json}' },
    { name: driver, kind: 'dir', required: true, describe: `the ${driver} driver's layer contents` },
    { name: 'volumes', kind: 'dir', required: false, describe: 'named volumes and metadata.db (and backingFsBlockDev, the quota probe)' },
    { name: 'network', kind: 'dir', required: false, describe: 'libnetwork state, files/local-kv.db (1.9 and later)' },
    { name: 'tmp', kind: 'dir', required: false, describe: "dockerd's temp dir (DOCKER_TMPDIR)" },
    { name: 'trust', kind: 'dir', required: false, describe: 'content trust data (1.8 and later)' },
    { name: 'plugins', kind: 'dir', required: false, describe: 'managed plugins (1.13 and later)' },
    { name: 'swarm', kind: 'dir', required: false, describe: 'swarm mode state (1.12 and later)' },
    { name: 'runtimes', kind: 'dir', required: false, describe: 'wrapper scripts for configured runtimes' },
    { name: 'builder', kind: 'dir', required: false, describe: "the classic builder's fscache (17.07 up to 19.03), left after an upgrade" },
    { name: 'buildkit', kind: 'dir', required: false, describe: "BuildKit's cache and snapshot dbs (18.06 and later)" },
    { name: 'containerd', kind: 'dir', required: false, describe: 'the root of the containerd that dockerd starts itself (18.09 and later)' },
    { name: 'runc', kind: 'dir', required: false, describe: "runc state of containerd's v1 linux runtime, when that runtime is used" },
    { name: 'graph', kind: 'dir', required: false, describe: 'pre-1.10 image metadata, left after the 1.10 migration' },
    { name: `repositories-${driver}`, kind: 'file', required: false, describe: 'pre-1.10 tags, left after the 1.10 migration' },
    { name: 'linkgraph.db', kind: 'file', required: false, describe: 'pre-1.10 container links, left after the 1.10 migration' },
  ]
}

/** 20.10's root, which adds nothing of layout; `engine-id` (24.0) is listed so a newer root is not taken for damage. */
export function rootEntries_20_10(driver: DockerDriver): RootEntrySpec[] {
  return [
    ...rootEntries_1_10(driver),
    { name: 'engine-id', kind: 'file', required: false, describe: "the daemon's id (Docker 24.0 and later)" },
  ]
}

export const IMAGE_ENTRIES: RootEntrySpec[] = [
  { name: 'imagedb', kind: 'dir', required: true, describe: 'content/sha256/<image id> (image configs) and metadata/sha256/<image id>/{parent,lastUpdated}' },
  { name: 'layerdb', kind: 'dir', required: true, describe: 'layer records (sha256/<chain id>), container mounts (mounts/<container id>) and write transactions (tmp/)' },
  { name: 'distribution', kind: 'dir', required: false, describe: 'registry digests of pulled layers (diffid-by-digest, v2metadata-by-diffid)' },
  { name: 'repositories.json', kind: 'file', required: false, describe: 'tags and digests: {"Repositories":{repo:{ref:image id}}}; absent until the first tag' },
]

export const LAYERDB_ENTRIES: RootEntrySpec[] = [
  { name: 'sha256', kind: 'dir', required: false, describe: 'one record dir per layer, named by its chain id: cache-id, diff, parent, size, tar-split.json.gz' },
  { name: 'mounts', kind: 'dir', required: false, describe: "one dir per container: mount-id, init-id, parent (the image's top chain id)" },
  { name: 'tmp', kind: 'dir', required: false, describe: 'write-set-* dirs of metadata transactions in progress; empty at rest' },
]

export const WRITE_SET: TempNameSpec = {
  id: 'write-set',
  where: 'image/<driver>/layerdb/tmp',
  pattern: WRITE_SET_TEMP,
  describe: 'a layer record being written (ioutils.AtomicWriteSet), renamed to layerdb/sha256/<chain id> on commit',
}

export const ATOMIC_WRITE: TempNameSpec = {
  id: 'atomic-write',
  where: 'image/<driver>/imagedb/{content,metadata}/sha256, image/<driver>',
  pattern: ATOMIC_WRITE_TEMP,
  describe: 'an image config, image metadata file or repositories.json being written (ioutils.AtomicWriteFile), renamed over the final name',
}

export const REMOVING: TempNameSpec = {
  id: 'removing-record',
  where: 'image/<driver>/layerdb/sha256',
  pattern: REMOVING_RECORD,
  describe:
    "a layer record renamed <chain id>-<random>-removing before its driver dir is removed (moby PR 39193); at start dockerd takes it for an orphan and removes the dir its cache-id names",
}
