/**
 * Which directory of a store holds a layer for export: the variant a backend
 * names, or whichever exists (rootfs first: it needs no conversion). And
 * whether this process can see all of it: a tar written without the opaque
 * markers it cannot read would be a wrong layer that looks right.
 */
import { ExitCode, LayerfsckError } from '../errors.js'
import type { Backend } from '../format/descriptor.js'
import { FORMATS } from '../format/registry.js'
import { escapeName } from '../fs/name-bytes.js'
import type { FsPort } from '../fs/port.js'
import { basename } from '../fs/safe-path.js'
import { layerDir, layerIdShape, rootfsName } from '../mesos/paths.js'

export async function layerRootfs(fs: FsPort, store: string, id: string, backend?: Backend): Promise<string> {
  if (layerIdShape(id) === undefined) {
    throw new LayerfsckError('BAD_LAYER_ID', `${JSON.stringify(id)} is not a layer id (64 hex digits, or sha256:<64 hex>)`)
  }
  const dir = await fs.lstat(layerDir(store, id))
  if (dir?.kind !== 'dir') {
    // The id forms differ by store generation: a bare hex id names a v1 layer, sha256:<hex> a schema-2 one.
    const other = id.startsWith('sha256:') ? id.slice('sha256:'.length) : `sha256:${id}`
    const otherIsLayer = (await fs.lstat(layerDir(store, other)))?.kind === 'dir'
    const what = dir === undefined ? 'no layer' : `a ${dir.kind}, not a layer (a config blob?)`
    throw new LayerfsckError('LAYER_MISSING', `${escapeName(store)}/layers has ${what} named ${escapeName(id)}`, {
      hint: otherIsLayer ? `this store names it ${other}` : 'layerfsck detect --store … --json lists the layers and their ids',
    })
  }
  const candidates = backend ? [rootfsName(backend)] : (['rootfs', 'rootfs.overlay'] as const)
  for (const name of candidates) {
    const path = `${layerDir(store, id)}/${name}`
    if ((await fs.lstat(path))?.kind === 'dir') return path
  }
  throw new LayerfsckError('LAYER_MISSING', `layer ${escapeName(id)} has no ${candidates.join(' or ')} in ${escapeName(store)}/layers`, {
    hint: backend ? 'a layer pulled for another backend lives in the other variant; try without --backend' : undefined,
  })
}

/** Variants some format fills with overlay-form whiteouts, whose opaque markers are trusted.* xattrs. */
const OVERLAY_FORM = new Set<string>(FORMATS.flatMap((f) => f.rootfsVariants.filter((v) => v.whiteouts === 'overlay').map((v) => v.dir)))

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
export async function exportCompleteness(fs: FsPort, rootfs: string, options: { allowIncomplete?: boolean } = {}): Promise<string | undefined> {
  if (!OVERLAY_FORM.has(basename(rootfs))) return undefined
  const creds = await fs.credentials()
  if (creds.capSysAdmin) return undefined
  const err = new IncompleteExportError(rootfs, creds.uid)
  if (!options.allowIncomplete) throw err
  return `${err.message}; writing it anyway (--allow-incomplete)`
}
