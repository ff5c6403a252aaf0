/**
 * What a store family is to the framework. A family (one folder under
 * src/families/) is data plus code that reads it: its format descriptors,
 * how to recognise one of its stores, what it holds, and its checks. The
 * framework (port, walk, passes, findings, steps, CLI) asks a family through
 * this interface and never names a family's directories or files itself, so
 * a second family is a folder, not an edit of every command.
 */
import type { CheckData } from '../check/data.js'
import type { CheckSpec, ContentRoot } from '../check/types.js'
import type { DirEntry, FsPort } from '../fs/port.js'
import type { ClaimPolicy } from '../steps/session.js'

/** The families this build knows, by the name `--family` takes. */
export type FamilyName = 'mesos' | 'docker'

/**
 * How a layer tree marks deletions: aufs' `.wh.` files, overlayfs' 0/0
 * devices and opaque xattrs, or not at all (a flattened tree in which a
 * deletion really deleted).
 */
export type WhiteoutForm = 'aufs' | 'overlay' | 'none'

/** What every format descriptor says of itself; a family's descriptors say much more. */
export interface FormatInfo {
  /** The version line the descriptor belongs to, as stamps record it. */
  family: string
  /** semver */
  version: string
  title: string
  /** The release and change that introduced the layout. */
  introducedBy: string
}

/** Why a directory is taken for a store of a family. */
export interface StoreEvidence {
  id: string
  /** What was seen, in words (names escaped). */
  describe: string
  path: string
}

/**
 * What a directory that is no store (of a family this build reads) looks
 * like: said in words holding no name read from it (`title`), the names that
 * show it (`shows`, exact bytes) and both as one escaped phrase.
 */
export interface Looks {
  kind: string
  title: string
  shows: string[]
  describe: string
  /** Whether import may make a store here without destroying anything. */
  canCreate?: boolean
  /** What the operator should do instead. */
  hint?: string
  [more: string]: unknown
}

/** Where a command asks the family and what it gets back for a directory. */
export interface Recognition {
  /** Evidence of a store this family reads; empty when there is none. */
  evidence: StoreEvidence[]
}

/** Options every family's check data may read; each family ignores what it has no use for. */
export interface FamilyCheckOptions {
  workDir?: string
  runtimeDir?: string
  knownContainers?: string
  backend?: string
  procFilesystems?: string
  procRoot?: string
  /** How long a leftover must be untouched before it is garbage (a pull or load may be writing it). */
  graceMs?: number
  /** gc was asked to prune layers: a family that cannot tell which layers are in use from these options refuses. */
  pruneLayers?: boolean
}

/** What detect learns of a store beyond its identity; each family adds its own fields. */
export interface FamilyDetect {
  family: FamilyName
  /** The format the store is in: its stamp's, or the newest its contents prove. */
  format: FormatInfo
  /** Observations that prove a format version, with examples. */
  evidence: { id: string; describe: string; version: string; count: number; examples: string[] }[]
}

export interface FamilyDetectOptions {
  /** Resolved. */
  store: string
  /** Resolved; a family without a work dir refuses one. */
  workDir?: string
  onProgress?: (event: { phase: string; done: number; total: number; id: string }) => void
}

export interface Family<D extends CheckData = CheckData> {
  name: FamilyName
  /** "a Mesos docker store", for messages. */
  title: string
  /** Every descriptor of the family, oldest first within each version line. */
  formats: readonly FormatInfo[]
  /** What `--store` is in this family, for help and hints. */
  storeHint: string
  /**
   * Positive evidence that `dir` (whose sorted listing is `entries`) is a
   * store of this family. Reads only; never throws for what it finds.
   */
  recognise(fs: FsPort, dir: string, entries: DirEntry[]): Promise<StoreEvidence[]>
  /** A directory of this family's kind that is no store it reads (an empty skeleton, an unsupported driver), or undefined. */
  looksLike(fs: FsPort, dir: string, entries: DirEntry[]): Promise<Looks | undefined>
  /** Process names whose presence means the store is in use: changing commands refuse unless forced. */
  guard?(fs: FsPort, store: string, procRoot: string | undefined): Promise<{ pid: number; name: string }[]>
  /** Temp paths a changing command may claim (and so recovery may remove); none when undefined. */
  claims?: ClaimPolicy
  /** The format to stamp once a command changed a store that carries no stamp. */
  currentFormat(fs: FsPort, store: string): Promise<FormatInfo>
  /**
   * The tree that holds one layer's content, with its whiteout form: what
   * export reads. `variant` picks among a layer's trees where a family keeps
   * several (a Mesos backend's). Throws a LayerfsckError naming what is there
   * instead when there is no such layer.
   */
  layerTree(fs: FsPort, store: string, layer: string, variant?: string): Promise<ContentRoot>
  /** Reads the store for detect; the caller proved its identity and holds the lock. */
  detect(fs: FsPort, options: FamilyDetectOptions): Promise<FamilyDetect>
  check: {
    checks: readonly CheckSpec<D>[]
    /** The data the checks read; validated (a named liveness source that is missing throws) before any lock is taken. */
    data(fs: FsPort, store: string, options: FamilyCheckOptions): Promise<D>
  }
}
