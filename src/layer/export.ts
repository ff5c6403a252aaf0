/**
 * Which directory of a store holds a layer for export: the variant a backend
 * names, or whichever exists (rootfs first: it needs no conversion).
 */
import { LayerfsckError } from '../errors.js'
import type { Backend } from '../format/descriptor.js'
import type { FsPort } from '../fs/port.js'
import { layerDir, layerIdShape, rootfsName } from '../mesos/paths.js'

export async function layerRootfs(fs: FsPort, store: string, id: string, backend?: Backend): Promise<string> {
  if (layerIdShape(id) === undefined) {
    throw new LayerfsckError('BAD_LAYER_ID', `${JSON.stringify(id)} is not a layer id (64 hex digits, or sha256:<64 hex>)`)
  }
  const candidates = backend ? [rootfsName(backend)] : (['rootfs', 'rootfs.overlay'] as const)
  for (const name of candidates) {
    const path = `${layerDir(store, id)}/${name}`
    if ((await fs.lstat(path))?.kind === 'dir') return path
  }
  throw new LayerfsckError('LAYER_MISSING', `layer ${id} has no ${candidates.join(' or ')} in ${store}/layers`, {
    hint: backend ? 'a layer pulled for another backend lives in the other variant; try without --backend' : undefined,
  })
}
