/** Paths into fixtures/ (the real wh-* images) for tests, read through the disk adapter. */
import { fileURLToPath } from 'node:url'
import type { Readable } from 'node:stream'
import { createNodeFs } from '../../src/fs/node.js'

export const FIXTURES = fileURLToPath(new URL('../../fixtures', import.meta.url))
export const IMAGES = `${FIXTURES}/images`

/** The three wh-third layers, root first, as gzip blobs in oci-overlay. */
export const WH_LAYERS = [
  'sha256:bf5b6db757712d39e6826e0160e6ff925a566c767e97291f86f4906083aab7a4',
  'sha256:6ac16d2e8047dc36b3cdcca09926ea9058c0ff0021f559948c408773cb047a69',
  'sha256:c98f3d7bd1610df1ebf3f10af3c08735d9b0e4a771324ec45256a7706a6c2724',
] as const
export const WH_CONFIG = 'sha256:fefbce03962c5f162d292080ad4bddb2ad344f978ea6d2bd59637ab7b198386f'

export const blobPath = (layout: string, digest: string): string => `${IMAGES}/${layout}/blobs/sha256/${digest.slice('sha256:'.length)}`

export function openFixture(path: string): Promise<Readable> {
  return createNodeFs().openRead(path)
}

/** What ../fixtures/README.md says the merged wh-third rootfs holds. */
export const WH_THIRD_MERGED = [
  'bin dir',
  'bin/hello file',
  'data dir',
  'data/cache dir',
  'data/cache/new.txt file',
  'data/keep-hardlink.txt file',
  'data/keep.txt link',
  'data/three.txt file',
  'etc dir',
  'etc/added.txt file',
  'etc/app.conf file',
  'etc/hostname file',
  'var dir',
]
