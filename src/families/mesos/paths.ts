/**
 * Path arithmetic for the Mesos docker store and provisioner dir, pure and
 * string-only (pnpm's getFilePathInCafs style). Names and nesting follow
 * docker/paths.cpp and provisioner/paths.cpp; see docs/format-mesos-docker.md.
 */
import type { LayerIdShape } from './descriptor.js'

// --- docker store (--docker_store_dir) -------------------------------------

export const layersDir = (store: string): string => `${store}/layers`
export const layerDir = (store: string, id: string): string => `${store}/layers/${id}`
export const stagingDir = (store: string): string => `${store}/staging`
export const gcDir = (store: string): string => `${store}/gc`
export const storedImagesPath = (store: string): string => `${store}/storedImages`


export const HEX64 = /^[0-9a-f]{64}$/
export const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/

export function layerIdShape(name: string): LayerIdShape | undefined {
  if (HEX64.test(name)) return 'hex64'
  if (SHA256_DIGEST.test(name)) return 'sha256-digest'
  return undefined
}

/**
 * state::checkpoint writes through `os::mktemp(dir/XXXXXX)` and renames; a
 * crash in between leaves a six-character temp file (mesos_docker.md §1.1).
 */
export const CHECKPOINT_TEMP = /^[A-Za-z0-9]{6}$/

/** os::mkdtemp's `XXXXXX`: what a pull (Mesos' or layerfsck import's) names its dir in staging/. */
export const STAGING_TEMP = /^[A-Za-z0-9]{6}$/

/** What a changing command may claim in the journal, and so what recovery may ever remove: a staging dir. */
export const STAGING_CLAIMS = { dir: 'staging', name: STAGING_TEMP } as const

/** `gc/<layerId>.<nanoseconds>`: what prune renamed a layer (or config blob) to. */
export const GC_ENTRY = /^(.+)\.(\d+)$/

// --- provisioner dir (<work_dir>/provisioner) -------------------------------

export const provisionerDir = (workDir: string): string => `${workDir}/provisioner`

/** `containers/<a>/containers/<b>/…` for a nested container id path [a, b, …]. */
export function containerDir(provisioner: string, ids: readonly string[]): string {
  return `${provisioner}/${ids.map((id) => `containers/${id}`).join('/')}`
}

export const containerLayersPath = (container: string): string => `${container}/layers`
export const backendDir = (container: string, backend: string): string => `${container}/backends/${backend}`

/** Container ids as `parent/child` strings, the form `--known-containers` files use. */
export const containerKey = (ids: readonly string[]): string => ids.join('/')

/** The agent's process names: a store is not changed under a running agent unless the operator forces it. */
export const AGENT_PROCESSES: readonly string[] = ['mesos-agent', 'mesos-slave']
