import { describe, expect, it } from 'vitest'
import { decodeName } from '../src/fs/name-bytes.js'
import { decodeContainerLayers, encodeContainerLayers } from '../src/families/mesos/metadata/container-layers.js'
import { decodeStoredImages, encodeStoredImages, referenceKey, type StoredImage } from '../src/families/mesos/metadata/stored-images.js'

const images: StoredImage[] = [
  { reference: { repository: 'library/alpine', tag: '3.18' }, layerIds: ['a'.repeat(64), 'b'.repeat(64)] },
  {
    reference: { registry: 'registry.example:5000', repository: 'team/app', digest: `sha256:${'c'.repeat(64)}` },
    layerIds: [`sha256:${'d'.repeat(64)}`],
    configDigest: `sha256:${'e'.repeat(64)}`,
  },
]

describe('storedImages', () => {
  it('round-trips images with a 4-byte little-endian length prefix', () => {
    const bytes = encodeStoredImages(images)
    expect(Buffer.from(bytes).readUInt32LE(0)).toBe(bytes.length - 4)
    const decoded = decodeStoredImages(bytes)
    expect(decoded).toEqual({ value: images, empty: false, problems: [] })
  })

  it('treats an empty file as legal and empty (MESOS-8871)', () => {
    expect(decodeStoredImages(new Uint8Array(0))).toEqual({ value: [], empty: true, problems: [] })
  })

  it('reports a file shorter than its length prefix', () => {
    expect(decodeStoredImages(new Uint8Array([1, 0])).problems[0]?.code).toBe('truncated-length')
  })

  it('keeps the images before the point where a truncated file ends', () => {
    const full = encodeStoredImages(images)
    const cut = full.subarray(0, full.length - 10)
    const decoded = decodeStoredImages(cut)
    expect(decoded.value[0]).toEqual(images[0])
    expect(decoded.problems.map((p) => p.code)).toContain('truncated-message')
  })

  it('keeps the layers of a record whose reference is missing, and says so', () => {
    // An Image with only layer_ids (field 2) and no required reference (field 1).
    const image = Buffer.from([0x12, 0x01, 0x61])
    const message = Buffer.concat([Buffer.from([0x0a, image.length]), image])
    const file = Buffer.concat([Buffer.from([message.length, 0, 0, 0]), message])
    const decoded = decodeStoredImages(file)
    expect(decoded.value).toEqual([{ layerIds: ['a'] }])
    expect(decoded.problems[0]?.code).toBe('missing-field')
  })

  it('keeps the layers of a record whose reference has no repository, and names the missing field', () => {
    // Image { reference: { registry: "r" }, layer_ids: "a" }: ImageReference.repository (field 2) is required.
    const image = Buffer.from([0x0a, 0x03, 0x0a, 0x01, 0x72, 0x12, 0x01, 0x61])
    const message = Buffer.concat([Buffer.from([0x0a, image.length]), image])
    const decoded = decodeStoredImages(Buffer.concat([Buffer.from([message.length, 0, 0, 0]), message]))
    expect(decoded.value).toEqual([{ layerIds: ['a'] }])
    expect(decoded.problems).toEqual([{ code: 'missing-field', message: "image record 1: its reference: missing required 'repository'", offset: 4 }])
  })

  it('loses a record whose reference is garbled, and keeps the records around it', () => {
    const good = Buffer.from(encodeStoredImages([images[0]!])).subarray(4)
    // Image { reference: <a length that runs past the record> }
    const bad = Buffer.from([0x0a, 0x03, 0x0a, 0x05, 0x61])
    const body = Buffer.concat([good, Buffer.from([0x0a, bad.length]), bad, good])
    const prefix = Buffer.alloc(4)
    prefix.writeUInt32LE(body.length)
    const decoded = decodeStoredImages(Buffer.concat([prefix, body]))
    expect(decoded.value).toEqual([images[0], images[0]])
    expect(decoded.problems.map((p) => [p.code, p.offset])).toEqual([['garbled-message', 4 + good.length]])
  })

  it('reports garbage without throwing', () => {
    const junk = Buffer.concat([Buffer.from([6, 0, 0, 0]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])])
    const decoded = decodeStoredImages(junk)
    expect(decoded.problems.map((p) => p.code)).toContain('garbled-message')
  })

  it('reports bytes after the message', () => {
    const full = Buffer.concat([Buffer.from(encodeStoredImages(images)), Buffer.from('tail')])
    const decoded = decodeStoredImages(full)
    expect(decoded.value).toEqual(images)
    expect(decoded.problems.map((p) => p.code)).toEqual(['trailing-bytes'])
  })

  it('keys references the way Mesos does', () => {
    expect(images.map((i) => referenceKey(i.reference!))).toEqual([
      'library/alpine:3.18',
      `registry.example:5000/team/app@sha256:${'c'.repeat(64)}`,
    ])
  })
})

describe('container layers checkpoints', () => {
  it('round-trips paths and the config blob path', () => {
    const value = { paths: ['/s/layers/x/rootfs.overlay', '/s/layers/y/rootfs.overlay'], config: '/s/layers/sha256:z' }
    expect(decodeContainerLayers(encodeContainerLayers(value))).toEqual({ value, empty: false, problems: [] })
  })

  it('carries a path that is not UTF-8 byte for byte, as the file it names has it', () => {
    // /s/layers/<id>/rootfs.overlay/caf\xe9: a latin-1 name on a host that allows any bytes.
    const raw = Buffer.concat([Buffer.from('/s/layers/x/caf'), Buffer.from([0xe9])])
    const path = decodeName(raw)
    const bytes = Buffer.from(encodeContainerLayers({ paths: [path] }))
    // The field's bytes are the name's own: no U+FFFD (ef bf bd) in place of 0xe9.
    expect(bytes.includes(raw)).toBe(true)
    expect(bytes.includes(Buffer.from([0xef, 0xbf, 0xbd]))).toBe(false)
    expect(decodeContainerLayers(bytes).value.paths).toEqual([path])
  })

  it('keeps the paths read before a truncation', () => {
    const bytes = encodeContainerLayers({ paths: ['/first', '/second-path-that-gets-cut'] })
    const decoded = decodeContainerLayers(bytes.subarray(0, bytes.length - 5))
    expect(decoded.value.paths).toEqual(['/first'])
    expect(decoded.problems.map((p) => p.code)).toEqual(['truncated-message', 'garbled-message'])
  })
})
