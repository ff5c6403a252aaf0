/**
 * `containers/<id>/layers`: the store rootfs paths a container was
 * provisioned from (ContainerLayers, Mesos >= 1.5), plus the v2 schema2
 * config blob path. Only the last image provisioned for a container is
 * recorded (mesos_docker.md §1.2), so readers treat it as a lower bound.
 */
import { frame, LENGTH_PREFIX, readTopLevelFields, unframe, type Decoded } from './checkpoint.js'
import { ContainerLayersType } from './schema.js'

export interface ContainerLayers {
  paths: string[]
  config?: string
}

export function decodeContainerLayers(bytes: Uint8Array): Decoded<ContainerLayers> {
  const { body, empty, problems } = unframe(bytes)
  const value: ContainerLayers = { paths: [] }
  if (empty) return { value, empty, problems }
  const { fields, problem } = readTopLevelFields(body, LENGTH_PREFIX)
  const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8')
  for (const f of fields) {
    if (f.bytes === undefined) continue
    if (f.field === 1) value.paths.push(text(f.bytes))
    else if (f.field === 2) value.config = text(f.bytes)
  }
  if (problem) problems.push(problem)
  return { value, empty, problems }
}

export function encodeContainerLayers(layers: ContainerLayers): Uint8Array {
  return frame(ContainerLayersType.encode(ContainerLayersType.create(layers as unknown as Record<string, unknown>)).finish())
}
