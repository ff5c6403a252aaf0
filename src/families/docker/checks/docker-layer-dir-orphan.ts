import type { CheckSpec } from '../../../check/types.js'
import { formatBytes, treeSize } from '../../../fs/tree-size.js'
import type { DockerData } from '../data.js'
import { viewOf, type DockerView } from './view.js'

/** `3 days`, `5 hours`: how long ago a dir last changed, coarse enough to read. */
export function ageOf(mtimeNs: bigint, nowMs: number): string {
  const seconds = Math.max(0, Math.floor((nowMs - Number(mtimeNs / 1_000_000n)) / 1000))
  const steps: [number, string][] = [
    [86_400, 'day'],
    [3_600, 'hour'],
    [60, 'minute'],
  ]
  for (const [unit, name] of steps) {
    const n = Math.floor(seconds / unit)
    if (n >= 1) return `${n} ${name}${n === 1 ? '' : 's'}`
  }
  return 'under a minute'
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
  explain:
    'Every dir under the driver dir belongs to a layer record (its cache-id) or to a container (its mount-id or ' +
    'init-id). One that nothing names is left by an interrupted pull, load, commit or rm (moby #45939, #21925, ' +
    '#47089); Docker never reports it and `docker system prune -af` never reclaims it, so it holds disk space for ' +
    'good, tens of GB on busy hosts. The finding gives its size (each inode once, never through a mount) and how ' +
    'long ago it last changed. A dir that only a `-removing` record names is reported with that record instead, and ' +
    'one that a broken cache-id must have named with docker-cache-id-invalid.',
  fix: { by: 'operator', describe: 'layerfsck gc removes it (coming); Docker never will. Check nothing of yours uses it, then remove it' },
  async run(ctx) {
    const v = await viewOf(ctx.data)
    if (!namesKnown(v)) return
    const mounts = await ctx.data.mounts()
    const now = Date.now()
    for (const d of v.dirs.values()) {
      if (d.kind !== 'dir' || !v.format.idShapes.layerDir.test(d.name)) continue
      if (v.owners.has(d.name) || v.removingByCacheId.has(d.name) || v.derived.has(d.name)) continue
      const inode = await ctx.data.lstat(d.path)
      if (inode === undefined || inode === 'unreadable') continue
      const size = await treeSize(ctx.fs, d.path, { mounts })
      const counted = size.unreadable !== undefined ? `at least ${formatBytes(size.bytes)} (${size.unreadable} could not be read)` : formatBytes(size.bytes)
      const mounted = size.mounts.length > 0 ? `; not counted: what is mounted on ${size.mounts.join(', ')}` : ''
      ctx.report({
        path: d.path,
        message: `no layer record or container names this ${d.isInit ? 'init layer ' : ''}dir; it holds ${counted} in ${size.files} file${size.files === 1 ? '' : 's'}, last changed ${ageOf(inode.mtimeNs, now)} ago${mounted}`,
        detail: { bytes: size.bytes, files: size.files, mtime: new Date(Number(inode.mtimeNs / 1_000_000n)).toISOString() },
      })
    }
  },
}
