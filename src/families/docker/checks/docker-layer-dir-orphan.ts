import { ageWords } from '../../../check/data.js'
import { FixRefusedError } from '../../../check/checks/refuse.js'
import type { CheckSpec } from '../../../check/types.js'
import { basename } from '../../../fs/safe-path.js'
import { formatBytes } from '../../../fs/tree-size.js'
import { isRemoved } from '../../../steps/remove-leftover.js'
import { removeLayerDir, shortLinkOf } from './removing.js'
import type { DockerData } from '../data.js'
import { lowerEntryName, linkTargetDir, viewOf, type DockerView, type LayerDir } from './view.js'

/** The ids dockerd's own layer store makes: random 64 hex, and the init layer's `<id>-init`. */
const DOCKERD_ID = /^[0-9a-f]{64}(-init)?$/

/**
 * The dirs a lower chain or a lower-id of any of `from` reaches, through
 * every step: overlay2 names a lower by its short link (the dir whose link
 * file holds the name, and the dir the link points to, both count), the
 * legacy driver by lower-id. Undefined when a chain cannot be read: then
 * any dir might be reached, and none is taken.
 */
export function reachedFrom(v: DockerView, from: Iterable<LayerDir>): Set<string> | undefined {
  const reached = new Set<string>()
  const pending = [...from]
  while (pending.length > 0) {
    const d = pending.pop()!
    const next: string[] = []
    if ('lower' in d) {
      if (d.lower.state === 'unreadable') return undefined
      if (d.lower.state !== 'ok') continue
      for (const entry of d.lower.entries) {
        const name = lowerEntryName(v.format, entry)
        if (name === undefined) continue
        next.push(...(v.linkHolders.get(name) ?? []))
        const link = v.links.get(name)
        const target = link?.target !== undefined ? linkTargetDir(v.format, link.target) : undefined
        if (target !== undefined) next.push(target)
      }
    } else {
      if (d.lowerId.state === 'unreadable') return undefined
      if (d.lowerId.state === 'ok') next.push(d.lowerId.value)
    }
    for (const id of next) {
      const dir = v.dirs.get(id)
      if (dir === undefined || reached.has(id)) continue
      reached.add(id)
      pending.push(dir)
    }
  }
  return reached
}

/**
 * Whether every name a layer dir may be owned by could be read: a record
 * or mount record that could not be, or a cache-id, mount-id or init-id
 * that could not, may name any dir, so none is taken for an orphan then
 * (dir-unreadable and docker-cache-id-invalid report what was in the way).
 */
function namesKnown(v: DockerView): boolean {
  const m = v.model
  if (m.layerRecordsDir.state === 'unreadable' || m.mountsDir.state === 'unreadable' || m.layerDb.state === 'unreadable' || m.imageDir.state === 'unreadable') return false
  for (const r of m.layers) if (r.kind === 'dir' && (!r.readable || r.cacheId.state === 'unreadable')) return false
  for (const x of m.mounts) if (x.kind === 'dir' && (!x.readable || x.mountId.state === 'unreadable' || x.initId.state === 'unreadable')) return false
  return true
}

export const dockerLayerDirOrphan: CheckSpec<DockerData> = {
  code: 'docker-layer-dir-orphan',
  pass: 'structure',
  severity: 'warning',
  title: 'a layer dir that no layer record and no container names',
  garbage: 'gc-only',
  explain:
    'Every dir under the driver dir belongs to a layer record (its cache-id) or to a container (its mount-id or ' +
    'init-id). One that nothing names is left by an interrupted pull, load, commit or rm (moby #45939, #21925, ' +
    '#47089); Docker never reports it and `docker system prune -af` never reclaims it, so it holds disk space for ' +
    'good, tens of GB on busy hosts. The finding gives its size (each inode once, never through a mount) and how ' +
    'long ago anything in it last changed; one changed within the grace period (--grace, an hour by default) is not ' +
    'reported, since a pull or load writes the dir before the record, and neither is one that a kept dir\'s lower chain ' +
    'or lower-id reaches. When the data root has a buildkit/ dir, only dirs of the ids dockerd makes (64 hex, -init) ' +
    'are judged, since BuildKit names its snapshot dirs in its own db. gc removes it. A dir that only a `-removing` record names is reported with that record instead, and ' +
    'one that a broken cache-id must have named with docker-cache-id-invalid.',
  fix: {
    by: 'check',
    describe: 'remove the dir (into layerfsck\'s trash, then deleted) and its short link',
    safe: false,
    isDone: (ctx, f) => isRemoved(ctx.fs, f.path),
    apply: async (ctx, f) => {
      const inode = await ctx.fs.lstat(f.path)
      if (inode === undefined) return
      const v = await viewOf(ctx.data)
      if (inode.kind !== 'dir' || !v.format.idShapes.layerDir.test(basename(f.path))) throw new FixRefusedError(`not removed: a ${inode.kind} now, not a layer dir`)
      await removeLayerDir(ctx, f.path)
    },
  },
  async run(ctx) {
    const v = await viewOf(ctx.data)
    if (!namesKnown(v)) return
    // BuildKit's snapshots are driver dirs too, named only in buildkit/snapshots.db, which is not read here: with
    // BuildKit there, only the ids dockerd itself makes (64 hex, and -init) can be judged.
    const buildkit = (await ctx.data.lstat(`${ctx.store}/buildkit`)) !== undefined
    const candidates: LayerDir[] = []
    for (const d of v.dirs.values()) {
      if (d.kind !== 'dir' || !v.format.idShapes.layerDir.test(d.name)) continue
      if (buildkit && !DOCKERD_ID.test(d.name)) continue
      if (v.owners.has(d.name) || v.removingByCacheId.has(d.name) || v.derived.has(d.name)) continue
      const inode = await ctx.data.lstat(d.path)
      if (inode === undefined || inode === 'unreadable') continue
      candidates.push(d)
    }
    if (candidates.length === 0) return
    // A pull or load writes the dir before the record that names it: only one untouched for the grace period is garbage.
    const old = new Set<string>()
    for (const d of candidates) if ((await ctx.data.age(d.path)).pastGrace) old.add(d.name)
    // What a kept dir's lower chain reaches is in use, whatever names it.
    const reached = reachedFrom(v, [...v.dirs.values()].filter((d) => !old.has(d.name)))
    if (reached === undefined) return
    for (const d of candidates) {
      if (!old.has(d.name) || reached.has(d.name)) continue
      const { size, ageMs } = await ctx.data.age(d.path)
      // Its short link goes with it, and frees what a long target takes.
      const link = await shortLinkOf(ctx, v, d.name)
      const counted = size.unreadable !== undefined ? `at least ${formatBytes(size.bytes)} (${size.unreadable} could not be read)` : formatBytes(size.bytes)
      const mounted = size.mounts.length > 0 ? `; not counted: what is mounted on ${size.mounts.join(', ')}` : ''
      ctx.report({
        path: d.path,
        message: `no layer record or container names this ${d.isInit ? 'init layer ' : ''}dir; it holds ${counted} in ${size.files} file${size.files === 1 ? '' : 's'}, last changed ${ageWords(ageMs)} ago${mounted}`,
        detail: { bytes: size.bytes, files: size.files, mtime: new Date(Number(size.newestMtimeNs / 1_000_000n)).toISOString(), ...(link ? { frees: link } : {}) },
      })
    }
  },
}
