/**
 * The whiteout codec: rewrites one layer directory, in place, between the
 * aufs form (`.wh.<name>` files, `.wh..wh..opq` markers: what image tars and
 * Mesos' `rootfs` carry) and the overlay form (char device 0/0 named
 * `<name>`, `trusted.overlay.opaque=y` on a directory: what an overlay-form layer
 * and the kernel want). Import, check's fixes and the migrator all use this
 * one codec, so a whiteout means the same thing everywhere.
 *
 * The per-directory decision is pure (`planAufsDir`), so check can report
 * what a conversion would do without doing it. The IO around it is written
 * to be re-run after a crash at any step: every action first creates the new
 * form and only then removes the old one, and each half is recognised when
 * met again (umoci's "whiteout handling per format" split, go-archive's
 * ConvertRead/ConvertWrite rules).
 */
import { isErrno } from '../errors.js'
import type { WhiteoutForm } from '../family/types.js'
import { deviceNumber } from '../fs/device-number.js'
import { writeFileAll } from '../fs/io.js'
import { childPath, walkDirectories } from '../fs/walk.js'
import type { DirEntry, FsPort, InodeKind } from '../fs/port.js'
import { classifyAufsName, isOpaqueValue, isWhiteoutDevice, OPAQUE_MARKER, OPAQUE_XATTRS, WHITEOUT_PREFIX } from './whiteout-names.js'

export type { WhiteoutForm }
export type OpaqueXattr = (typeof OPAQUE_XATTRS)[number]

/** What real image writers give a whiteout file and an opaque marker (../fixtures listings). */
export const WHITEOUT_FILE_MODE = 0o000
export const OPAQUE_MARKER_MODE = 0o755

/** Things the codec met and left alone, or resolved by a rule worth telling. */
export type CodecNoteCode =
  /** `.wh.X` next to a non-directory X in the same layer: the entry wins (OCI layer spec), the whiteout is dropped. */
  | 'whiteout-shadowed'
  /** `.wh.X` next to a directory X: the new X must hide the lower one, so it becomes opaque. */
  | 'whiteout-replaces-dir'
  /** `.wh.`, `.wh..` and the like: no name to hide. */
  | 'invalid-whiteout-name'
  /** `.wh..wh.plnk`, `.wh..wh.aufs`, …: aufs bookkeeping, not a whiteout. */
  | 'aufs-meta'
  /** A directory, symlink or device with a whiteout's name: only regular files are whiteouts. */
  | 'whiteout-not-file'

export interface CodecNote {
  code: CodecNoteCode
  path: string
  message: string
}

export interface ConvertReport {
  from: WhiteoutForm
  to: WhiteoutForm
  whiteouts: number
  opaqueDirs: number
  /** Directories visited. */
  dirs: number
  notes: CodecNote[]
}

export interface ConvertOptions {
  /** The overlay form's opaque attribute: trusted.* (root, the default) or user.* (userxattr mounts). */
  opaqueXattr?: OpaqueXattr
  /**
   * false: each edited directory is not fsynced before its mtime is put back. Only for a tree nothing reads
   * until its caller has made the whole of it durable (a staged tree, syncfs'd before its rename): a fsync
   * per directory there buys nothing and cost a migrate more than its syncfs.
   */
  syncDirs?: boolean
}

// --- the pure part ----------------------------------------------------------

export type AufsAction =
  | { op: 'whiteout'; marker: string; target: string }
  | { op: 'opaque'; marker: string }
  /** `.wh.X` with X present: what happens depends on X's kind, which the caller knows. */
  | { op: 'shadowed'; marker: string; target: string; targetKind: InodeKind }
  | { op: 'leave'; name: string; code: Exclude<CodecNoteCode, 'whiteout-shadowed' | 'whiteout-replaces-dir'>; reason: string }

/**
 * What converting one directory's aufs-form entries means, from its listing
 * alone. Entries without a `.wh.` name need nothing and are not mentioned.
 */
export function planAufsDir(entries: readonly DirEntry[]): AufsAction[] {
  // Nearly every directory of a layer holds no `.wh.` name: it costs one scan, not a map of its listing.
  if (!entries.some((e) => e.name.startsWith(WHITEOUT_PREFIX))) return []
  const kinds = new Map(entries.map((e) => [e.name, e.kind]))
  const actions: AufsAction[] = []
  for (const e of entries) {
    const aufs = classifyAufsName(e.name)
    if (aufs === undefined) continue
    if (aufs.type === 'meta') {
      actions.push({ op: 'leave', name: e.name, code: 'aufs-meta', reason: 'aufs bookkeeping, not a whiteout' })
    } else if (aufs.type === 'invalid') {
      actions.push({ op: 'leave', name: e.name, code: 'invalid-whiteout-name', reason: aufs.reason })
    } else if (e.kind !== 'file') {
      actions.push({ op: 'leave', name: e.name, code: 'whiteout-not-file', reason: `a ${e.kind} with a whiteout's name` })
    } else if (aufs.type === 'opaque') {
      actions.push({ op: 'opaque', marker: e.name })
    } else {
      const targetKind = kinds.get(aufs.target)
      if (targetKind === undefined) actions.push({ op: 'whiteout', marker: e.name, target: aufs.target })
      else actions.push({ op: 'shadowed', marker: e.name, target: aufs.target, targetKind })
    }
  }
  return actions
}

// --- IO ----------------------------------------------------------------------

/**
 * A listed entry is an overlay whiteout: a char device 0/0, its number from
 * the listing where the adapter gave it, else from an lstat.
 */
export async function isListedWhiteout(fs: FsPort, dir: string, e: DirEntry): Promise<boolean> {
  if (e.kind !== 'char') return false
  const rdev = await deviceNumber(fs, dir, e)
  return rdev !== undefined && isWhiteoutDevice({ kind: 'char', rdev })
}

/** True when the directory carries an opaque attribute of either namespace set to `y`. */
export async function isOpaqueDir(fs: FsPort, dir: string): Promise<boolean> {
  const names = await fs.xattr.list(dir)
  for (const name of OPAQUE_XATTRS) {
    if (names.includes(name) && isOpaqueValue(await fs.xattr.get(dir, name))) return true
  }
  return false
}

/**
 * Keeps a directory's mtime across our edits of its entries, so a converted
 * layer still says when its content was made. Best effort by nature: after a
 * crash between the edit and the restore, the re-run has nothing to edit and
 * the new mtime stays.
 */
async function preservingMtime(fs: FsPort, dir: string, syncDir: boolean, edit: () => Promise<boolean>): Promise<void> {
  const before = await fs.lstat(dir)
  const changed = await edit()
  if (!changed) return
  if (syncDir) await fs.fsync(dir)
  if (before) await fs.lutimes(dir, before.mtimeNs, before.mtimeNs)
}

/** aufs → overlay, in place. Needs CAP_MKNOD for the devices (and root for trusted.*). */
export async function aufsToOverlay(fs: FsPort, root: string, options: ConvertOptions = {}): Promise<ConvertReport> {
  const xattr = options.opaqueXattr ?? 'trusted.overlay.opaque'
  const report: ConvertReport = { from: 'aufs', to: 'overlay', whiteouts: 0, opaqueDirs: 0, dirs: 0, notes: [] }
  for await (const { path: dir, entries } of walkDirectories(fs, root)) {
    report.dirs += 1
    const actions = planAufsDir(entries)
    if (actions.length === 0) continue
    await preservingMtime(fs, dir, options.syncDirs !== false, () => applyAufsPlan(fs, dir, actions, report, { opaqueXattr: xattr }))
  }
  return report
}

/**
 * Carries out one directory's plan (`planAufsDir`) in the overlay form and
 * counts it in `report`. In place, each marker is read, then removed. A
 * clone that converts as it goes did not make the markers the plan acts on:
 * it names the directory it cloned as `markersIn`, where they are read (their
 * owner and time) and left as they are. Returns whether a marker was removed.
 */
export async function applyAufsPlan(
  fs: FsPort,
  dir: string,
  actions: readonly AufsAction[],
  report: ConvertReport,
  options: { opaqueXattr: OpaqueXattr; markersIn?: string },
): Promise<boolean> {
  const y = new Uint8Array([0x79])
  const xattr = options.opaqueXattr
  let changed = false
  for (const a of actions) {
    if (a.op === 'leave') {
      report.notes.push({ code: a.code, path: childPath(dir, a.name), message: a.reason })
      continue
    }
    const marker = childPath(dir, a.marker)
    const markerInode = childPath(options.markersIn ?? dir, a.marker)
    if (a.op === 'opaque') {
      await fs.xattr.set(dir, xattr, y)
      report.opaqueDirs += 1
    } else if (a.op === 'whiteout') {
      // Device first, marker second: a crash in between leaves both,
      // which the next run reads as "already converted" below.
      const device = childPath(dir, a.target)
      await fs.mknod(device, 'char', WHITEOUT_FILE_MODE, { major: 0, minor: 0 })
      await carryOver(fs, markerInode, device)
      report.whiteouts += 1
    } else if (a.targetKind === 'dir') {
      await fs.xattr.set(childPath(dir, a.target), xattr, y)
      report.opaqueDirs += 1
      report.notes.push({
        code: 'whiteout-replaces-dir',
        path: marker,
        message: `${a.target} is a new directory in this layer; it now hides the lower one (opaque)`,
      })
    } else if (!(a.targetKind === 'char' && isWhiteoutDevice(await fs.lstat(childPath(dir, a.target))))) {
      report.notes.push({
        code: 'whiteout-shadowed',
        path: marker,
        message: `${a.target} exists in the same layer; the entry wins and the whiteout is dropped`,
      })
    } else {
      // The device of an interrupted earlier run (or a source that held both forms): finish its step, owner and time included.
      await carryOver(fs, markerInode, childPath(dir, a.target))
      report.whiteouts += 1
    }
    if (options.markersIn === undefined) {
      await fs.unlink(marker)
      changed = true
    }
  }
  return changed
}

/** overlay → aufs, in place. */
export async function overlayToAufs(fs: FsPort, root: string, options: Pick<ConvertOptions, 'syncDirs'> = {}): Promise<ConvertReport> {
  const report: ConvertReport = { from: 'overlay', to: 'aufs', whiteouts: 0, opaqueDirs: 0, dirs: 0, notes: [] }
  for await (const { path: dir, entries } of walkDirectories(fs, root)) {
    report.dirs += 1
    const names = new Set(entries.map((e) => e.name))
    await preservingMtime(fs, dir, options.syncDirs !== false, async () => {
      let changed = false
      const attrs = await fs.xattr.list(dir)
      const opaque = OPAQUE_XATTRS.filter((n) => attrs.includes(n))
      if (opaque.length > 0) {
        let isOpaque = false
        for (const n of opaque) if (isOpaqueValue(await fs.xattr.get(dir, n))) isOpaque = true
        // Any other value (overlay's newer `x`) is not ours to translate.
        if (isOpaque) {
          await writeFileAll(fs, childPath(dir, OPAQUE_MARKER), new Uint8Array(0), OPAQUE_MARKER_MODE)
          await fs.chmod(childPath(dir, OPAQUE_MARKER), OPAQUE_MARKER_MODE)
          // The overlay form keeps no time for the mark; the epoch, as Docker's tars and export write it, makes the
          // conversion give the same tree whenever it runs.
          await fs.lutimes(childPath(dir, OPAQUE_MARKER), 0n, 0n)
          for (const n of opaque) await removeXattr(fs, dir, n)
          report.opaqueDirs += 1
          changed = true
        }
      }
      for (const e of entries) {
        if (!(await isListedWhiteout(fs, dir, e))) continue
        const marker = `${WHITEOUT_PREFIX}${e.name}`
        if (names.has(marker)) {
          const existing = await fs.lstat(childPath(dir, marker))
          if (existing?.kind !== 'file') {
            report.notes.push({ code: 'whiteout-not-file', path: childPath(dir, marker), message: `left alone; ${e.name} stays a device` })
            continue
          }
        }
        // Marker first, device second (see aufsToOverlay).
        await writeFileAll(fs, childPath(dir, marker), new Uint8Array(0), WHITEOUT_FILE_MODE)
        await fs.chmod(childPath(dir, marker), WHITEOUT_FILE_MODE)
        await carryOver(fs, childPath(dir, e.name), childPath(dir, marker))
        await fs.unlink(childPath(dir, e.name))
        report.whiteouts += 1
        changed = true
      }
      return changed
    })
  }
  return report
}

/** A whiteout keeps its owner and time across forms, so both forms export to the same tar. */
async function carryOver(fs: FsPort, from: string, to: string): Promise<void> {
  const inode = await fs.lstat(from)
  if (inode === undefined) return
  await fs.lchown(to, inode.uid, inode.gid)
  await fs.lutimes(to, inode.mtimeNs, inode.mtimeNs)
}

async function removeXattr(fs: FsPort, path: string, name: string): Promise<void> {
  try {
    await fs.xattr.remove(path, name)
  } catch (err) {
    if (!isErrno(err, 'ENODATA')) throw err
  }
}

export async function convertLayer(fs: FsPort, root: string, to: WhiteoutForm, options: ConvertOptions = {}): Promise<ConvertReport> {
  return to === 'overlay' ? aufsToOverlay(fs, root, options) : overlayToAufs(fs, root, options)
}
