/**
 * Human rendering of a CheckReport: findings grouped by pass, each pass with
 * its time, then totals and what to run next. e2fsck's habit of saying what
 * it did, and what it did not, in words. Paths and every text that may hold
 * one are escaped (`ls -b`), so no file name can print a line of its own.
 */
import type { CheckReport, FindingResult } from '../../check/run.js'
import { escapeName as esc } from '../../fs/name-bytes.js'
import { elide, pad, type Style } from '../style.js'

export function renderCheck(r: CheckReport, s: Style): string {
  const { c } = s
  const w = s.width
  const out: string[] = []
  const modeText = { no: 'no changes (-n)', preen: 'safe fixes (-p)', yes: 'all fixes (-y)' }[r.mode]
  out.push(`${c.bold('layerfsck check')}  ${elide(esc(r.store), w - 17)}${r.adapter === 'memory' ? c.dim(' (memory)') : ''}`)
  out.push(c.dim(elide(`mode: ${modeText}; backend ${r.backend.name} (${r.backend.source}); liveness: ${r.liveness}`, w)))
  out.push('')
  const severity = (f: FindingResult): string =>
    f.severity === 'error' ? c.red(pad('error', 8)) : f.severity === 'warning' ? c.yellow(pad('warning', 8)) : c.cyan(pad('info', 8))
  for (const [i, p] of r.passes.entries()) {
    const n = p.findings.length
    const head = `Pass ${i + 1}: ${p.title}`
    out.push(`${c.bold(head)}${' '.repeat(Math.max(1, w - head.length - 24))}${c.dim(pad(`${n} finding${n === 1 ? '' : 's'}`, 14))}${c.dim(`${p.ms} ms`.padStart(10))}`)
    for (const f of p.findings) {
      out.push(`  ${severity(f)}${c.bold(f.code)}`)
      out.push(`          ${elide(esc(f.path), w - 10)}`)
      out.push(`          ${elide(esc(f.message), w - 10)}`)
      if (f.status === 'fixed') out.push(`          ${c.green(elide(esc(`fixed: ${f.fix?.describe ?? ''}`), w - 10))}`)
      else if (f.status === 'fix-failed') out.push(`          ${c.red(elide(esc(`fix failed: ${f.fixError ?? ''}`), w - 10))}`)
      else if (f.fix) {
        const how = f.fix.by === 'check' ? (f.fix.safe ? '-p or -y' : '-y') : 'by hand'
        out.push(`          ${c.dim(elide(esc(`fix (${how}): ${f.fix.describe}`), w - 10))}`)
      }
    }
  }
  out.push('')
  const t = r.totals
  const summary = `${t.error} errors, ${t.warning} warnings, ${t.info} notes; ${t.fixed} fixed, ${t.open} left`
  out.push(`${c.bold(pad('totals', 11))}${t.open > 0 ? c.yellow(summary) : c.green(summary)}`)
  r.next.forEach((line, i) => out.push(`${i === 0 ? c.bold(pad('next', 11)) : ' '.repeat(11)}${elide(esc(line), w - 11)}`))
  out.push(`${c.bold(pad('exit code', 11))}${r.exitCode}`)
  return `${out.join('\n')}\n`
}
