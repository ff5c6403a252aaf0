/**
 * What several Docker checks derive from the model alike, computed once per
 * check run: which layer records are live, which are deletions in progress,
 * who holds which short link, the lower chain each layer dir should have,
 * and which dir an unreadable cache-id must have named. Every shape and name
 * comes from the format descriptor (idShapes, tempNames, shortLinks), so a
 * check never tests a literal.
 */
import { isErrno } from '../../../errors.js'
import { FileTooLargeError, readTextLimited } from '../../../fs/io.js'
import type { FsPort } from '../../../fs/port.js'
import type { DockerData, DirOwner } from '../data.js'
import type { DockerFormat } from '../formats/format.js'
import type { DockerModel, LayerRecord, MountRecord, Overlay2LayerDir, OverlayLayerDir, ShortLink } from '../model.js'

export type LayerDir = Overlay2LayerDir | OverlayLayerDir

/** A lower chain: the short-link names nearest first, or why it cannot be told. */
export type Chain = { ok: true; links: string[] } | { ok: false; reason: string }

/** What the records say a layer dir's `lower` should hold, from one owner. */
export interface LowerExpectation {
  /** Who says so, in words (`layer sha256:…`, `container <id>`). */
  by: string
  chain: Chain
}

export interface CacheIdDerivation {
  /** The one dir the record's children and containers point to, when it is unambiguous and otherwise unnamed. */
  candidate: string | undefined
  /** Why there is a candidate, or why there is none. */
  reason: string
}

export interface DockerView {
  model: DockerModel
  format: Readonly<DockerFormat>
  owners: Map<string, DirOwner>
  /** The driver dir, `<root>/<driver>`. */
  driverPath: string
  dirs: Map<string, LayerDir>
  /** Live layer records by chain id (`sha256:<hex>`). */
  live: Map<string, LayerRecord>
  /** Records the descriptor's `removing-record` name marks as a deletion in progress. */
  removing: LayerRecord[]
  /** cache-id → the `-removing` records naming it. */
  removingByCacheId: Map<string, LayerRecord[]>
  mountsById: Map<string, MountRecord>
  /** overlay2: short name → the layer dirs whose `link` file holds it. */
  linkHolders: Map<string, string[]>
  /** overlay2: `l/` entries by name. */
  links: Map<string, ShortLink>
  /** Record name → what its broken cache-id must have been. */
  cacheIds: Map<string, CacheIdDerivation>
  /** Dirs a cache-id derivation claims: not orphans, whatever else is true of them. */
  derived: Set<string>
}

export function isRemovingName(format: Readonly<DockerFormat>, name: string): boolean {
  return format.tempNames.some((t) => t.id === 'removing-record' && t.pattern.test(name))
}

export function isLiveRecord(format: Readonly<DockerFormat>, r: LayerRecord): boolean {
  return r.kind === 'dir' && format.idShapes.chainIdHex.test(r.name)
}

/** `l/<name>` as a `lower` file names a short link. */
export function lowerEntry(format: Readonly<DockerFormat>, name: string): string {
  return `${format.shortLinks!.dir}/${name}`
}

/** The short name a `lower` entry names, or undefined for an entry of any other form. */
export function lowerEntryName(format: Readonly<DockerFormat>, entry: string): string | undefined {
  const prefix = `${format.shortLinks!.dir}/`
  if (!entry.startsWith(prefix)) return undefined
  const name = entry.slice(prefix.length)
  return format.idShapes.shortLink?.test(name) ? name : undefined
}

/** What overlay2 writes as the target of the short link to layer dir `id`. */
export function linkTargetOf(format: Readonly<DockerFormat>, id: string): string {
  return `../${id}/${format.shortLinks!.target}`
}

/** The layer dir a short link's target names, when it has the driver's form and a layer dir's shape; never `..`. */
export function linkTargetDir(format: Readonly<DockerFormat>, target: string): string | undefined {
  const suffix = `/${format.shortLinks!.target}`
  if (!target.startsWith('../') || !target.endsWith(suffix)) return undefined
  const id = target.slice(3, target.length - suffix.length)
  return format.idShapes.layerDir.test(id) ? id : undefined
}

export const linkDirPath = (v: DockerView): string => `${v.driverPath}/${v.format.shortLinks!.dir}`

const views = new WeakMap<DockerData, Promise<DockerView>>()

export function viewOf(data: DockerData): Promise<DockerView> {
  let v = views.get(data)
  if (v === undefined) {
    v = build(data)
    views.set(data, v)
  }
  return v
}

async function build(data: DockerData): Promise<DockerView> {
  const model = await data.model()
  const format = await data.format()
  const owners = await data.owners()
  const dirs = new Map<string, LayerDir>()
  for (const d of model.layout.layerDirs as LayerDir[]) dirs.set(d.name, d)
  const live = new Map<string, LayerRecord>()
  const removing: LayerRecord[] = []
  const removingByCacheId = new Map<string, LayerRecord[]>()
  for (const r of model.layers) {
    if (isLiveRecord(format, r) && r.chainId !== undefined) live.set(r.chainId, r)
    else if (r.kind === 'dir' && isRemovingName(format, r.name)) {
      removing.push(r)
      if (r.cacheId.state === 'ok') removingByCacheId.set(r.cacheId.value, [...(removingByCacheId.get(r.cacheId.value) ?? []), r])
    }
  }
  const mountsById = new Map(model.mounts.map((m) => [m.containerId, m]))
  const linkHolders = new Map<string, string[]>()
  const links = new Map<string, ShortLink>()
  if (model.layout.driver === 'overlay2') {
    for (const d of model.layout.layerDirs) if (d.link.state === 'ok') linkHolders.set(d.link.value, [...(linkHolders.get(d.link.value) ?? []), d.name])
    for (const l of model.layout.links) links.set(l.name, l)
  }
  const view: DockerView = {
    model,
    format,
    owners,
    driverPath: model.driverDir.path,
    dirs,
    live,
    removing,
    removingByCacheId,
    mountsById,
    linkHolders,
    links,
    cacheIds: new Map(),
    derived: new Set(),
  }
  deriveCacheIds(view)
  return view
}

/**
 * A dir's short name as a lower chain may use it: what its `link` file
 * holds, when no other dir's holds the same (two holders leave it unknown
 * which one the name stands for, whatever l/ says).
 */
function linkOf(v: DockerView, dirName: string): string | undefined {
  const d = v.dirs.get(dirName)
  if (d === undefined || !('link' in d) || d.link.state !== 'ok') return undefined
  return (v.linkHolders.get(d.link.value) ?? []).length === 1 ? d.link.value : undefined
}

/** The records from `chainId` down to the base layer, nearest first. */
export function recordChain(v: DockerView, chainId: string): { ok: true; records: LayerRecord[] } | { ok: false; reason: string } {
  const records: LayerRecord[] = []
  const seen = new Set<string>()
  let id: string | undefined = chainId
  while (id !== undefined) {
    if (seen.has(id)) return { ok: false, reason: `the parents of ${chainId} loop at ${id}` }
    seen.add(id)
    const r = v.live.get(id)
    if (r === undefined) return { ok: false, reason: `no layer record for ${id}` }
    records.push(r)
    if (r.parent.state === 'ok') id = r.parent.value
    else if (r.parent.state === 'missing') id = undefined
    else return { ok: false, reason: `${r.path}/parent is ${r.parent.state}` }
  }
  return { ok: true, records }
}

/** The short links of the layers from `chainId` down, nearest first (empty for no chain at all). */
export function chainLinks(v: DockerView, chainId: string | undefined): Chain {
  if (chainId === undefined) return { ok: true, links: [] }
  const chain = recordChain(v, chainId)
  if (!chain.ok) return chain
  const links: string[] = []
  for (const r of chain.records) {
    if (r.cacheId.state !== 'ok') return { ok: false, reason: `${r.path}/cache-id is ${r.cacheId.state}` }
    const d = v.dirs.get(r.cacheId.value)
    if (d === undefined || d.kind !== 'dir') return { ok: false, reason: `${v.driverPath}/${r.cacheId.value} (layer ${r.chainId}) is missing` }
    const link = linkOf(v, d.name)
    if (link === undefined) return { ok: false, reason: `${d.path}/link holds no short name of its own` }
    links.push(link)
  }
  return { ok: true, links }
}

/** The parent chain id a mount record names; undefined when it has none (an image without layers). */
function mountParent(m: MountRecord): { ok: true; chainId: string | undefined } | { ok: false; reason: string } {
  if (m.parent.state === 'ok') return { ok: true, chainId: m.parent.value }
  if (m.parent.state === 'missing') return { ok: true, chainId: undefined }
  return { ok: false, reason: `${m.path}/parent is ${m.parent.state}` }
}

/**
 * What each owner of an overlay2 layer dir says its `lower` should be:
 * image layers the parent chain's links; an init layer the image chain; a
 * container layer its init layer's link, then the image chain.
 */
export function lowerExpectations(v: DockerView, dirName: string): LowerExpectation[] {
  const owner = v.owners.get(dirName)
  if (owner === undefined) return []
  const out: LowerExpectation[] = []
  for (const chainId of owner.records) {
    const r = v.live.get(chainId)
    if (r === undefined || r.cacheId.state !== 'ok' || r.cacheId.value !== dirName) continue
    const parent = r.parent.state === 'ok' ? r.parent.value : r.parent.state === 'missing' ? undefined : null
    out.push({ by: `layer ${chainId}`, chain: parent === null ? { ok: false, reason: `${r.path}/parent is ${r.parent.state}` } : chainLinks(v, parent) })
  }
  for (const id of owner.containers) {
    const m = v.mountsById.get(id)
    if (m === undefined) continue
    const parent = mountParent(m)
    const image: Chain = parent.ok ? chainLinks(v, parent.chainId) : parent
    if (m.initId.state === 'ok' && m.initId.value === dirName) out.push({ by: `container ${id} (init layer)`, chain: image })
    if (m.mountId.state === 'ok' && m.mountId.value === dirName) {
      let chain: Chain = image
      if (m.initId.state === 'ok' && chain.ok) {
        const init = v.dirs.get(m.initId.value)
        const link = init === undefined || init.kind !== 'dir' ? undefined : linkOf(v, init.name)
        chain = link === undefined ? { ok: false, reason: `the init layer ${v.driverPath}/${m.initId.value} has no valid link` } : { ok: true, links: [link, ...chain.links] }
      } else if (m.initId.state !== 'ok' && m.initId.state !== 'missing') chain = { ok: false, reason: `${m.path}/init-id is ${m.initId.state}` }
      out.push({ by: `container ${id}`, chain })
    }
  }
  return out
}

/** The layer dir an overlay2 `lower` entry resolves to: through its `l/` symlink, else through the one dir whose link holds the name. */
function resolveEntry(v: DockerView, entry: string): string | undefined {
  const name = lowerEntryName(v.format, entry)
  if (name === undefined) return undefined
  const l = v.links.get(name)
  if (l !== undefined) return l.kind === 'symlink' && l.target !== undefined ? linkTargetDir(v.format, l.target) : undefined
  const holders = v.linkHolders.get(name) ?? []
  return holders.length === 1 ? holders[0] : undefined
}

/** A dir of `dirName`'s `lower` at `index`, resolved, when the dir is a usable overlay2 layer dir. */
function lowerAt(v: DockerView, dirName: string | undefined, index: number): string | undefined {
  if (dirName === undefined) return undefined
  const d = v.dirs.get(dirName)
  if (d === undefined || !('lower' in d) || d.lower.state !== 'ok') return undefined
  const entry = d.lower.entries[index]
  return entry === undefined ? undefined : resolveEntry(v, entry)
}

function lowerIdOf(v: DockerView, dirName: string | undefined): string | undefined {
  if (dirName === undefined) return undefined
  const d = v.dirs.get(dirName)
  return d !== undefined && 'lowerId' in d && d.lowerId.state === 'ok' ? d.lowerId.value : undefined
}

/**
 * For each live record whose cache-id cannot be used: the dir its
 * children and containers mount as its layer. overlay2: a child layer's
 * `lower` names it first, an init layer's first, a container layer's second
 * (after its init layer); legacy overlay: a container's and its init
 * layer's `lower-id`. A candidate must be the only one, a dir of a
 * cache-id's shape that nothing else names, and its own `lower` (or
 * `root/`) must fit the record.
 */
function deriveCacheIds(v: DockerView): void {
  const overlay2 = v.model.layout.driver === 'overlay2'
  const found = new Map<string, { record: LayerRecord; seen: Set<string> }>()
  for (const r of v.live.values()) {
    if (r.cacheId.state === 'ok' || !r.readable) continue
    const seen = new Set<string>()
    const add = (id: string | undefined): void => {
      if (id !== undefined) seen.add(id)
    }
    for (const c of v.live.values()) {
      if (overlay2 && c.parent.state === 'ok' && c.parent.value === r.chainId && c.cacheId.state === 'ok') add(lowerAt(v, c.cacheId.value, 0))
    }
    for (const m of v.model.mounts) {
      if (m.parent.state !== 'ok' || m.parent.value !== r.chainId) continue
      const init = m.initId.state === 'ok' ? m.initId.value : undefined
      const rw = m.mountId.state === 'ok' ? m.mountId.value : undefined
      if (overlay2) {
        add(lowerAt(v, init, 0))
        add(lowerAt(v, rw, init === undefined ? 0 : 1))
      } else {
        add(lowerIdOf(v, init))
        add(lowerIdOf(v, rw))
      }
    }
    found.set(r.name, { record: r, seen })
  }
  const claims = new Map<string, number>()
  for (const { seen } of found.values()) for (const id of seen) claims.set(id, (claims.get(id) ?? 0) + 1)
  for (const [name, { record, seen }] of found) {
    const result = judgeCandidate(v, record, seen, claims)
    v.cacheIds.set(name, result)
    if (result.candidate !== undefined) v.derived.add(result.candidate)
  }
}

function judgeCandidate(v: DockerView, r: LayerRecord, seen: Set<string>, claims: Map<string, number>): CacheIdDerivation {
  if (seen.size === 0) return { candidate: undefined, reason: 'no child layer or container points to a dir for it' }
  const ids = [...seen].sort()
  if (ids.length > 1) return { candidate: undefined, reason: `its children and containers point to ${ids.length} different dirs (${ids.join(', ')})` }
  const id = ids[0]!
  const path = `${v.driverPath}/${id}`
  const d = v.dirs.get(id)
  if (d === undefined || d.kind !== 'dir') return { candidate: undefined, reason: `the dir they point to, ${path}, is missing` }
  if (!v.format.idShapes.cacheId.test(id) || v.format.idShapes.initId.test(id)) return { candidate: undefined, reason: `${path} is not named like an image layer's dir` }
  const owner = v.owners.get(id)
  if (owner !== undefined) return { candidate: undefined, reason: `${path} already belongs to ${[...owner.records, ...owner.containers.map((c) => `container ${c}`)].join(', ')}` }
  if (v.removingByCacheId.has(id)) return { candidate: undefined, reason: `${path} is named by a -removing record` }
  if ((claims.get(id) ?? 0) > 1) return { candidate: undefined, reason: `${path} would fit more than one broken record` }
  if ('lower' in d) {
    const parent = r.parent.state === 'ok' ? r.parent.value : undefined
    if (r.parent.state !== 'ok' && r.parent.state !== 'missing') return { candidate: undefined, reason: `${r.path}/parent is ${r.parent.state}` }
    const chain = chainLinks(v, parent)
    const actual = d.lower.state === 'ok' ? d.lower.entries : d.lower.state === 'missing' ? [] : undefined
    if (chain.ok && (actual === undefined || actual.join(':') !== chain.links.map((l) => lowerEntry(v.format, l)).join(':'))) {
      return { candidate: undefined, reason: `${path}/lower does not match the layer's parents` }
    }
  } else if (d.root !== 'dir') return { candidate: undefined, reason: `${path} has no root/` }
  return { candidate: id, reason: `the layers and containers on top of it use ${path}, which nothing else names` }
}

/** A small metadata file's text as a fix re-reads it: undefined when it is absent, not a regular file, or too large to be one. */
export async function readSmall(fs: FsPort, path: string, limit = 64 * 1024): Promise<string | undefined> {
  const inode = await fs.lstat(path)
  if (inode?.kind !== 'file' || inode.size > limit) return undefined
  try {
    return await readTextLimited(fs, path, limit)
  } catch (err) {
    if (err instanceof FileTooLargeError || isErrno(err, 'ENOENT', 'ELOOP')) return undefined
    throw err
  }
}

/**
 * Whether a layer dir (or the l/ dir) is still a real directory: a fix
 * asks before it reads or writes inside one, so that a dir replaced by a
 * symlink since the check read it is never followed out of the store.
 */
export async function isRealDir(fs: FsPort, path: string): Promise<boolean> {
  return (await fs.lstat(path))?.kind === 'dir'
}
