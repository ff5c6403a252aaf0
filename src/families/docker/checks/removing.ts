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
import { isRemovingName, linkDirPath, linkTargetOf, viewOf, type DockerView } from './view.js'
import { isErrno } from '../../../errors.js'

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

/**
 * Finishes the deletion a `-removing` record stands for, in dockerd's
 * order: the layer dir first (into the trash, so a crash never leaves it
 * half deleted under its name), then the record. A crash between the two
 * leaves a record that names no dir, docker-removing-leftover's to finish.
 */
export async function finishRemoving(ctx: CheckContext<DockerData>, f: Finding): Promise<void> {
  const dir = f.detail?.['dir']
  if (typeof dir === 'string' && f.detail?.['removeDir'] === true) {
    const v = await viewOf(ctx.data)
    const name = basename(dir)
    if (v.owners.has(name)) throw new FixRefusedError(`not removed: ${dir} is named by a live record now`)
    const inode = await ctx.fs.lstat(dir)
    if (inode !== undefined) {
      if (inode.kind !== 'dir' || !v.format.idShapes.layerDir.test(name)) throw new FixRefusedError(`not removed: ${dir} is a ${inode.kind} now, not a layer dir`)
      await removeLayerDir(ctx, dir)
    }
  }
  await removeRemovingRecord(ctx, f)
}

/**
 * Removes a layer dir and then its short link, when the link still points
 * at it: the dir through the trash, so a crash leaves either the whole dir
 * or a dangling link (docker-link-dangling's), never a half-deleted layer.
 */
export async function removeLayerDir(ctx: CheckContext<DockerData>, dirPath: string): Promise<void> {
  const v = await viewOf(ctx.data)
  const link = await shortLinkOf(ctx, v, basename(dirPath))
  await removeLeftover(ctx.fs, dirPath, ctx.data.roots())
  if (link === undefined) return
  try {
    await ctx.fs.unlink(link)
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err
  }
  await ctx.fs.fsync(linkDirPath(v))
}

/** The short link that points at layer dir `name` (the one its link file names), if it is there: removed with the dir. */
export async function shortLinkOf(ctx: CheckContext<DockerData>, v: DockerView, name: string): Promise<string | undefined> {
  const d = v.dirs.get(name)
  if (v.format.shortLinks === undefined || d === undefined || !('link' in d) || d.link.state !== 'ok') return undefined
  const linkPath = `${linkDirPath(v)}/${d.link.value}`
  const inode = await ctx.fs.lstat(linkPath)
  if (inode?.kind !== 'symlink' || (await ctx.fs.readlink(linkPath)) !== linkTargetOf(v.format, name)) return undefined
  return linkPath
}

/** The dir a `-removing` record's cache-id names, when it names one that is there. */
export function namedDir(v: DockerView, r: LayerRecord): string | undefined {
  if (r.cacheId.state !== 'ok') return undefined
  return v.dirs.get(r.cacheId.value)?.kind === 'dir' ? r.cacheId.value : undefined
}
