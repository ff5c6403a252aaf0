/**
 * The protobuf messages Mesos checkpoints, as protobufjs reflection data.
 * Field numbers and rules are Mesos' own (docker/message.proto,
 * include/mesos/docker/spec.proto, include/mesos/slave/containerizer.proto);
 * names are camelCase on our side, which the wire format never sees.
 */
import protobuf from 'protobufjs/light.js'

const root = protobuf.Root.fromJSON({
  nested: {
    mesos: {
      nested: {
        ImageReference: {
          fields: {
            registry: { type: 'string', id: 1 },
            repository: { rule: 'required', type: 'string', id: 2 },
            tag: { type: 'string', id: 3 },
            digest: { type: 'string', id: 4 },
          },
        },
        Image: {
          fields: {
            reference: { rule: 'required', type: 'ImageReference', id: 1 },
            layerIds: { rule: 'repeated', type: 'string', id: 2 },
            configDigest: { type: 'string', id: 3 },
          },
        },
        Images: {
          fields: { images: { rule: 'repeated', type: 'Image', id: 1 } },
        },
        ContainerLayers: {
          fields: {
            paths: { rule: 'repeated', type: 'string', id: 1 },
            config: { type: 'string', id: 2 },
          },
        },
      },
    },
  },
})

export const ImageType = root.lookupType('mesos.Image')
export const ImagesType = root.lookupType('mesos.Images')
export const ImageReferenceType = root.lookupType('mesos.ImageReference')
export const ContainerLayersType = root.lookupType('mesos.ContainerLayers')
export const Reader = protobuf.Reader
