/**
 * overlay2's short links, judged once for the three link checks: each
 * `l/<name>` against the `link` files that hold its name, and each named
 * layer dir's `link` against `l/`. A link is right when it is a symlink
 * `../<id>/diff` (the descriptor's form) to the one dir whose `link` file
 * holds its name.
 */
import type { ShortLink } from '../model.js'
import { linkDirPath, linkTargetDir, linkTargetOf, type DockerView } from './view.js'

export interface LinkMissing {
  /** `l/<name>` that should be there. */
  path: string
  name: string
  dir: string
  target: string
}

export interface LinkDangling {
  path: string
  target: string
  /** The layer dir the target names, which is gone. */
  dir: string
}

export type MismatchFix = { action: 'repoint'; name: string; dir: string; target: string } | { action: 'write-link'; name: string; dir: string }

export interface LinkMismatch {
  path: string
  message: string
  fix: MismatchFix | { action: 'none'; reason: string }
}

export interface LinkStates {
  missing: LinkMissing[]
  dangling: LinkDangling[]
  mismatch: LinkMismatch[]
}

const states = new WeakMap<DockerView, LinkStates>()

export function linkStates(v: DockerView): LinkStates {
  let s = states.get(v)
  if (s === undefined) {
    s = judge(v)
    states.set(v, s)
  }
  return s
}

function judge(v: DockerView): LinkStates {
  const out: LinkStates = { missing: [], dangling: [], mismatch: [] }
  const layout = v.model.layout
  if (layout.driver !== 'overlay2' || v.format.shortLinks === undefined) return out
  const shape = v.format.idShapes.shortLink
  const lDir = linkDirPath(v)
  const isDir = (id: string): boolean => v.dirs.get(id)?.kind === 'dir'
  const hasDiff = (id: string): boolean => {
    const d = v.dirs.get(id)
    return d !== undefined && d.kind === 'dir' && 'diff' in d && d.diff === 'dir'
  }
  const holdersOf = (name: string): string[] => (v.linkHolders.get(name) ?? []).filter(isDir)
  /** Symlinks in l/ whose target is this dir, and whose name no link file holds: the ones that can name it. */
  const pointingAt = new Map<string, ShortLink[]>()

  for (const l of layout.links) {
    if (shape !== undefined && !shape.test(l.name)) continue
    const holders = holdersOf(l.name)
    if (l.kind !== 'symlink') {
      const fix: LinkMismatch['fix'] =
        holders.length !== 1
          ? { action: 'none', reason: holders.length === 0 ? 'no layer dir holds its name' : `${holders.length} layer dirs hold its name` }
          : l.kind === 'dir'
            ? { action: 'none', reason: 'it is a dir, which may hold data: move it away by hand' }
            : { action: 'repoint', name: l.name, dir: holders[0]!, target: linkTargetOf(v.format, holders[0]!) }
      out.mismatch.push({ path: l.path, message: `a ${l.kind}, not a symlink${holders.length === 1 ? `; ${v.driverPath}/${holders[0]}/link holds this name` : ''}`, fix })
      continue
    }
    if (l.target === undefined) continue
    const dir = linkTargetDir(v.format, l.target)
    if (holders.length > 0) {
      if (dir !== undefined && holders.includes(dir)) continue
      const right = holders.length === 1 ? holders[0]! : undefined
      out.mismatch.push({
        path: l.path,
        message: `points to ${l.target}, but ${holders.map((h) => `${v.driverPath}/${h}/link`).join(' and ')} hold${holders.length === 1 ? 's' : ''} this name`,
        fix: right !== undefined ? { action: 'repoint', name: l.name, dir: right, target: linkTargetOf(v.format, right) } : { action: 'none', reason: 'more than one layer dir holds its name' },
      })
      continue
    }
    if (dir === undefined) {
      out.mismatch.push({ path: l.path, message: `points to ${l.target}, which is not a layer's ${v.format.shortLinks.target} dir, and no layer dir holds this name`, fix: { action: 'none', reason: 'no layer dir holds its name' } })
      continue
    }
    if (!hasDiff(dir)) {
      out.dangling.push({ path: l.path, target: l.target, dir })
      continue
    }
    pointingAt.set(dir, [...(pointingAt.get(dir) ?? []), l])
  }

  for (const d of v.dirs.values()) {
    if (d.kind !== 'dir' || !d.readable || !('link' in d) || !v.owners.has(d.name)) continue
    if (d.link.state === 'ok') {
      const name = d.link.value
      const l = v.links.get(name)
      const holders = holdersOf(name)
      if (holders.length > 1) {
        // The dir l/ gives the name to keeps it; every other holder is the one in the wrong.
        const winner = l?.kind === 'symlink' && l.target !== undefined ? linkTargetDir(v.format, l.target) : undefined
        if (winner === d.name) continue
        out.mismatch.push({
          path: `${d.path}/link`,
          message: `holds ${name}, which ${holders.length} layer dirs hold${l?.kind === 'symlink' && l.target !== undefined ? ` and ${l.path} gives to ${l.target}` : ''}`,
          fix: { action: 'none', reason: 'more than one layer dir holds the name' },
        })
      } else if (l === undefined && v.model.layout.driver === 'overlay2' && v.model.layout.linkDir.state !== 'unreadable') {
        out.missing.push({ path: `${lDir}/${name}`, name, dir: d.name, target: linkTargetOf(v.format, d.name) })
      }
      continue
    }
    const what = d.link.state === 'invalid' ? `holds ${JSON.stringify(d.link.raw)}, ${d.link.reason}` : d.link.state === 'unreadable' ? `cannot be read (${d.link.code})` : `is ${d.link.state}`
    const candidates = pointingAt.get(d.name) ?? []
    const fix: LinkMismatch['fix'] =
      d.link.state === 'unreadable'
        ? { action: 'none', reason: 'the link file cannot be read' }
        : candidates.length === 1
          ? { action: 'write-link', name: candidates[0]!.name, dir: d.name }
          : { action: 'none', reason: candidates.length === 0 ? `no link in ${lDir} points to this dir` : `${candidates.length} links in ${lDir} point to this dir` }
    out.mismatch.push({
      path: `${d.path}/link`,
      message: `the layer's short-name file ${what}${fix.action === 'write-link' ? `; ${lDir}/${fix.name} points to this dir` : ''}`,
      fix,
    })
  }
  return out
}
