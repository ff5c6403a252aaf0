/** Paths into fixtures/ (the real wh-* images) for tests, read through the disk adapter. */
import { fileURLToPath } from 'node:url'
import type { Readable } from 'node:stream'
import { makeDirs, readFileLimited, writeFileAll } from '../../src/fs/io.js'
import { createNodeFs } from '../../src/fs/node.js'
import type { FsPort } from '../../src/fs/port.js'
import { walkTree } from '../../src/fs/walk.js'
import { applyLayer } from '../../src/layer/apply.js'

export const FIXTURES = fileURLToPath(new URL('../../fixtures', import.meta.url))
export const IMAGES = `${FIXTURES}/images`

/** The three wh-third layers, root first, as gzip blobs in oci-overlay. */
export const WH_LAYERS = [
  'sha256:bf5b6db757712d39e6826e0160e6ff925a566c767e97291f86f4906083aab7a4',
  'sha256:6ac16d2e8047dc36b3cdcca09926ea9058c0ff0021f559948c408773cb047a69',
  'sha256:c98f3d7bd1610df1ebf3f10af3c08735d9b0e4a771324ec45256a7706a6c2724',
] as const
export const WH_CONFIG = 'sha256:fefbce03962c5f162d292080ad4bddb2ad344f978ea6d2bd59637ab7b198386f'

/** A blob of an OCI layout under `images` (the real dir by default, or where imagesOn put a copy). */
export const blobPath = (layout: string, digest: string, images: string = IMAGES): string =>
  `${images}/${layout}/blobs/sha256/${digest.slice('sha256:'.length)}`

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

/** The uncompressed layout's layer digests (its blobs are the diff_ids). */
export const WH_DIFF_IDS = [
  'sha256:0a3c4199b078910c5fd773fb6589c3326033974b62f73f1c320cdf4f16be2225',
  'sha256:925d481c0893cb9f82df4b0ff75f701844b449df2aa3bd6147fec5c8fec81bf0',
  'sha256:c783a7bf371435de733f7f5ba31d147f145025b0ffc00e3274f3f4b3792905aa',
] as const

const copies = new WeakMap<FsPort, string>()

/**
 * Where the fixture images are on this port: the real directory on disk,
 * a copy made once per memory filesystem (the memory adapter cannot see
 * the disk, and tests must not reach around the port).
 */
export async function imagesOn(fs: FsPort): Promise<string> {
  if (fs.kind === 'disk') return IMAGES
  const cached = copies.get(fs)
  if (cached) return cached
  const disk = createNodeFs()
  const root = '/fixtures/images'
  await makeDirs(fs, root)
  for await (const e of walkTree(disk, IMAGES)) {
    const to = `${root}/${e.rel}`
    if (e.kind === 'dir') await fs.mkdir(to, 0o755)
    else if (e.kind === 'file') await writeFileAll(fs, to, await readFileLimited(disk, e.path))
  }
  copies.set(fs, root)
  return root
}

/** `path type` lines of a tree, with hard links told apart by nlink as the fixture README lists them. */
export async function shape(fs: FsPort, root: string): Promise<string[]> {
  const out: string[] = []
  const seen = new Set<bigint>()
  const entries = []
  for await (const e of walkTree(fs, root)) entries.push(e)
  entries.sort((a, b) => (a.rel < b.rel ? -1 : 1))
  for (const e of entries) {
    const inode = (await fs.lstat(e.path))!
    const linked = inode.kind === 'file' && inode.nlink > 1 && seen.has(inode.ino)
    seen.add(inode.ino)
    out.push(`${e.rel} ${linked ? 'link' : inode.kind}`)
  }
  return out
}

export async function mergedByCopy(fs: FsPort, rootfses: string[], form: 'aufs' | 'overlay', at: string): Promise<string[]> {
  await fs.mkdir(at, 0o755)
  for (const r of rootfses) await applyLayer(fs, r, at, form)
  return shape(fs, at)
}
