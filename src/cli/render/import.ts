/** Human rendering of an ImportReport: one row per layer, then what was recorded; names escaped as `ls -b` does, and printed whole. */
import type { ImportReport } from '../../families/mesos/import.js'
import { escapeName as esc } from '../../fs/name-bytes.js'
import { pad, type Style } from '../style.js'
import { hang, name } from './wrap.js'

const LABEL = 11

export function renderImport(r: ImportReport, s: Style): string {
  const { c } = s
  const w = s.width
  const out: string[] = []
  out.push(...hang(`${c.bold('layerfsck import')}  `, [name(esc(`${r.source.kind}:${r.source.path}${r.source.tag ? `:${r.source.tag}` : ''}`))], w, 2))
  out.push(...hang(c.bold(pad('store', LABEL)), [name(esc(r.store)), { text: ` (${r.backend})`, paint: c.dim }], w, LABEL))
  if (r.createdStore) out.push(...hang(' '.repeat(LABEL), 'a new store: the directory was empty or absent', w, LABEL, c.green))
  if (r.resumed) out.push(...hang(' '.repeat(LABEL), esc(`finished what an interrupted layerfsck ${r.resumed.command} (pid ${r.resumed.pid}) left`), w, LABEL, c.yellow))
  out.push('')
  // A layer id (71 columns as sha256:<hex>) leaves no room beside it on 80 columns: its row goes under it.
  for (const l of r.layers) {
    out.push(...hang('', [name(esc(l.id))], w, 2))
    const status = l.status === 'imported' ? c.green(pad('imported', 9)) : c.dim(pad('reused', 9))
    const detail =
      l.status === 'imported'
        ? `${l.entries} entries, ${l.bytes} bytes, ${l.whiteouts} whiteouts, ${l.opaqueDirs} opaque`
        : 'already in the store'
    out.push(...hang(`  ${status}`, detail, w, 11))
    for (const n of [...l.notes.map((x) => `${x.code}: ${x.path}`), ...l.warnings.map((x) => `${x.path}: ${x.message}`)]) {
      out.push(...hang(' '.repeat(11), esc(n), w, 11, c.yellow))
    }
  }
  if (r.config) {
    out.push(...hang('', [name(esc(r.config.digest))], w, 2))
    out.push(`  ${r.config.status === 'imported' ? c.green('config') : c.dim('config, reused')}`)
  }
  out.push('')
  out.push(...hang(c.bold(pad('recorded', LABEL)), [name(esc(r.reference)), { text: ` in the store's image list (${r.record})` }], w, LABEL))
  if (r.format.note !== undefined) out.push(...hang(c.bold(pad('format', LABEL)), esc(r.format.note), w, LABEL, c.yellow))
  return `${out.join('\n')}\n`
}
