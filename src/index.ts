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

export type { Family, FamilyName, FormatInfo, StoreEvidence, WhiteoutForm } from './family/types.js'
export { FAMILIES } from './families/index.js'
export { allFormats, findFormat, latestFormat, formatsOf } from './format/registry.js'
export { FormatTooNewError, readStamp, writeStamp, STAMP_SCHEMA_VERSION, type Stamp, type StampState } from './format/stamp.js'
export { identifyStore, requireStore, NotAStoreError, type LooksLike, type StoreIdentity } from './detect/identify.js'

// The commands, as library functions with typed options that return reports.
export { detect, DETECT_SCHEMA_VERSION, type DetectOptions, type DetectReport } from './detect/detect.js'
export { runCheck, CHECK_SCHEMA_VERSION, type CheckOptions, type CheckReport, type CheckMode, type FindingResult } from './check/run.js'
export { runGc, GC_SCHEMA_VERSION, GcCancelledError, type GcOptions, type GcReport, type GcItem, type GcEvent } from './gc/run.js'
export { allChecks, checksOf } from './check/registry.js'
export { exportLayer, type ExportLayerOptions, type ExportLayerReport } from './layer/export.js'
export { importImage, IMPORT_SCHEMA_VERSION, type ImportOptions, type ImportReport, type ImportedLayer } from './families/mesos/import.js'
export {
  migrate,
  MIGRATE_SCHEMA_VERSION,
  MIGRATE_STRATEGIES,
  MigratePreflightError,
  type MigrateOptions,
  type MigrateReport,
  type MigrateEvent,
  type MigrateStrategy,
  type MigrateLayer,
  type LayerAction,
  type LayerStatus,
  type LayerCounts,
  type VariantRef,
  type MigrationReport,
  type ImageRepull,
  type OldBackendContainer,
  type Preflight,
  type PreflightCheck,
  type PreflightCheckId,
} from './families/mesos/migrate.js'
export { MIGRATIONS, type MigrationStep, type MigrationContext } from '../migrations/index.js'

// The Mesos family's formats and checkpoint codecs.
export type { Backend, EvidenceId, FormatDescriptor, LayerIdShape, RootfsVariant } from './families/mesos/descriptor.js'
export { BACKENDS, rootfsDirFor } from './families/mesos/descriptor.js'
export { MESOS_FORMATS } from './families/mesos/formats/index.js'
export { decodeStoredImages, encodeStoredImages, referenceKey, type ImageReference, type StoredImage } from './families/mesos/metadata/stored-images.js'
export { decodeContainerLayers, encodeContainerLayers, type ContainerLayers } from './families/mesos/metadata/container-layers.js'
export type { CheckpointProblem, Decoded } from './families/mesos/metadata/checkpoint.js'
export { countWhiteouts, type LayerSummary, type MesosDetect } from './families/mesos/detect.js'

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
