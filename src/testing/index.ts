/**
 * `layerfsck/testing`: what a downstream test suite needs to exercise code
 * against container layer stores without root or a disk: the memory adapter
 * (optionally over a memfs Volume the suite already has), tree specs, the
 * synthetic store generator, and the crash-injection decorator.
 */
export { createMemoryFs, type MemoryFs, type MemoryFsOptions, type MemoryMount } from '../fs/memory.js'
export { CrashError, withCrashAfter, type CrashFs, type CrashModel, type CrashOptions } from '../fs/crash.js'
export {
  describeTree,
  formatTreeSpec,
  listTree,
  materialize,
  parseTreeSpec,
  DEFAULT_MODES,
  type DescribeOptions,
  type SpecType,
  type TreeEntry,
} from './tree-spec.js'
export { generateMesosStore, type GeneratedStore, type GenerateOptions } from '../families/mesos/testing.js'
