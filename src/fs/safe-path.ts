/**
 * Path arithmetic for hostile input, as pure string logic before any IO
 * (node-tar's rule). A store, a tar and a metadata file can all name paths;
 * none of them may reach outside the root they belong to.
 */
import * as posix from 'node:path/posix'
import { LayerfsckError } from '../errors.js'

export const join = posix.join
export const dirname = posix.dirname
export const basename = posix.basename

/** True when `path` is `root` or below it (both absolute, normalized). */
export function isInside(root: string, path: string): boolean {
  if (root === '/') return path.startsWith('/')
  return path === root || path.startsWith(`${root}/`)
}

/**
 * Checks a relative path taken from untrusted data and returns it normalized,
 * or a reason it is refused: absolute, `..` anywhere, NUL bytes, empty.
 */
export function checkRelative(rel: string): { ok: true; path: string } | { ok: false; reason: string } {
  if (rel.includes('\0')) return { ok: false, reason: 'contains a NUL byte' }
  if (rel.startsWith('/')) return { ok: false, reason: 'is absolute' }
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.')
  if (parts.includes('..')) return { ok: false, reason: 'contains ..' }
  if (parts.length === 0) return { ok: false, reason: 'is empty' }
  return { ok: true, path: parts.join('/') }
}

/** `root/rel` for a checked relative path; throws when the path would leave root. */
export function joinInside(root: string, rel: string): string {
  const checked = checkRelative(rel)
  if (!checked.ok) throw new LayerfsckError('PATH_ESCAPE', `refusing path ${JSON.stringify(rel)}: it ${checked.reason}`)
  return posix.join(root, checked.path)
}

/**
 * Where a symlink at `linkPath` (inside `root`) points, as an absolute path,
 * and whether that stays inside root. Pure: it does not resolve further links.
 */
export function symlinkTarget(root: string, linkPath: string, target: string): { resolved: string; inside: boolean } {
  const resolved = target.startsWith('/') ? posix.join(root, target) : posix.join(posix.dirname(linkPath), target)
  // An absolute target is read relative to the layer root by the container,
  // but on the host it names a host path: inside only if the string says so.
  const hostResolved = target.startsWith('/') ? posix.normalize(target) : resolved
  return { resolved, inside: isInside(root, hostResolved) }
}
