/** Human rendering of an ImportReport: one line per layer, then what was recorded; names escaped as `ls -b` does. */
import type { ImportReport } from '../../image/import.js'
import { escapeName as esc } from '../../fs/name-bytes.js'
import { elide, pad, type Style } from '../style.js'

export function renderImport(r: ImportReport, s: Style): string {
  const { c } = s
  const out: string[] = []
  out.push(`${c.bold('layerfsck import')}  ${elide(esc(`${r.source.kind}:${r.source.path}${r.source.tag ? `:${r.source.tag}` : ''}`), s.width - 18)}`)
  out.push(`${c.bold(pad('store', 11))}${elide(esc(r.store), s.width - 22)} ${c.dim(`(${r.backend})`)}`)
  if (r.createdStore) out.push(`${' '.repeat(11)}${c.green('a new store: the directory was empty or absent')}`)
  if (r.resumed) out.push(`${' '.repeat(11)}${c.yellow(esc(`finished what an interrupted layerfsck ${r.resumed.command} (pid ${r.resumed.pid}) left`))}`)
  out.push('')
  for (const l of r.layers) {
    const status = l.status === 'imported' ? c.green(pad('imported', 9)) : c.dim(pad('reused', 9))
    const detail =
      l.status === 'imported'
        ? `${l.entries} entries, ${l.bytes} bytes, ${l.whiteouts} whiteouts, ${l.opaqueDirs} opaque`
        : 'already in the store'
    out.push(`${pad(elide(esc(l.id), 24), 25)}${status}${elide(detail, s.width - 34)}`)
    for (const n of [...l.notes.map((x) => `${x.code}: ${x.path}`), ...l.warnings.map((w) => `${w.path}: ${w.message}`)]) {
      out.push(`${' '.repeat(25)}${c.yellow(elide(esc(n), s.width - 25))}`)
    }
  }
  if (r.config) out.push(`${pad(elide(esc(r.config.digest), 24), 25)}${r.config.status === 'imported' ? c.green('config') : c.dim('config, reused')}`)
  out.push('')
  out.push(`${c.bold(pad('recorded', 11))}${esc(r.reference)} in storedImages (${r.storedImages})`)
  return `${out.join('\n')}\n`
}
