/**
 * A tar's bytes from a stream that may be gzip-compressed, told apart by
 * their magic (OCI layers come as tar, tar+gzip or tar+zstd).
 */
import { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { LayerfsckError } from '../errors.js'

export type Compression = 'none' | 'gzip'

export async function openTarBytes(input: Readable): Promise<{ stream: Readable; compression: Compression }> {
  const it = (input as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
  let head = Buffer.alloc(0)
  // Enough bytes to see the magic, however the source chunks them.
  while (head.length < 4) {
    const next = await it.next()
    if (next.done) break
    head = Buffer.concat([head, next.value])
  }
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
    input.destroy()
    throw new LayerfsckError('TAR_COMPRESSION', 'this layer is zstd-compressed, which layerfsck cannot read yet', {
      hint: 'decompress it first (zstd -d) and import the plain tar',
    })
  }
  async function* all(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head
    for (;;) {
      const next = await it.next()
      if (next.done) return
      yield next.value
    }
  }
  const raw = Readable.from(all(), { objectMode: false })
  if (head[0] !== 0x1f || head[1] !== 0x8b) return { stream: raw, compression: 'none' }
  const gunzip = createGunzip()
  raw.on('error', (err) => gunzip.destroy(err))
  return { stream: raw.pipe(gunzip), compression: 'gzip' }
}
