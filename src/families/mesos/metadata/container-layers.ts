/**
 * `containers/<id>/layers`: the store rootfs paths a container was
 * provisioned from (ContainerLayers, Mesos >= 1.5), plus the v2 schema2
 * config blob path. Only the last image provisioned for a container is
 * recorded (mesos_docker.md §1.2), so readers treat it as a lower bound.
 */
import { fieldText, frame, LENGTH_PREFIX, readTopLevelFields, unframe, writeText, type Decoded } from './checkpoint.js'
import { CONTAINER_LAYERS, Writer } from './schema.js'

export interface ContainerLayers {
  paths: string[]
  config?: string
}

export function decodeContainerLayers(bytes: Uint8Array): Decoded<ContainerLayers> {
  const { body, empty, problems } = unframe(bytes)
  const value: ContainerLayers = { paths: [] }
  if (empty) return { value, empty, problems }
  const { fields, problem } = readTopLevelFields(body, LENGTH_PREFIX)
  for (const f of fields) {
    if (f.bytes === undefined) continue
    if (f.field === CONTAINER_LAYERS.paths) value.paths.push(fieldText(f.bytes))
    else if (f.field === CONTAINER_LAYERS.config) value.config = fieldText(f.bytes)
  }
  if (problem) problems.push(problem)
  return { value, empty, problems }
}

export function encodeContainerLayers(layers: ContainerLayers): Uint8Array {
  const w = Writer.create()
  for (const path of layers.paths) writeText(w, CONTAINER_LAYERS.paths, path)
  if (layers.config) writeText(w, CONTAINER_LAYERS.config, layers.config)
  return frame(w.finish())
}
