/**
 * What the three `-removing` checks share: who else names a record's
 * dir, and the one way each fix acts, removing the record dir and never
 * the layer dir its cache-id names.
 */
import { FixRefusedError } from '../../../check/checks/refuse.js'
import type { CheckContext, Finding } from '../../../check/types.js'
import { basename } from '../../../fs/safe-path.js'
import { removeLeftover } from '../../../steps/remove-leftover.js'
import type { DockerData } from '../data.js'
import type { LayerRecord } from '../model.js'
import { isRemovingName, type DockerView } from './view.js'

/** Who besides the `-removing` record names its cache-id: live layer records and containers. */
export function liveUsersOf(v: DockerView, r: LayerRecord): string[] {
  if (r.cacheId.state !== 'ok') return []
  const owner = v.owners.get(r.cacheId.value)
  if (owner === undefined) return []
  return [...owner.records.map((c) => `layer ${c}`), ...owner.containers.map((c) => `container ${c}`)]
}

/** Removes the record dir only: the layer dir stays, whoever else names it. */
export async function removeRemovingRecord(ctx: CheckContext<DockerData>, f: Finding): Promise<void> {
  const inode = await ctx.fs.lstat(f.path)
  if (inode === undefined) return
  const format = await ctx.data.format()
  if (inode.kind !== 'dir' || !isRemovingName(format, basename(f.path))) throw new FixRefusedError(`not removed: a ${inode.kind} now, not a -removing layer record`)
  await removeLeftover(ctx.fs, f.path, ctx.data.roots())
}

/** The dir a `-removing` record's cache-id names, when it names one that is there. */
export function namedDir(v: DockerView, r: LayerRecord): string | undefined {
  if (r.cacheId.state !== 'ok') return undefined
  return v.dirs.get(r.cacheId.value)?.kind === 'dir' ? r.cacheId.value : undefined
}
