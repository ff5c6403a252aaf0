/**
 * Which directory of a Mesos store holds a layer for export: the variant a
 * backend reads in the store's format, or whichever exists (the aufs-form
 * one first: it needs no conversion).
 */
import { LayerfsckError } from '../../errors.js'
import type { ContentRoot } from '../../check/types.js'
import { escapeName } from '../../fs/name-bytes.js'
import type { FsPort } from '../../fs/port.js'
import { BACKENDS, rootfsDirFor, type Backend } from './descriptor.js'
import { currentMesosFormat } from './current-format.js'
import { knownVariant, VARIANT_DIRS } from './formats/index.js'
import { layerDir, layerIdShape } from './paths.js'

export async function mesosLayerTree(fs: FsPort, store: string, id: string, backend?: string): Promise<ContentRoot> {
  if (layerIdShape(id) === undefined) {
    throw new LayerfsckError('BAD_LAYER_ID', `${JSON.stringify(id)} is not a layer id (64 hex digits, or sha256:<64 hex>)`)
  }
  if (backend !== undefined && !(BACKENDS as readonly string[]).includes(backend)) {
    throw new LayerfsckError('BAD_BACKEND', `${JSON.stringify(backend)} is not a Mesos backend (${BACKENDS.join(', ')})`)
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
  // The aufs-form variants first: they need no conversion on the way out.
  const ordered = [...VARIANT_DIRS].sort((a, b) => Number(knownVariant(a)?.whiteouts === 'overlay') - Number(knownVariant(b)?.whiteouts === 'overlay'))
  const candidates = backend ? [rootfsDirFor(await currentMesosFormat(fs, store), backend as Backend).dir] : ordered
  for (const name of candidates) {
    const root = `${layerDir(store, id)}/${name}`
    if ((await fs.lstat(root))?.kind === 'dir') return { layer: id, variant: name, root, whiteouts: knownVariant(name)!.whiteouts }
  }
  throw new LayerfsckError('LAYER_MISSING', `layer ${escapeName(id)} has no ${candidates.join(' or ')} in ${escapeName(store)}/layers`, {
    hint: backend ? 'a layer pulled for another backend lives in the other variant; try without --backend' : undefined,
  })
}
