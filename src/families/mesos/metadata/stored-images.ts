/**
 * `<store>/storedImages`: the docker store's image list, one `Images`
 * message (MetadataManagerProcess::persist). `layerIds` run root first.
 */
import { frame, LENGTH_PREFIX, readTopLevelFields, unframe, type Decoded } from './checkpoint.js'
import { ImagesType, ImageType } from './schema.js'

export interface ImageReference {
  registry?: string
  repository: string
  tag?: string
  digest?: string
}

export interface StoredImage {
  /** Missing only when the record was damaged; such a record still protects its layers. */
  reference?: ImageReference
  layerIds: string[]
  configDigest?: string
}

/** Mesos' own key for an image: `[registry/]repository` then `@digest` or `:tag` (docker/spec.cpp). */
export function referenceKey(ref: ImageReference): string {
  const name = ref.registry ? `${ref.registry}/${ref.repository}` : ref.repository
  if (ref.digest) return `${name}@${ref.digest}`
  if (ref.tag) return `${name}:${ref.tag}`
  return name
}

interface RawImage {
  reference?: { registry?: string; repository?: string; tag?: string; digest?: string }
  layerIds?: string[]
  configDigest?: string
}

function toStoredImage(raw: RawImage): StoredImage {
  const image: StoredImage = { layerIds: [...(raw.layerIds ?? [])] }
  const r = raw.reference
  if (r && typeof r.repository === 'string') {
    image.reference = { repository: r.repository }
    if (r.registry) image.reference.registry = r.registry
    if (r.tag) image.reference.tag = r.tag
    if (r.digest) image.reference.digest = r.digest
  }
  if (raw.configDigest) image.configDigest = raw.configDigest
  return image
}

export function decodeStoredImages(bytes: Uint8Array): Decoded<StoredImage[]> {
  const { body, empty, problems } = unframe(bytes)
  const images: StoredImage[] = []
  if (empty) return { value: images, empty, problems }
  const { fields, problem } = readTopLevelFields(body, LENGTH_PREFIX)
  for (const f of fields) {
    if (f.field !== 1 || f.bytes === undefined) continue
    try {
      images.push(toStoredImage(ImageType.toObject(ImageType.decode(f.bytes)) as RawImage))
    } catch (err) {
      // protobufjs reports a missing required field with what it did decode.
      const partial = (err as { instance?: unknown }).instance
      if (partial) {
        images.push(toStoredImage(ImageType.toObject(partial as never) as RawImage))
        problems.push({ code: 'missing-field', message: `image record ${images.length}: ${(err as Error).message}`, offset: f.offset })
      } else {
        problems.push({ code: 'garbled-message', message: `image record ${images.length + 1}: ${(err as Error).message}`, offset: f.offset })
      }
    }
  }
  if (problem) problems.push(problem)
  return { value: images, empty, problems }
}

export function encodeStoredImages(images: readonly StoredImage[]): Uint8Array {
  const message = ImagesType.create({ images: images.map((i) => ImageType.create(i as unknown as Record<string, unknown>)) })
  return frame(ImagesType.encode(message).finish())
}
