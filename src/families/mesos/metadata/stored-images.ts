/**
 * `<store>/storedImages`: the docker store's image list, one `Images`
 * message (MetadataManagerProcess::persist). `layerIds` run root first.
 */
import { fieldText, frame, LENGTH_PREFIX, readTopLevelFields, unframe, writeText, type Decoded } from './checkpoint.js'
import { IMAGE, IMAGE_REFERENCE, IMAGES, LENGTH_DELIMITED, tag, Writer } from './schema.js'

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

/**
 * One Image record, field by field. A garbled record is lost whole (what it
 * held cannot be trusted); a record without its required reference, or
 * whose reference has no repository, keeps what it did hold and says what
 * is missing, so that its layers stay protected.
 */
function decodeImage(bytes: Uint8Array): { image: StoredImage; missing?: string } | { garbled: string } {
  const { fields, problem } = readTopLevelFields(bytes, 0)
  if (problem) return { garbled: problem.message }
  const image: StoredImage = { layerIds: [] }
  let reference: Partial<ImageReference> | undefined
  for (const f of fields) {
    if (f.bytes === undefined) continue
    if (f.field === IMAGE.layerIds) image.layerIds.push(fieldText(f.bytes))
    else if (f.field === IMAGE.configDigest) image.configDigest = fieldText(f.bytes)
    else if (f.field === IMAGE.reference) {
      const nested = readTopLevelFields(f.bytes, 0)
      if (nested.problem) return { garbled: `its reference: ${nested.problem.message}` }
      // A message field given twice is merged, as protobuf's own parsers do.
      reference ??= {}
      for (const r of nested.fields) {
        if (r.bytes === undefined) continue
        if (r.field === IMAGE_REFERENCE.registry) reference.registry = fieldText(r.bytes)
        else if (r.field === IMAGE_REFERENCE.repository) reference.repository = fieldText(r.bytes)
        else if (r.field === IMAGE_REFERENCE.tag) reference.tag = fieldText(r.bytes)
        else if (r.field === IMAGE_REFERENCE.digest) reference.digest = fieldText(r.bytes)
      }
    }
  }
  if (!image.configDigest) delete image.configDigest
  if (reference === undefined) return { image, missing: "missing required 'reference'" }
  if (reference.repository === undefined) return { image, missing: "its reference: missing required 'repository'" }
  image.reference = { repository: reference.repository }
  if (reference.registry) image.reference.registry = reference.registry
  if (reference.tag) image.reference.tag = reference.tag
  if (reference.digest) image.reference.digest = reference.digest
  return { image }
}

export function decodeStoredImages(bytes: Uint8Array): Decoded<StoredImage[]> {
  const { body, empty, problems } = unframe(bytes)
  const images: StoredImage[] = []
  if (empty) return { value: images, empty, problems }
  const { fields, problem } = readTopLevelFields(body, LENGTH_PREFIX)
  for (const f of fields) {
    if (f.field !== IMAGES.images || f.bytes === undefined) continue
    const record = decodeImage(f.bytes)
    if ('garbled' in record) {
      problems.push({ code: 'garbled-message', message: `image record ${images.length + 1}: ${record.garbled}`, offset: f.offset })
      continue
    }
    images.push(record.image)
    if (record.missing !== undefined) problems.push({ code: 'missing-field', message: `image record ${images.length}: ${record.missing}`, offset: f.offset })
  }
  if (problem) problems.push(problem)
  return { value: images, empty, problems }
}

export function encodeStoredImages(images: readonly StoredImage[]): Uint8Array {
  const w = Writer.create()
  for (const image of images) {
    w.uint32(tag(IMAGES.images, LENGTH_DELIMITED)).fork()
    // A record without a reference is written as it is (tests plant such damage); empty optional strings are left out, as readers drop them.
    const ref = image.reference
    if (ref !== undefined) {
      w.uint32(tag(IMAGE.reference, LENGTH_DELIMITED)).fork()
      if (ref.registry) writeText(w, IMAGE_REFERENCE.registry, ref.registry)
      writeText(w, IMAGE_REFERENCE.repository, ref.repository)
      if (ref.tag) writeText(w, IMAGE_REFERENCE.tag, ref.tag)
      if (ref.digest) writeText(w, IMAGE_REFERENCE.digest, ref.digest)
      w.ldelim()
    }
    for (const id of image.layerIds) writeText(w, IMAGE.layerIds, id)
    if (image.configDigest) writeText(w, IMAGE.configDigest, image.configDigest)
    w.ldelim()
  }
  return frame(w.finish())
}
