/**
 * Human rendering of a CheckReport: findings grouped by pass, each pass with
 * its time, then totals and what to run next. e2fsck's habit of saying what
 * it did, and what it did not, in words. Paths and every text that may hold
 * one are escaped (`ls -b`), so no file name can print a line of its own,
 * and wrapped whole: a path is printed to its last byte, however long.
 */
import type { CheckReport, FindingResult } from '../../check/run.js'
import { escapeName as esc } from '../../fs/name-bytes.js'
import { pad, type Style } from '../style.js'
import { hang, name } from './wrap.js'

/** Where a finding's path, message and fix start, and where their continuation lines do. */
const FINDING_INDENT = 10
const LABEL = 11
/** Columns of a pass's finding count and time, at the right edge of its heading. */
const COUNTS = 24

export function renderCheck(r: CheckReport, s: Style): string {
  const { c } = s
  const w = s.width
  const out: string[] = []
  const modeText = { no: 'no changes (-n)', preen: 'safe fixes (-p)', yes: 'all fixes (-y)' }[r.mode]
  out.push(
    ...hang(`${c.bold('layerfsck check')}  `, [name(esc(r.store)), ...(r.adapter === 'memory' ? [{ text: ' (memory)', paint: c.dim }] : [])], w, 2),
  )
  // Each family says in its own words how it read the store (backend or driver, format, liveness).
  const settings = Object.entries(r.settings).map(([key, value]) => `${key} ${value}`)
  if (!('liveness' in r.settings)) settings.push(`liveness ${r.liveness}`)
  out.push(...hang('', esc([`${r.family} store`, `mode: ${modeText}`, ...settings].join('; ')), w, 2, c.dim))
  out.push('')
  const severity = (f: FindingResult): string =>
    f.severity === 'error' ? c.red(pad('error', 8)) : f.severity === 'warning' ? c.yellow(pad('warning', 8)) : c.cyan(pad('info', 8))
  const finding = (text: string, paint?: (t: string) => string): string[] =>
    hang(' '.repeat(FINDING_INDENT), esc(text), w, FINDING_INDENT, paint)
  const lead = ' '.repeat(FINDING_INDENT)
  for (const [i, p] of r.passes.entries()) {
    const n = p.findings.length
    const head = `Pass ${i + 1}: ${p.title}`
    const counts = c.dim(`${pad(`${n} finding${n === 1 ? '' : 's'}`, 14)}${`${p.ms} ms`.padStart(10)}`)
    // The counts keep to the right edge; a title too long to share a line with them gets a line of its own.
    if (head.length + 1 + COUNTS <= w) out.push(`${c.bold(head)}${' '.repeat(w - head.length - COUNTS)}${counts}`)
    else out.push(...hang('', head, w, 2, c.bold), `${' '.repeat(w - COUNTS)}${counts}`)
    for (const f of p.findings) {
      out.push(`  ${severity(f)}${c.bold(f.code)}`)
      out.push(...hang(lead, [name(esc(f.path))], w, FINDING_INDENT))
      out.push(...finding(f.message))
      if (f.status === 'fixed') out.push(...finding(`fixed: ${f.fix?.describe ?? ''}`, c.green))
      else if (f.status === 'fix-failed') out.push(...finding(`fix failed: ${f.fixError ?? ''}`, c.red))
      else if (f.fix) {
        const how = f.fix.by === 'check' ? (f.fix.safe ? '-p or -y' : '-y') : f.fix.by === 'gc' ? 'by gc' : 'by hand'
        out.push(...finding(`fix (${how}): ${f.fix.describe}`, c.dim))
      }
    }
  }
  out.push('')
  const t = r.totals
  const summary = `${t.error} errors, ${t.warning} warnings, ${t.info} notes; ${t.fixed} fixed, ${t.open} left`
  out.push(...hang(c.bold(pad('totals', LABEL)), summary, w, LABEL, t.open > 0 ? c.yellow : c.green))
  r.next.forEach((line, i) => out.push(...hang(i === 0 ? c.bold(pad('next', LABEL)) : ' '.repeat(LABEL), esc(line), w, LABEL)))
  out.push(`${c.bold(pad('exit code', LABEL))}${r.exitCode}`)
  return `${out.join('\n')}\n`
}
