/**
 * Reads an image from where operators keep one: an OCI image layout
 * directory, an `oci-archive` tar of one, or a `docker save` archive (the
 * input of Mesos' image-tarball puller). Archives are first extracted into
 * the store's staging dir by the same hostile-tar extractor as layers, as
 * Mesos does, so every path in them is checked the same way.
 *
 * The result is a plan: the layers, root first, each with the id Mesos would
 * give it and a way to open its tar; the config blob when there is one.
 * Digests named by OCI manifests are verified as the bytes are read.
 */
import { createHash } from 'node:crypto'
import { Transform, type Readable } from 'node:stream'
import { LayerfsckError } from '../../errors.js'
import { readFileLimited, readTextLimited } from '../../fs/io.js'
import type { FsPort } from '../../fs/port.js'
import { basename, symlinkTarget } from '../../fs/safe-path.js'
import { HEX64, SHA256_DIGEST } from './paths.js'
import type { ImageReference } from './metadata/stored-images.js'

const JSON_LIMIT = 16 * 1024 * 1024

export type SourceKind = 'oci' | 'oci-archive' | 'docker-archive'

export interface PlannedLayer {
  /** The id Mesos gives it: the blob digest (schema 2, OCI) or the v1 id (docker save). */
  id: string
  open(): Promise<Readable>
  /** Throws when the bytes read did not have the digest the manifest named; call after reading. */
  verify(): void
  /** Files a docker-save layer dir carries next to its rootfs (json, VERSION). */
  extras: { name: string; bytes: Uint8Array }[]
}

export interface ImagePlan {
  kind: SourceKind
  reference: ImageReference
  layers: PlannedLayer[]
  config?: { digest: string; bytes: Uint8Array }
}

export class ImageSourceError extends LayerfsckError {
  constructor(message: string, hint?: string) {
    super('IMAGE_SOURCE', message, hint ? { hint } : {})
  }
}

/** `[transport:]path[:tag]` as skopeo writes it: oci:DIR:TAG, oci-archive:FILE:TAG, docker-archive:FILE. */
export function parseImageArgument(arg: string): { kind?: SourceKind; path: string; tag?: string } {
  const m = /^(oci|oci-archive|docker-archive):(.*)$/.exec(arg)
  if (!m) return { path: arg }
  const kind = m[1] as SourceKind
  const rest = m[2]!
  const colon = rest.lastIndexOf(':')
  if (kind !== 'docker-archive' && colon > 0 && !rest.slice(colon + 1).includes('/')) {
    return { kind, path: rest.slice(0, colon), tag: rest.slice(colon + 1) }
  }
  return { kind, path: rest }
}

export function parseReference(text: string): ImageReference {
  const at = text.indexOf('@')
  if (at > 0) return { repository: text.slice(0, at), digest: text.slice(at + 1) }
  const colon = text.lastIndexOf(':')
  if (colon > 0 && !text.slice(colon + 1).includes('/')) return { repository: text.slice(0, colon), tag: text.slice(colon + 1) }
  return { repository: text, tag: 'latest' }
}

async function readJson(fs: FsPort, path: string, what: string): Promise<unknown> {
  let text: string
  try {
    text = await readTextLimited(fs, path, JSON_LIMIT)
  } catch (err) {
    throw new ImageSourceError(`cannot read ${what} (${path}): ${(err as Error).message}`)
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ImageSourceError(`${what} (${path}) is not valid JSON: ${(err as Error).message}`)
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** A stream that hashes what passes; `check()` compares with the expected digest afterwards. */
function hashing(input: Readable, expected: string, what: string): { stream: Readable; check: () => void } {
  const hash = createHash('sha256')
  let bytes = 0
  const tap = new Transform({
    transform(chunk: Buffer, _e, done) {
      hash.update(chunk)
      bytes += chunk.length
      done(null, chunk)
    },
  })
  input.on('error', (err) => tap.destroy(err))
  return {
    stream: input.pipe(tap),
    check: () => {
      const got = `sha256:${hash.digest('hex')}`
      if (got !== expected) throw new ImageSourceError(`${what} has digest ${got} (${bytes} bytes), but its manifest names ${expected}`)
    },
  }
}

// --- OCI image layout ----------------------------------------------------------

const REF_NAME = 'org.opencontainers.image.ref.name'
const LAYER_TYPES = /^application\/vnd\.(oci\.image\.layer\.v1\.tar(\+gzip)?|docker\.image\.rootfs\.diff\.tar\.gzip)$/

export async function planOciLayout(fs: FsPort, dir: string, kind: SourceKind, tag: string | undefined): Promise<ImagePlan> {
  const blob = (digest: string): string => {
    if (!SHA256_DIGEST.test(digest)) throw new ImageSourceError(`the OCI layout names a blob ${JSON.stringify(digest)}, which is not a sha256 digest`)
    return `${dir}/blobs/sha256/${digest.slice('sha256:'.length)}`
  }
  const readVerified = async (digest: string, what: string): Promise<Uint8Array> => {
    const bytes = await readFileLimited(fs, blob(digest), JSON_LIMIT)
    const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
    if (got !== digest) throw new ImageSourceError(`${what} has digest ${got}, but it is named ${digest}`)
    return bytes
  }
  const index = await readJson(fs, `${dir}/index.json`, 'the OCI index')
  const manifests = isObject(index) && Array.isArray(index['manifests']) ? index['manifests'].filter(isObject) : []
  const tags = manifests.map((m) => (isObject(m['annotations']) ? m['annotations'][REF_NAME] : undefined))
  let chosen: Record<string, unknown> | undefined
  if (tag !== undefined) chosen = manifests.find((_, i) => tags[i] === tag)
  else if (manifests.length === 1) chosen = manifests[0]
  if (chosen === undefined) {
    const known = tags.filter((t): t is string => typeof t === 'string')
    throw new ImageSourceError(
      tag === undefined ? `the OCI layout holds ${manifests.length} images; name one` : `the OCI layout has no image tagged ${tag}`,
      known.length > 0 ? `tags here: ${known.join(', ')}; write ${kind}:${dir}:<tag>` : undefined,
    )
  }
  const manifestDigest = String(chosen['digest'])
  let manifest: unknown
  try {
    manifest = JSON.parse(Buffer.from(await readVerified(manifestDigest, 'the image manifest')).toString('utf8'))
  } catch (err) {
    if (err instanceof LayerfsckError) throw err
    throw new ImageSourceError(`the image manifest ${manifestDigest} is not valid JSON`)
  }
  if (!isObject(manifest) || !Array.isArray(manifest['layers']) || !isObject(manifest['config'])) {
    throw new ImageSourceError(`the image manifest ${manifestDigest} has no layers or config`)
  }
  const configDigest = String(manifest['config']['digest'])
  const config = { digest: configDigest, bytes: await readVerified(configDigest, 'the image config') }
  const layers: PlannedLayer[] = manifest['layers'].map((l: unknown, i: number) => {
    if (!isObject(l) || typeof l['digest'] !== 'string') throw new ImageSourceError(`layer ${i} of the manifest has no digest`)
    const mediaType = String(l['mediaType'] ?? '')
    if (!LAYER_TYPES.test(mediaType)) throw new ImageSourceError(`layer ${i} has media type ${mediaType}, which layerfsck cannot import`)
    const digest = l['digest']
    const path = blob(digest)
    let check = (): void => {
      throw new ImageSourceError(`layer ${digest} was not read`)
    }
    return {
      id: digest,
      extras: [],
      async open() {
        const h = hashing(await fs.openRead(path), digest, `layer blob ${digest}`)
        check = h.check
        return h.stream
      },
      verify: () => check(),
    }
  })
  const refName = typeof tags[manifests.indexOf(chosen)] === 'string' ? String(tags[manifests.indexOf(chosen)]) : undefined
  return {
    kind,
    reference: refName?.includes(':') ? parseReference(refName) : { repository: refName ?? basename(dir), tag: 'latest' },
    layers,
    config,
  }
}

// --- docker save archive (image-tarball puller) ------------------------------------

/**
 * Mesos reads `repositories` for the top layer and follows each layer's
 * `json` "parent" down to the root (docker/image_tar_puller.cpp), so the
 * layer ids are the archive's v1 ids and each layer dir keeps json and
 * VERSION.
 */
export async function planDockerArchive(fs: FsPort, dir: string): Promise<ImagePlan> {
  const repositories = await readJson(fs, `${dir}/repositories`, 'the archive\'s repositories file')
  if (!isObject(repositories)) throw new ImageSourceError('the archive\'s repositories file is not an object')
  const repos = Object.entries(repositories).filter((e): e is [string, Record<string, unknown>] => isObject(e[1]))
  const first = repos[0]
  const tagEntry = first ? Object.entries(first[1])[0] : undefined
  if (!first || !tagEntry || typeof tagEntry[1] !== 'string') throw new ImageSourceError('the archive\'s repositories file names no image')
  const [repository, [tag, top]] = [first[0], tagEntry as [string, string]]

  const chain: string[] = []
  const seen = new Set<string>()
  for (let id: string | undefined = top; id; ) {
    if (!HEX64.test(id)) throw new ImageSourceError(`the archive names layer ${JSON.stringify(id)}, which is not a 64-hex id`)
    if (seen.has(id)) throw new ImageSourceError(`the archive's layer parents loop at ${id}`)
    seen.add(id)
    chain.push(id)
    const json = await readJson(fs, `${dir}/${id}/json`, `layer ${id}'s json`)
    const parent = isObject(json) ? json['parent'] : undefined
    id = typeof parent === 'string' && parent !== '' ? parent : undefined
  }
  chain.reverse()

  const layers: PlannedLayer[] = []
  for (const id of chain) {
    const extras: PlannedLayer['extras'] = [{ name: 'json', bytes: await readFileLimited(fs, `${dir}/${id}/json`, JSON_LIMIT) }]
    const version = await fs.lstat(`${dir}/${id}/VERSION`)
    if (version?.kind === 'file') extras.push({ name: 'VERSION', bytes: await readFileLimited(fs, `${dir}/${id}/VERSION`, 4096) })
    layers.push({
      id,
      extras,
      open: async () => fs.openRead(await layerTarPath(fs, dir, id)),
      // A docker save archive names no digests for its v1 layer tars.
      verify: () => undefined,
    })
  }
  return { kind: 'docker-archive', reference: { repository, tag }, layers }
}

/** `<id>/layer.tar`, which newer `docker save` makes a symlink to `../<diffid>.tar`: followed one step, inside the archive only. */
async function layerTarPath(fs: FsPort, dir: string, id: string): Promise<string> {
  const path = `${dir}/${id}/layer.tar`
  const inode = await fs.lstat(path)
  if (inode?.kind === 'file') return path
  if (inode?.kind !== 'symlink') throw new ImageSourceError(`layer ${id} has no layer.tar in the archive`)
  const target = symlinkTarget(dir, path, await fs.readlink(path))
  if (!target.inside || target.resolved.startsWith('/') === false) {
    throw new ImageSourceError(`layer ${id}'s layer.tar points outside the archive`)
  }
  return target.resolved
}
