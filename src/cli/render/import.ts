/** Human rendering of an ImportReport: one line per layer, then what was recorded. */
import type { ImportReport } from '../../image/import.js'
import { elide, pad, type Style } from '../style.js'

export function renderImport(r: ImportReport, s: Style): string {
  const { c } = s
  const out: string[] = []
  out.push(`${c.bold('layerfsck import')}  ${elide(`${r.source.kind}:${r.source.path}${r.source.tag ? `:${r.source.tag}` : ''}`, s.width - 18)}`)
  out.push(`${c.bold(pad('store', 11))}${elide(r.store, s.width - 22)} ${c.dim(`(${r.backend})`)}`)
  out.push('')
  for (const l of r.layers) {
    const status = l.status === 'imported' ? c.green(pad('imported', 9)) : c.dim(pad('reused', 9))
    const detail =
      l.status === 'imported'
        ? `${l.entries} entries, ${l.bytes} bytes, ${l.whiteouts} whiteouts, ${l.opaqueDirs} opaque`
        : 'already in the store'
    out.push(`${pad(elide(l.id, 24), 25)}${status}${elide(detail, s.width - 34)}`)
    for (const n of [...l.notes.map((x) => `${x.code}: ${x.path}`), ...l.warnings.map((w) => `${w.path}: ${w.message}`)]) {
      out.push(`${' '.repeat(25)}${c.yellow(elide(n, s.width - 25))}`)
    }
  }
  if (r.config) out.push(`${pad(elide(r.config.digest, 24), 25)}${r.config.status === 'imported' ? c.green('config') : c.dim('config, reused')}`)
  out.push('')
  out.push(`${c.bold(pad('recorded', 11))}${r.reference} in storedImages (${r.storedImages})`)
  return `${out.join('\n')}\n`
}
