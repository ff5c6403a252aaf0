/**
 * `export` as a library function: one layer of a store, found by its
 * family, written as an OCI layer tar through `write`. And whether this
 * process can see all of it: a tar written without the opaque markers it
 * cannot read would be a wrong layer that looks right.
 */
import type { ContentRoot } from '../check/types.js'
import { requireStore } from '../detect/identify.js'
import { ExitCode, LayerfsckError } from '../errors.js'
import type { FamilyName } from '../family/types.js'
import { escapeName } from '../fs/name-bytes.js'
import type { FsPort } from '../fs/port.js'
import { resolveRoot } from '../fs/roots.js'
import { withSession } from '../steps/session.js'
import { exportLayerTar, type LayerExportReport } from '../tar/export-layer.js'

export interface ExportLayerOptions {
  store: string
  /** As the family names layers: a Mesos layer id, a Docker chain id. */
  layer: string
  family?: FamilyName
  /** Mesos: read the variant this backend reads; whichever the layer has when absent. */
  backend?: string
  /** Export an overlay-form layer whose opaque markers cannot be read; the report carries the warning. */
  allowIncomplete?: boolean
  waitSeconds?: number
  signal?: AbortSignal
}

export interface ExportLayerReport extends LayerExportReport {
  store: string
  layer: string
  /** The tree the tar was read from, and its whiteout form. */
  tree: ContentRoot
  /** Why the tar lacks opaque markers, when --allow-incomplete let it. */
  incomplete: string | undefined
}

/**
 * Finds the layer (after proving the store), then writes its tar under the
 * shared lock, so an import or a fix never changes the layer while it is
 * read. `beforeWrite` runs once the layer is found and before the first
 * byte, for a caller that must say something first (a warning).
 */
export async function exportLayer(
  fs: FsPort,
  options: ExportLayerOptions,
  write: (chunk: Uint8Array) => Promise<void>,
  beforeWrite?: (found: { tree: ContentRoot; incomplete: string | undefined }) => void | Promise<void>,
): Promise<ExportLayerReport> {
  const store = await resolveRoot(fs, options.store, 'store')
  const wait = options.waitSeconds !== undefined ? { waitSeconds: options.waitSeconds } : {}
  return withSession(fs, { store, command: 'export', intent: 'read', ...wait }, async () => {
    // Not a store, or a newer format that may lay layers out differently: refuse before reading a layer.
    const { family } = await requireStore(fs, store, 'export', options.family === undefined ? {} : { family: options.family })
    const tree = await family.layerTree(fs, store, options.layer, options.backend)
    const incomplete = await exportCompleteness(fs, tree, { allowIncomplete: options.allowIncomplete === true })
    await beforeWrite?.({ tree, incomplete })
    const report = await exportLayerTar(fs, tree.root, write, options.signal ? { signal: options.signal } : {})
    return { ...report, store, layer: options.layer, tree, incomplete }
  })
}

export class IncompleteExportError extends LayerfsckError {
  constructor(rootfs: string, uid: number) {
    super(
      'EXPORT_INCOMPLETE',
      `cannot export ${escapeName(rootfs)} whole: its opaque directories are marked with trusted.overlay.opaque, which ` +
        `uid ${uid} without CAP_SYS_ADMIN cannot read, so the tar would lack their .wh..wh..opq markers`,
      {
        exitCode: ExitCode.operational,
        hint: 'run export as root; or pass --allow-incomplete to write the tar anyway, without those markers',
      },
    )
  }
}

/**
 * Refuses (IncompleteExportError) to export an overlay-form variant when
 * this process cannot read trusted.* xattrs; with `allowIncomplete`, returns
 * the warning to print instead. Undefined when the export will be whole.
 */
export async function exportCompleteness(fs: FsPort, tree: ContentRoot, options: { allowIncomplete?: boolean } = {}): Promise<string | undefined> {
  if (tree.whiteouts !== 'overlay') return undefined
  const creds = await fs.credentials()
  if (creds.capSysAdmin) return undefined
  const err = new IncompleteExportError(tree.root, creds.uid)
  if (!options.allowIncomplete) throw err
  return `${err.message}; writing it anyway (--allow-incomplete)`
}
