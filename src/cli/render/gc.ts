/**
 * Human rendering of a GcReport: each item with what it is, why it is
 * garbage, what it frees, how old it is and what it pins; then what is kept
 * on purpose, the totals and what to run next. The same layout serves the
 * plan and the result; a result says per item what became of it. Names are
 * escaped (`ls -b`) and printed whole.
 */
import type { GcItem, GcReport } from '../../gc/run.js'
import { ageWords } from '../../check/data.js'
import { escapeName as esc } from '../../fs/name-bytes.js'
import { formatBytes } from '../../fs/tree-size.js'
import { pad, type Style } from '../style.js'
import { hang, name } from './wrap.js'

const INDENT = 12
const LABEL = 11

const STATUS: Record<GcItem['status'], string> = {
  planned: 'planned',
  collected: 'collected',
  'already-gone': 'gone',
  deferred: 'busy',
  refused: 'left',
  'not-confirmed': 'skipped',
}

export function renderGc(r: GcReport, s: Style): string {
  const { c } = s
  const w = s.width
  const out: string[] = []
  out.push(...hang(`${c.bold('layerfsck gc')}  `, [name(esc(r.store)), ...(r.adapter === 'memory' ? [{ text: ' (memory)', paint: c.dim }] : [])], w, 2))
  const settings = Object.entries(r.settings).map(([key, value]) => `${key} ${value}`)
  if (!('liveness' in r.settings)) settings.push(`liveness ${r.liveness}`)
  const mode = r.acted ? 'collected' : 'plan only: nothing changed'
  out.push(...hang('', esc([`${r.family} store`, mode, `grace ${ageWords(r.graceMs)}`, r.pruneLayers ? 'layers pruned' : 'layers kept', ...settings].join('; ')), w, 2, c.dim))
  out.push('')
  const line = (text: string, paint?: (t: string) => string): string[] => hang(' '.repeat(INDENT), esc(text), w, INDENT, paint)
  if (r.items.length === 0) out.push(c.green('  nothing to collect'))
  for (const item of r.items) {
    const paint = item.status === 'collected' || item.status === 'already-gone' ? c.green : item.status === 'planned' ? c.cyan : c.yellow
    out.push(`  ${paint(pad(STATUS[item.status], INDENT - 2))}${c.bold(item.code)}`)
    out.push(...hang(' '.repeat(INDENT), [name(esc(item.path))], w, INDENT))
    out.push(...line(item.reason))
    const facts = [item.bytes > 0 ? `frees ${formatBytes(item.bytes)}` : 'frees nothing', ...(item.ageMs !== undefined ? [`unchanged for ${ageWords(item.ageMs)}`] : [])]
    out.push(...line(`${item.action}; ${facts.join(', ')}`, c.dim))
    if (item.pins.length > 0) {
      out.push(...line(`pins ${item.pins.length === 1 ? 'this' : `these ${item.pins.length}`} while it stays:`, c.dim))
      for (const pin of item.pins) out.push(...hang(' '.repeat(INDENT + 2), [name(esc(pin), c.dim)], w, INDENT + 2))
    }
    if (item.error !== undefined) out.push(...line(item.error, c.yellow))
  }
  if (r.kept.length > 0) {
    out.push('', c.bold('Kept on purpose'))
    for (const k of r.kept) {
      out.push(`  ${c.dim(pad('kept', INDENT - 2))}${c.bold(k.code)}`)
      out.push(...hang(' '.repeat(INDENT), [name(esc(k.path))], w, INDENT))
      out.push(...line(k.why))
    }
  }
  out.push('')
  const t = r.totals
  const summary = r.acted
    ? `${t.collected} of ${t.items} items collected, ${formatBytes(t.freed)} freed; ${t.left} left behind`
    : `${t.items} items, ${formatBytes(t.bytes)} to free`
  out.push(...hang(c.bold(pad('totals', LABEL)), summary, w, LABEL, t.left > 0 ? c.yellow : c.green))
  r.next.forEach((n, i) => out.push(...hang(i === 0 ? c.bold(pad('next', LABEL)) : ' '.repeat(LABEL), esc(n), w, LABEL)))
  out.push(`${c.bold(pad('exit code', LABEL))}${r.exitCode}`)
  return `${out.join('\n')}\n`
}

/** The question a terminal gets after the plan. */
export function renderGcPlanQuestion(r: GcReport): string {
  return `Collect these ${r.totals.items} items, freeing ${formatBytes(r.totals.bytes)}? [y/N] `
}
