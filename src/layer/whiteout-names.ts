/**
 * Whiteout naming rules, pure. The aufs form is what image tars and Mesos'
 * `rootfs` dirs carry; the overlay form is a char device 0/0 with the hidden
 * name plus an opaque xattr on directories (OCI image spec, layer.md;
 * go-archive ConvertRead).
 */

export const WHITEOUT_PREFIX = '.wh.'
export const OPAQUE_MARKER = '.wh..wh..opq'
/** aufs keeps its own bookkeeping under `.wh..wh.` names (plnk, aufs); they are not whiteouts. */
export const META_PREFIX = '.wh..wh.'

export const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'] as const

/** overlayfs's own attributes (opaque, redirect, origin, ...): meaningful only to this host's overlay mounts. */
export const OVERLAY_XATTR = /^(trusted|user)\.overlay\./

/** An overlay whiteout: a char device numbered 0/0. */
export function isWhiteoutDevice(inode: { kind: string; rdev: { major: number; minor: number } } | undefined): boolean {
  return inode?.kind === 'char' && inode.rdev.major === 0 && inode.rdev.minor === 0
}

export type AufsName =
  | { type: 'whiteout'; target: string }
  | { type: 'opaque' }
  | { type: 'meta'; name: string }
  | { type: 'invalid'; reason: string }

/** What an entry name means in aufs form; undefined for an ordinary name. */
export function classifyAufsName(name: string): AufsName | undefined {
  if (!name.startsWith(WHITEOUT_PREFIX)) return undefined
  if (name === OPAQUE_MARKER) return { type: 'opaque' }
  if (name.startsWith(META_PREFIX)) return { type: 'meta', name }
  const target = name.slice(WHITEOUT_PREFIX.length)
  if (target === '' || target === '.' || target === '..') return { type: 'invalid', reason: `whiteout of ${JSON.stringify(target)}` }
  if (target.includes('/')) return { type: 'invalid', reason: 'target contains a slash' }
  return { type: 'whiteout', target }
}

export function isOpaqueValue(value: Uint8Array | undefined): boolean {
  return value !== undefined && value.length === 1 && value[0] === 0x79 /* 'y' */
}
