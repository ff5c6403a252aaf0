/**
 * The protobuf messages Mesos checkpoints, as their field numbers. Numbers
 * and rules are Mesos' own (docker/message.proto, include/mesos/docker/spec.proto,
 * include/mesos/slave/containerizer.proto); names are camelCase on our side,
 * which the wire format never sees.
 *
 * Every field here is a string, a repeated string or one nested message, so
 * each file walks its fields with protobufjs's wire Reader and Writer instead
 * of protobufjs's reflection: building and code-generating the reflected
 * types took ≈20 ms of every run that reads a store, a tenth of a short
 * check (docs/performance.md).
 */
import protobuf from 'protobufjs/minimal.js'

export const Reader = protobuf.Reader
export const Writer = protobuf.Writer
export type Writer = protobuf.Writer

/** Wire type 2: a string, bytes or a nested message, after its varint length. */
export const LENGTH_DELIMITED = 2

/** A field's tag: its number and wire type, as the wire has them. */
export const tag = (field: number, wire: number): number => (field << 3) | wire

/** mesos.ImageReference */
export const IMAGE_REFERENCE = { registry: 1, repository: 2, tag: 3, digest: 4 } as const
/** mesos.Image: `reference` is required. */
export const IMAGE = { reference: 1, layerIds: 2, configDigest: 3 } as const
/** mesos.Images */
export const IMAGES = { images: 1 } as const
/** mesos.ContainerLayers */
export const CONTAINER_LAYERS = { paths: 1, config: 2 } as const
