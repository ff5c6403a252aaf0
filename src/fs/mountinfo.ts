/**
 * Parser for /proc/self/mountinfo (proc(5)). Pure, so the memory adapter and
 * tests can feed it a table of their own.
 *
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)
 *
 * Paths escape space, tab, newline and backslash as octal (`\040`), which is
 * how a mount point with a space in its name stays one field.
 *
 * The kernel may print a mount point whose directory was removed as
 * `<path>\040(deleted)` (d_path's suffix, as in /proc/<pid>/cwd). It is
 * split off here, once, into `deleted`: every caller compares mount points
 * with paths, and a path with the suffix matches nothing (unmounting "at or
 * below" a deleted mount point would never find it).
 */
import type { MountEntry } from './port.js'

export function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)))
}

export function escapeMountPath(path: string): string {
  return path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`)
}

const DELETED = ' (deleted)'

function splitDeleted(path: string): { mountPoint: string; deleted: boolean } {
  const deleted = path.endsWith(DELETED) && path.length > DELETED.length
  return { mountPoint: deleted ? path.slice(0, -DELETED.length) : path, deleted }
}

export function parseMountInfoLine(line: string): MountEntry | undefined {
  const fields = line.trim().split(' ')
  const sep = fields.indexOf('-')
  if (sep < 6 || fields.length < sep + 3) return undefined
  const [id, parentId, devField, root, mountPoint, options] = fields
  const dev = /^(\d+):(\d+)$/.exec(devField ?? '')
  if (!dev || id === undefined || parentId === undefined || root === undefined || mountPoint === undefined) return undefined
  return {
    id: Number(id),
    parentId: Number(parentId),
    dev: { major: Number(dev[1]), minor: Number(dev[2]) },
    root: unescapeMountPath(root),
    ...splitDeleted(unescapeMountPath(mountPoint)),
    options: (options ?? '').split(','),
    fsType: fields[sep + 1] ?? '',
    source: unescapeMountPath(fields[sep + 2] ?? ''),
    superOptions: (fields[sep + 3] ?? '').split(',').filter((o) => o !== ''),
  }
}

export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    const entry = parseMountInfoLine(line)
    if (entry) out.push(entry)
  }
  return out
}

export function formatMountInfo(entries: readonly MountEntry[]): string {
  return entries
    .map((m) =>
      [
        m.id,
        m.parentId,
        `${m.dev.major}:${m.dev.minor}`,
        escapeMountPath(m.root),
        escapeMountPath(m.deleted === true ? `${m.mountPoint}${DELETED}` : m.mountPoint),
        m.options.join(','),
        '-',
        m.fsType,
        escapeMountPath(m.source),
        m.superOptions.join(','),
      ].join(' '),
    )
    .join('\n')
}

/** The mount that holds `path`: the last-mounted entry whose mount point is a prefix of it. */
export function mountContaining(entries: readonly MountEntry[], path: string): MountEntry | undefined {
  let best: MountEntry | undefined
  for (const m of entries) {
    const mp = m.mountPoint
    const inside = mp === '/' || path === mp || path.startsWith(mp.endsWith('/') ? mp : `${mp}/`)
    // Later lines win over earlier ones at the same mount point: that is the
    // order in which they were stacked, and the topmost is what a path sees.
    if (inside && (best === undefined || mp.length >= best.mountPoint.length)) best = m
  }
  return best
}

/** Mount options as a map (`lowerdir=a:b` → lowerdir: 'a:b'); overlay keeps its layers in them. */
export function optionMap(options: readonly string[]): Map<string, string> {
  const map = new Map<string, string>()
  for (const o of options) {
    const eq = o.indexOf('=')
    if (eq < 0) map.set(o, '')
    else map.set(o.slice(0, eq), o.slice(eq + 1))
  }
  return map
}
