/**
 * Human rendering of a MigrateReport: the plan or what was done, per layer,
 * then the preflight, the format steps, the containers left under another
 * backend and what to run next. Names escaped as `ls -b` does, and printed
 * whole however long.
 */
import type { MigrateLayer, MigrateReport } from '../../families/mesos/migrate.js'
import { escapeName as esc } from '../../fs/name-bytes.js'
import { formatBytes } from '../../fs/tree-size.js'
import { pad, type Style } from '../style.js'
import { hang, name } from './wrap.js'

const LABEL = 11
const ROW = 13

export function renderMigrate(r: MigrateReport, s: Style): string {
  const { c } = s
  const w = s.width
  const out: string[] = []
  const what = r.strategy === 'ignore' ? 'what the agent pulls again' : r.dryRun ? 'dry run: nothing is changed' : r.copy ? 'data copied' : 'files hard-linked'
  out.push(...hang(`${c.bold('layerfsck migrate')}  `, [name(esc(r.store)), ...(r.adapter === 'memory' ? [{ text: ' (memory)', paint: c.dim }] : [])], w, 2))
  out.push(
    ...hang(
      '',
      esc(
        `${r.from.version === r.to.version ? `format ${r.to.version}` : `format ${r.from.version} to ${r.to.version}`}; ` +
          `the ${r.toBackend} backend reads ${r.to.variant} (${r.to.whiteouts} whiteouts); ${what}`,
      ),
      w,
      2,
      c.dim,
    ),
  )
  if (r.resumed) {
    const text =
      r.dryRun || r.strategy === 'ignore'
        ? `an interrupted layerfsck ${r.resumed.command} (pid ${r.resumed.pid}) left work behind; the next changing run finishes it`
        : `finished what an interrupted layerfsck ${r.resumed.command} (pid ${r.resumed.pid}) left`
    out.push(...hang('', esc(text), w, 2, c.yellow))
  }
  out.push('')

  for (const [i, check] of r.preflight.checks.entries()) {
    const paint = check.status === 'blocker' ? c.red : check.status === 'warning' ? c.yellow : c.dim
    out.push(...hang(i === 0 ? c.bold(pad('preflight', LABEL)) : ' '.repeat(LABEL), esc(`${check.status}: ${check.message}`), w, LABEL, paint))
  }
  out.push('')

  if (r.strategy === 'ignore') {
    for (const image of r.images) {
      out.push(...hang('', [name(esc(image.reference ?? '(a damaged record)'))], w, 2))
      const text =
        image.pullAgain.length === 0
          ? `all ${image.layers} layers are there for ${r.toBackend}`
          : `${image.pullAgain.length} of ${image.layers} layers pulled again, ${formatBytes(image.bytes)}`
      out.push(...hang(' '.repeat(ROW), text, w, ROW, image.pullAgain.length === 0 ? c.dim : c.yellow))
    }
  } else {
    for (const l of r.layers) out.push(...layerLines(l, r, s))
  }
  if (r.layers.length === 0) out.push(...hang('', 'the store has no layers', w, 2, c.dim))

  if (r.migrations.length > 0) {
    out.push('')
    for (const [i, m] of r.migrations.entries()) {
      const paint = m.status === 'refused' || m.status === 'deferred' ? c.red : m.status === 'pending' ? c.yellow : c.dim
      const text = `${m.id} (${m.from} to ${m.to}): ${m.status}${m.reason ? `: ${m.reason}` : ''}`
      out.push(...hang(i === 0 ? c.bold(pad('format', LABEL)) : ' '.repeat(LABEL), esc(text), w, LABEL, paint))
    }
  }
  if (r.containers.length > 0) {
    out.push('')
    for (const [i, k] of r.containers.entries()) {
      out.push(...hang(i === 0 ? c.bold(pad('containers', LABEL)) : ' '.repeat(LABEL), [name(esc(k.path)), { text: ` (${k.backends.join(', ')})`, paint: c.dim }], w, LABEL))
    }
  }

  out.push('')
  const t = r.totals
  const parts =
    r.strategy === 'ignore'
      ? [`${t.present} there for ${r.toBackend}`, `${t.convert + t.noSource} pulled again`]
      : r.dryRun
        ? [`${t.convert} to convert`, `${t.present} present`]
        : [`${t.converted} converted`, `${t.present} present`, ...(t.failed > 0 ? [`${t.failed} left as they were`] : [])]
  if (r.strategy !== 'ignore' && t.noSource > 0) parts.push(`${t.noSource} without any tree`)
  if (t.pruned > 0) parts.push(`${t.pruned} trees pruned`)
  const counts = `${t.layers} layers: ${parts.join(', ')}`
  out.push(...hang(c.bold(pad('totals', LABEL)), r.nothingToDo ? `${counts}; nothing to do` : counts, w, LABEL, t.failed > 0 ? c.yellow : undefined))
  if (r.stamped !== undefined) out.push(...hang(c.bold(pad('stamped', LABEL)), `format ${r.stamped}`, w, LABEL))
  r.next.forEach((line, i) => out.push(...hang(i === 0 ? c.bold(pad('next', LABEL)) : ' '.repeat(LABEL), esc(line), w, LABEL)))
  out.push(`${c.bold(pad('exit code', LABEL))}${r.exitCode}`)
  return `${out.join('\n')}\n`
}

function layerLines(l: MigrateLayer, r: MigrateReport, s: Style): string[] {
  const { c } = s
  const w = s.width
  // A layer id (71 columns as sha256:<hex>) leaves no room beside it on 80 columns: its row goes under it.
  const out = hang('', [name(esc(l.id))], w, 2)
  const status = {
    planned: c.cyan,
    converted: c.green,
    present: c.dim,
    'no-source': c.yellow,
    'verify-failed': c.red,
    refused: c.red,
    deferred: c.yellow,
  }[l.status](pad(l.status, ROW - 2))
  let detail: string
  if (l.action === 'present') detail = `has ${l.to.variant} already`
  else if (l.action === 'no-source') detail = `has no tree to build ${l.to.variant} from; the agent pulls it again`
  else {
    const from = l.from!
    const forms = from.whiteouts === l.to.whiteouts ? `${from.whiteouts} whiteouts kept` : `${from.whiteouts} to ${l.to.whiteouts} whiteouts`
    detail = `${from.variant} to ${l.to.variant} (${forms})`
    const n = l.counts
    if (n !== undefined) {
      const data = r.dryRun
        ? `${n.files} files, ${formatBytes(n.bytes)}`
        : r.copy
          ? `${formatBytes(n.copiedBytes)} copied`
          : `${n.hardLinked} files hard-linked`
      detail += `: ${n.entries} entries, ${data}, ${n.whiteouts} whiteouts, ${n.opaqueDirs} opaque`
    }
  }
  out.push(...hang(`  ${status}`, esc(detail), w, ROW))
  if (l.reason !== undefined) out.push(...hang(' '.repeat(ROW), esc(l.reason), w, ROW, c.red))
  for (const m of l.mismatches ?? []) out.push(...hang(' '.repeat(ROW), [name(esc(m.path)), { text: `: ${esc(m.what)}` }], w, ROW, c.red))
  const prune = r.dryRun ? l.prune : l.pruned
  if (prune.length > 0) out.push(...hang(' '.repeat(ROW), esc(`${r.dryRun ? 'would prune' : 'pruned'} ${prune.join(', ')}`), w, ROW, c.dim))
  for (const k of l.kept) out.push(...hang(' '.repeat(ROW), esc(`kept ${k.variant}: ${k.reason}`), w, ROW, c.yellow))
  return out
}
