/**
 * layerfsck's library API. The library never prints and never exits: every
 * call returns a typed report or throws a LayerfsckError; the CLI renders.
 */
export { VERSION } from './version.js'
export { ExitCode, LayerfsckError, UsageError, isErrno, type ErrnoError } from './errors.js'

export type {
  DevNo,
  DirEntry,
  FsPort,
  FsTypeInfo,
  Inode,
  InodeKind,
  MountEntry,
  WriteHandle,
  WriteOptions,
  XattrPort,
} from './fs/port.js'
export { inodeKey, MUTATING_CALLS } from './fs/port.js'
export { createNodeFs, type NodeFsOptions } from './fs/node.js'
export { createMemoryFs, type MemoryFs, type MemoryFsOptions, type MemoryMount } from './fs/memory.js'
export { parseMountInfo, formatMountInfo } from './fs/mountinfo.js'

export type { Backend, EvidenceId, FormatDescriptor, LayerIdShape, RootfsVariant, WhiteoutForm } from './format/descriptor.js'
export { BACKENDS, rootfsDirFor } from './format/descriptor.js'
export { FORMATS, findFormat, latestFormat, formatsOf } from './format/registry.js'
export { FormatTooNewError, readStamp, writeStamp, STAMP_SCHEMA_VERSION, type Stamp, type StampState } from './format/stamp.js'

export { decodeStoredImages, encodeStoredImages, referenceKey, type ImageReference, type StoredImage } from './metadata/stored-images.js'
export { decodeContainerLayers, encodeContainerLayers, type ContainerLayers } from './metadata/container-layers.js'
export type { CheckpointProblem, Decoded } from './metadata/checkpoint.js'

export { detect, countWhiteouts, DETECT_SCHEMA_VERSION, type DetectOptions, type DetectReport, type LayerSummary } from './detect/detect.js'

export {
  aufsToOverlay,
  overlayToAufs,
  convertLayer,
  planAufsDir,
  isOpaqueDir,
  type AufsAction,
  type CodecNote,
  type CodecNoteCode,
  type ConvertReport,
  type OpaqueXattr,
} from './layer/whiteout-codec.js'
export { applyLayer, type ApplyReport } from './layer/apply.js'
export { importLayerTar, HostileTarError, type LayerImportOptions, type LayerImportReport } from './tar/import-layer.js'
export { exportLayerTar, type LayerExportOptions, type LayerExportReport } from './tar/export-layer.js'
export { importImage, IMPORT_SCHEMA_VERSION, type ImportOptions, type ImportReport, type ImportedLayer } from './image/import.js'
