/**
 * A format descriptor is one on-disk layout version, written as frozen data:
 * which directories and files belong where, which whiteout form each rootfs
 * variant holds, which layer ids are legal, and which evidence on disk proves
 * a store is at least this version. Code that needs to know "does this store
 * have X" asks the descriptor instead of testing a version number.
 *
 * Versions are semver. Within a major version every layout is one that the
 * readers of older minors still understand (each Mesos release below added
 * entries and kept the old ones), so layerfsck reads any store whose major it
 * knows and refuses a newer major outright (rkt's stable on-disk promise).
 */

import { deepFreeze } from '../../format/define.js'

export type Backend = 'overlay' | 'aufs' | 'copy' | 'bind'
export const BACKENDS: readonly Backend[] = ['overlay', 'aufs', 'copy', 'bind']

/** The kernel filesystem each backend mounts (what /proc/filesystems must list); copy and bind mount nothing. */
export const BACKEND_KERNEL_FS: Readonly<Record<Backend, string | undefined>> = Object.freeze({ overlay: 'overlay', aufs: 'aufs', copy: undefined, bind: undefined })

export type WhiteoutForm = 'aufs' | 'overlay'

/** A layer id as a directory name under `layers/`. */
export type LayerIdShape = 'hex64' | 'sha256-digest'

/** Things detection can observe in a store; descriptors name the ones that prove them. */
export type EvidenceId =
  | 'layer-rootfs-overlay'
  | 'rootfs-overlay-native-whiteouts'
  | 'provisioner-scratch-links'
  | 'store-gc-dir'
  | 'container-layers-checkpoint'
  | 'layer-digest-id'
  | 'layers-config-blob'
  | 'stored-image-config-digest'
  | 'container-layers-config'

export interface RootfsVariant {
  /** Directory name inside `layers/<id>/`. */
  dir: 'rootfs' | 'rootfs.overlay'
  /** Backends that read this variant. */
  backends: readonly Backend[]
  /** Whiteout form this version writes into the variant. */
  whiteouts: WhiteoutForm
}

export interface EntrySpec {
  name: string
  kind: 'file' | 'dir'
  required: boolean
  describe: string
}

export interface FormatDescriptor {
  family: 'mesos-docker'
  version: string
  title: string
  /** The release and change that introduced the layout, for operators and reviewers. */
  introducedBy: string
  layerIdShapes: readonly LayerIdShape[]
  rootfsVariants: readonly RootfsVariant[]
  /** Entries directly under the store dir. */
  storeEntries: readonly EntrySpec[]
  /** Entries inside `layers/<id>/` besides the rootfs variants. */
  layerEntries: readonly EntrySpec[]
  /** v2 schema2 config blobs stored as regular files `layers/<config_digest>`. */
  configBlobsInLayers: boolean
  /** Per-container `layers` checkpoints (ContainerLayers) in the provisioner dir. */
  containerLayersCheckpoint: boolean
  /** Where the overlay backend keeps its `links` symlink. */
  overlayLinks: 'backend-dir' | 'scratch'
  /** Any one of these, seen in a store, proves the store is at least this version. */
  evidence: readonly { id: EvidenceId; describe: string }[]
}

/** Deep-freezes a descriptor so no code path can edit a format at run time. */
export function defineFormat(d: FormatDescriptor): Readonly<FormatDescriptor> {
  return deepFreeze(d)
}

/** The rootfs directory a backend reads in this format. */
export function rootfsDirFor(format: FormatDescriptor, backend: Backend): RootfsVariant {
  const v = format.rootfsVariants.find((variant) => variant.backends.includes(backend))
  // Every descriptor maps every backend; a miss is a bug in a descriptor file.
  if (!v) throw new Error(`format ${format.version} has no rootfs variant for backend ${backend}`)
  return v
}
