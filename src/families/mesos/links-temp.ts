/**
 * The temp dir an overlay or aufs rootfs' `scratch/<id>/links` symlink
 * points to: `os::mkdtemp()` in $TMPDIR (/tmp/XXXXXX by default), holding
 * one symlink per layer, `0` … `N-1`, to the layers' rootfs dirs, so that
 * the mount options stay short (MESOS-6000). The backend's destroy removes
 * it; a crash leaves it. It lives outside the store and the work dir, so
 * before it is removed it must prove to be exactly that: a real directory
 * of mkdtemp's name, reached without a symlink, no mount at or below it,
 * and nothing in it but numbered symlinks into the store's layers. The
 * links are unlinked one by one and the dir rmdir'ed; nothing is ever
 * removed recursively out there.
 */
import { isErrno } from '../../errors.js'
import type { FsPort, MountEntry } from '../../fs/port.js'
import { mountsAtOrBelow } from '../../fs/remove.js'
import { basename, dirname } from '../../fs/safe-path.js'
import { layersDir, STAGING_TEMP } from './paths.js'

export type LinksTempVerdict = { ok: true; dir: string; links: string[] } | { ok: false; reason: string }

/** Judges what `links` (the symlink at `linksPath`) points to. */
export async function judgeLinksTemp(fs: FsPort, store: string, linksPath: string, mounts: readonly MountEntry[]): Promise<LinksTempVerdict> {
  const link = await fs.lstat(linksPath)
  if (link?.kind !== 'symlink') return { ok: false, reason: 'links is not a symlink' }
  const target = await fs.readlink(linksPath)
  if (!target.startsWith('/')) return { ok: false, reason: `links points to ${target}, not to an absolute temp dir` }
  // mkdtemp's template is XXXXXX, the same six characters as a staging dir's.
  if (!STAGING_TEMP.test(basename(target))) return { ok: false, reason: `${target} is not named as mkdtemp names a dir` }
  let real: string
  try {
    real = await fs.realpath(target)
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return { ok: false, reason: `${target} is gone` }
    throw err
  }
  if (real !== target) return { ok: false, reason: `${target} is reached through a symlink (${real})` }
  const inode = await fs.lstat(target)
  if (inode?.kind !== 'dir') return { ok: false, reason: `${target} is a ${inode?.kind ?? 'missing entry'}, not a dir` }
  if (mountsAtOrBelow(mounts, target).length > 0) {
    return { ok: false, reason: `something is mounted at or below ${target}` }
  }
  const layers = `${layersDir(store)}/`
  const links: string[] = []
  for (const e of await fs.readdir(target)) {
    if (e.kind !== 'symlink' || !/^(0|[1-9][0-9]*)$/.test(e.name)) return { ok: false, reason: `${target}/${e.name} is not a numbered link to a layer` }
    const to = await fs.readlink(`${target}/${e.name}`)
    if (!to.startsWith(layers)) return { ok: false, reason: `${target}/${e.name} points to ${to}, outside the store's layers` }
    links.push(`${target}/${e.name}`)
  }
  return { ok: true, dir: target, links }
}

/** Removes a judged temp dir: its links one by one, then the dir itself. Gone is done. */
export async function removeLinksTemp(fs: FsPort, verdict: Extract<LinksTempVerdict, { ok: true }>): Promise<void> {
  for (const l of verdict.links) {
    try {
      await fs.unlink(l)
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err
    }
  }
  try {
    await fs.rmdir(verdict.dir)
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err
  }
  await fs.fsync(dirname(verdict.dir))
}
