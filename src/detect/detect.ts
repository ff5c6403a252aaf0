/**
 * `detect`: which family and format a store is in, and what it holds. The
 * framework proves the store's identity (its family among them), takes the
 * shared lock so a scan never sees a change half-way, and asks the family
 * for the rest; nothing here writes.
 */
import type { DockerDetect } from '../families/docker/detect.js'
import type { MesosDetect } from '../families/mesos/detect.js'
import type { FamilyName } from '../family/types.js'
import type { StampState } from '../format/stamp.js'
import type { FsPort } from '../fs/port.js'
import { resolveRoot } from '../fs/roots.js'
import { withSession } from '../steps/session.js'
import { requireStore, type StoreEvidence } from './identify.js'

/** 2: the report names its family, and each family adds its own fields. */
export const DETECT_SCHEMA_VERSION = 2

export interface DetectCommon {
  schemaVersion: typeof DETECT_SCHEMA_VERSION
  store: string
  adapter: 'disk' | 'memory'
  /**
   * Why the directory is taken for a store (its family's evidence, a
   * layerfsck stamp). A directory without any is no report at all: detect
   * exits 8 with an error document whose `error.looksLike` says what the
   * directory looks like instead.
   */
  storeEvidence: StoreEvidence[]
  stamp: { state: 'absent' } | { state: 'ok'; family: string; version: string; writtenBy: string } | { state: 'garbled'; reason: string }
}

export type DetectReport = DetectCommon & (MesosDetect | DockerDetect)

export interface DetectOptions {
  store: string
  /** Only a store of this family is read; detected when absent. */
  family?: FamilyName
  /** Mesos: the agent work dir; its containers are read too. */
  workDir?: string
  /** Called as each layer is scanned; the CLI draws progress from it. */
  onProgress?: (event: { phase: string; done: number; total: number; id: string }) => void
  /** Seconds to wait for a layerfsck that is changing the store. */
  waitSeconds?: number
}

function stampSummary(s: StampState): DetectReport['stamp'] {
  if (s.state === 'ok') return { state: 'ok', family: s.stamp.family, version: s.stamp.version, writtenBy: s.stamp.writtenBy }
  return s
}

export async function detect(fs: FsPort, options: DetectOptions): Promise<DetectReport> {
  const store = await resolveRoot(fs, options.store, 'store')
  const workDir = options.workDir === undefined ? undefined : await resolveRoot(fs, options.workDir, 'work dir')
  // Read under the shared lock, so a scan never sees an import half-way; a
  // reader's session creates nothing, so a directory that is no store is
  // untouched when identification refuses it.
  return withSession(fs, { store, command: 'detect', intent: 'read', ...(options.waitSeconds !== undefined ? { waitSeconds: options.waitSeconds } : {}) }, async () => {
    // Identity first (the stamp inside it first of all: a store left in a
    // newer major format is refused before any of it is interpreted).
    const identity = await requireStore(fs, store, 'detect', options.family === undefined ? {} : { family: options.family })
    const found = await identity.family.detect(fs, {
      store,
      ...(workDir !== undefined ? { workDir } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    })
    return {
      schemaVersion: DETECT_SCHEMA_VERSION,
      store,
      adapter: fs.kind,
      storeEvidence: identity.evidence,
      stamp: stampSummary(identity.stamp),
      ...(found as MesosDetect | DockerDetect),
    }
  })
}
