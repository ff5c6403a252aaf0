/**
 * Human rendering of a DetectReport: one screen, 80 columns, sections in the
 * order an operator reads them (what format, how sure, what is in it, what
 * is odd). `--json` prints the report itself instead. Names and any text
 * read from the store are escaped (`ls -b`): a file name cannot print a line.
 */
import type { DetectReport } from '../../detect/detect.js'
import type { LooksLike } from '../../detect/identify.js'
import { escapeName } from '../../fs/name-bytes.js'
import { elide, pad, type Style } from '../style.js'

const MAX_LISTED = 20

export function renderDetect(r: DetectReport, s: Style): string {
  const { c } = s
  const out: string[] = []
  const label = (name: string): string => c.bold(pad(name, 11))
  const w = s.width

  out.push(`${c.bold('layerfsck detect')}  ${elide(escapeName(r.store), w - 18)}${r.adapter === 'memory' ? c.dim(' (memory)') : ''}`)
  out.push(`${label('format')}${c.green.bold(`${r.format.family} ${r.format.version}`)}`)
  out.push(`${' '.repeat(11)}${elide(r.format.title, w - 11)}`)
  out.push(`${' '.repeat(11)}${c.dim(elide(`since ${r.format.introducedBy}`, w - 11))}`)
  if (r.stamp.state === 'ok') {
    out.push(`${label('stamp')}${escapeName(`${r.stamp.family} ${r.stamp.version}, by ${r.stamp.writtenBy}`)}`)
    // The contents give a lower bound (a store with no overlay layer shows no 1.1 evidence); the stamp is what layerfsck left.
    if (r.stamp.version !== r.format.version) out.push(`${' '.repeat(11)}${c.dim(`contents alone prove ${r.format.version}; the stamp is what layerfsck left`)}`)
  }
  else if (r.stamp.state === 'garbled') out.push(`${label('stamp')}${c.yellow(elide(escapeName(`unreadable: ${r.stamp.reason}`), w - 11))}`)
  else out.push(`${label('stamp')}${c.dim('none (no layerfsck command has changed this store)')}`)

  out.push('')
  if (r.evidence.length === 0) out.push(`${label('evidence')}${c.dim('none beyond the base layout')}`)
  r.evidence.forEach((e, i) => {
    const head = i === 0 ? label('evidence') : ' '.repeat(11)
    out.push(`${head}${c.cyan(pad(e.version, 6))} ${elide(`${e.describe} (${e.count})`, w - 18)}`)
  })

  out.push('')
  const k = r.counts
  out.push(
    `${label('contents')}${k.layers} layers, ${k.configBlobs} config blobs, ${k.images} images` +
      (r.workDir === undefined ? '' : `, ${k.containers} containers, ${k.rootfses} rootfses`),
  )
  out.push(`${' '.repeat(11)}${k.staging} in staging/, ${k.gc} in gc/${r.workDir === undefined ? c.dim('  (no --work-dir)') : ''}`)

  if (r.layers.length > 0) {
    out.push('')
    const idWidth = Math.min(30, w - 50)
    out.push(c.dim(`  ${pad('layer', idWidth)} ${pad('backends', 22)} whiteouts`))
    for (const layer of r.layers.slice(0, MAX_LISTED)) {
      const backends = layer.backends.length === 0 ? c.red('none') : layer.backends.join(',')
      const wh = layer.variants
        .map((v) => {
          const aufs = v.whiteouts.aufsWhiteouts + v.whiteouts.aufsOpaque
          const ovl = v.whiteouts.overlayWhiteouts + v.whiteouts.overlayOpaque
          return `${v.dir === 'rootfs' ? 'aufs' : 'ovl'} ${aufs + ovl}`
        })
        .join(' ')
      out.push(`  ${pad(elide(escapeName(layer.id), idWidth), idWidth)} ${pad(backends, 22 + (backends.length - layer.backends.join(',').length))} ${wh}`)
    }
    if (r.layers.length > MAX_LISTED) out.push(c.dim(`  … and ${r.layers.length - MAX_LISTED} more (--json lists all)`))
  }

  if (r.defects.length > 0) {
    out.push('')
    out.push(c.bold('defects'))
    for (const d of r.defects) {
      out.push(`  ${c.yellow('!')} ${elide(escapeName(`${d.describe} (${d.count})`), w - 4)}`)
      out.push(`    ${c.dim(elide(`fix: ${d.fix}`, w - 4))}`)
    }
  }

  if (r.metadataProblems.length > 0) {
    out.push('')
    out.push(c.bold('metadata problems'))
    for (const p of r.metadataProblems.slice(0, MAX_LISTED)) {
      out.push(`  ${c.yellow('!')} ${elide(escapeName(relative(r.store, p.path)), 30)}: ${elide(escapeName(p.message), w - 40)}`)
    }
  }

  out.push('')
  if (r.unclassified.length === 0) out.push(`${c.bold('unclassified')} ${c.green('nothing')}`)
  else {
    out.push(c.bold(`unclassified (${r.unclassified.length})`))
    for (const u of r.unclassified.slice(0, MAX_LISTED)) {
      out.push(`  ${pad(elide(escapeName(relative(r.store, u.path)), 36), 36)} ${pad(u.kind, 7)} ${c.dim(elide(escapeName(u.reason), w - 47))}`)
    }
    if (r.unclassified.length > MAX_LISTED) out.push(c.dim(`  … and ${r.unclassified.length - MAX_LISTED} more (--json lists all)`))
  }
  return `${out.join('\n')}\n`
}

function relative(store: string, path: string): string {
  return path.startsWith(`${store}/`) ? path.slice(store.length + 1) : path
}

/**
 * What a directory that is no store looks like, for `detect` on it: the
 * answer an operator who named the wrong directory needs, instead of a
 * report of a store that is not there. Names read from the directory go one
 * a line, escaped, so none can pass for a line of the report.
 */
export function renderNotAStore(path: string, looksLike: LooksLike, hint: string | undefined, s: Style): string {
  const { c } = s
  const w = s.width
  const indent = ' '.repeat(13)
  const out: string[] = []
  out.push(`${c.bold('layerfsck detect')}  ${elide(escapeName(path), w - 18)}`)
  out.push(`${c.bold(pad('not a store', 13))}${c.red.bold('no Mesos docker store here')}`)
  wrap(looksLike.title, w - 13).forEach((line, i) => out.push(`${i === 0 ? c.bold(pad('looks like', 13)) : indent}${line}`))
  for (const name of looksLike.shows) out.push(`${indent}${c.cyan(elide(escapeName(name), w - 15))}`)
  if (looksLike.kind === 'unknown' && looksLike.total > looksLike.shows.length) {
    out.push(`${indent}${c.dim(`… and ${looksLike.total - looksLike.shows.length} more`)}`)
  }
  if (hint) wrap(hint, w - 13).forEach((line, i) => out.push(`${i === 0 ? c.bold(pad('next', 13)) : indent}${c.dim(line)}`))
  out.push(c.dim('nothing was changed'))
  return `${out.join('\n')}\n`
}

/** Greedy word wrap of our own words (never of names); a word longer than the width is elided. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    const w = elide(word, width)
    if (line === '') line = w
    else if (line.length + 1 + w.length <= width) line += ` ${w}`
    else {
      lines.push(line)
      line = w
    }
  }
  if (line !== '') lines.push(line)
  return lines
}
