/**
 * A Docker layer for export, named by its chain id (as `docker image
 * inspect` shows it under RootFS.Layers for a base layer, and as layerdb
 * names every record): the record's cache-id names the driver dir, and the
 * format says which of its dirs holds the layer's own content.
 */
import type { ContentRoot } from '../../check/types.js'
import { LayerfsckError } from '../../errors.js'
import { escapeName } from '../../fs/name-bytes.js'
import type { FsPort } from '../../fs/port.js'
import { dockerDriverFor } from './detect.js'
import { dockerFormatOf } from './format-of.js'
import { contentDirFor } from './formats/format.js'
import { readDockerRoot } from './model.js'
import { DIGEST, HEX64 } from './paths.js'

export async function dockerLayerTree(fs: FsPort, store: string, layer: string, variant?: string): Promise<ContentRoot> {
  if (variant !== undefined) throw new LayerfsckError('BAD_OPTION', '--backend names a Mesos backend; a Docker layer has one content tree, so leave it out')
  const chainId = HEX64.test(layer) ? `sha256:${layer}` : layer
  if (!DIGEST.test(chainId)) throw new LayerfsckError('BAD_LAYER_ID', `${JSON.stringify(layer)} is not a chain id (sha256:<64 hex> or 64 hex digits)`)
  const { driver } = await dockerDriverFor(fs, store)
  const model = await readDockerRoot(fs, store, { driver })
  const record = model.layers.find((l) => !l.removing && l.chainId === chainId)
  if (record === undefined) {
    throw new LayerfsckError('LAYER_MISSING', `${escapeName(store)} has no layer record ${chainId}`, { hint: 'layerfsck detect --store … --json lists the layers by chain id' })
  }
  if (record.cacheId.state !== 'ok') throw new LayerfsckError('LAYER_MISSING', `layer ${chainId} has no usable cache-id (${record.cacheId.state}); layerfsck check reports why`)
  const format = await dockerFormatOf(fs, model)
  const spec = contentDirFor(format, record.parent.state === 'missing' ? 'image-base' : 'image')
  const root = `${store}/${driver}/${record.cacheId.value}/${spec?.dir ?? ''}`
  if (spec === undefined || spec.whiteouts === 'none') {
    throw new LayerfsckError('EXPORT_UNSUPPORTED', `the ${driver} driver keeps each image layer flattened with all its parents (${escapeName(root)}), so its own changes are not on disk as a tree`, {
      hint: 'docker save writes the image with its layers as Docker computes them',
    })
  }
  // Every component real: the driver dir and the layer dir as the model read them (a symlink there would lead out of the store).
  const cacheId = record.cacheId.value
  const dir = model.layout.layerDirs.find((d) => d.name === cacheId)
  if (model.driverDir.state !== 'ok' || dir?.kind !== 'dir' || (await fs.lstat(root))?.kind !== 'dir') {
    throw new LayerfsckError('LAYER_MISSING', `layer ${chainId}'s content dir ${escapeName(root)} is missing or not a directory; layerfsck check reports why`)
  }
  return { layer: chainId, variant: spec.dir, root, whiteouts: spec.whiteouts }
}
