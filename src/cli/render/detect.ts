/**
 * Human rendering of a DetectReport: sections in the order an operator reads
 * them (what format, how sure, what is in it, what is odd), each wrapped to
 * the width and printed whole. `--json` prints the report itself instead.
 * Names and any text read from the store are escaped (`ls -b`): a file name
 * cannot print a line.
 */
import type { DetectReport } from '../../detect/detect.js'
import type { LooksLike } from '../../detect/identify.js'
import { escapeName } from '../../fs/name-bytes.js'
import { pad, type Style } from '../style.js'
import { hang, name, type Paint, type Span } from './wrap.js'

const MAX_LISTED = 20
/** Columns of a section's label, and so where its text starts. */
const LABEL = 11

/** What every section renderer draws with. */
interface Pen {
  s: Style
  w: number
  /** A section label, padded to LABEL columns; blank for a section's later rows. */
  label(title?: string): string
  /** Text after a label, wrapped with the continuation lines under the text. */
  after(label: string, text: string | readonly Span[], paint?: Paint): string[]
}

/** One section of the report: its lines, or none when it has nothing to say. Sections print in order, a blank line between. */
type Section<R = DetectReport> = (r: R, pen: Pen) => string[]
type MesosReport = Extract<DetectReport, { family: 'mesos' }>
type DockerReport = Extract<DetectReport, { family: 'docker' }>

function penFor(s: Style): Pen {
  const label = (title?: string): string => (title === undefined ? ' '.repeat(LABEL) : s.c.bold(pad(title, LABEL)))
  return { s, w: s.width, label, after: (l, text, paint) => hang(l, text, s.width, LABEL, paint) }
}

const heading: Section = (r, { s, w, label, after }) => {
  const { c } = s
  const out = hang(`${c.bold('layerfsck detect')}  `, [name(escapeName(r.store)), ...(r.adapter === 'memory' ? [{ text: ' (memory)', paint: c.dim }] : [])], w, 2)
  out.push(...after(label('format'), `${r.format.family} ${r.format.version}`, c.green.bold))
  out.push(...after(label(), r.format.title))
  out.push(...after(label(), `since ${r.format.introducedBy}`, c.dim))
  if (r.stamp.state === 'ok') {
    out.push(...after(label('stamp'), escapeName(`${r.stamp.family} ${r.stamp.version}, by ${r.stamp.writtenBy}`)))
    // The contents give a lower bound (a store with no overlay layer shows no 1.1 evidence); the stamp is what layerfsck left.
    if (r.stamp.version !== r.format.version) out.push(...after(label(), `contents alone prove ${r.format.version}; the stamp is what layerfsck left`, c.dim))
  } else if (r.stamp.state === 'garbled') out.push(...after(label('stamp'), escapeName(`unreadable: ${r.stamp.reason}`), c.yellow))
  else out.push(...after(label('stamp'), 'none (no layerfsck command has changed this store)', c.dim))
  return out
}

const evidence: Section = (r, { s, w, label, after }) => {
  if (r.evidence.length === 0) return after(label('evidence'), 'none beyond the base layout', s.c.dim)
  // Versions are as wide as the family makes them (Mesos 1.8.0, Docker 17.12.0): one column for all.
  const v = Math.max(6, ...r.evidence.map((e) => e.version.length))
  return r.evidence.flatMap((e, i) =>
    hang(`${label(i === 0 ? 'evidence' : undefined)}${s.c.cyan(pad(e.version, v))} `, escapeName(`${e.describe} (${e.count})`), w, LABEL + v + 1),
  )
}

const contents: Section<MesosReport> = (r, { s, label, after }) => {
  const k = r.counts
  return [
    ...after(label('contents'), `${k.layers} layers, ${k.configBlobs} config blobs, ${k.images} images` + (r.workDir === undefined ? '' : `, ${k.containers} containers, ${k.rootfses} rootfses`)),
    ...after(label(), [{ text: `${k.staging} in staging/, ${k.gc} in gc/` }, ...(r.workDir === undefined ? [{ text: '  (no --work-dir)', paint: s.c.dim }] : [])]),
  ]
}

/**
 * One row a layer: its id whole, the backends that can use it, and the
 * whiteouts in each directory it has. Ids are as long as they are (a damaged
 * store may hold any name), so when a row does not fit the width each layer
 * takes two lines instead: the id, then the rest under it.
 */
const layers: Section<MesosReport> = (r, { s, w }) => {
  if (r.layers.length === 0) return []
  const { c } = s
  const rows = r.layers.slice(0, MAX_LISTED).map((layer) => ({
    id: escapeName(layer.id),
    backends: layer.backends.join(','),
    whiteouts: layer.variants
      .map((v) => {
        const n = v.whiteouts.aufsWhiteouts + v.whiteouts.aufsOpaque + v.whiteouts.overlayWhiteouts + v.whiteouts.overlayOpaque
        return `${escapeName(v.dir)} ${n}`
      })
      .join(', '),
  }))
  const backends = (b: string, width: number): string => (b === '' ? c.red(pad('none', width)) : pad(b, width))
  const idWidth = Math.max(5, ...rows.map((row) => row.id.length))
  const bWidth = Math.max(8, ...rows.map((row) => row.backends.length))
  const whWidth = Math.max(9, ...rows.map((row) => row.whiteouts.length))
  const out: string[] = []
  if (2 + idWidth + 2 + bWidth + 2 + whWidth <= w) {
    out.push(c.dim(`  ${pad('layer', idWidth)}  ${pad('backends', bWidth)}  whiteouts`))
    for (const row of rows) out.push(`  ${pad(row.id, idWidth)}  ${backends(row.backends, bWidth)}  ${row.whiteouts}`)
  } else {
    out.push(c.dim(`  layer`), c.dim(`      ${pad('backends', bWidth)}  whiteouts`))
    for (const row of rows) {
      out.push(...hang('  ', [name(row.id)], w, 2))
      out.push(...hang(`      ${backends(row.backends, bWidth)}  `, row.whiteouts, w, 8 + bWidth))
    }
  }
  if (r.layers.length > MAX_LISTED) out.push(c.dim(`  … and ${r.layers.length - MAX_LISTED} more (--json lists all)`))
  return out
}

const defects: Section<MesosReport> = (r, { s, w }) => {
  if (r.defects.length === 0) return []
  const { c } = s
  return [
    c.bold('defects'),
    ...r.defects.flatMap((d) => [...hang(`  ${c.yellow('!')} `, escapeName(`${d.describe} (${d.count})`), w, 4), ...hang('    ', escapeName(`fix: ${d.fix}`), w, 4, c.dim)]),
  ]
}

const metadataProblems: Section<MesosReport> = (r, { s, w }) => {
  if (r.metadataProblems.length === 0) return []
  const { c } = s
  return [
    c.bold('metadata problems'),
    ...r.metadataProblems.slice(0, MAX_LISTED).flatMap((p) => hang(`  ${c.yellow('!')} `, escapeName(`${relative(r.store, p.path)}: ${p.message}`), w, 4)),
  ]
}

/** Path, kind and reason in three columns while the path is short and the reason has room; else the path on its own line(s). */
const unclassified: Section<MesosReport> = (r, { s, w }) => {
  const { c } = s
  if (r.unclassified.length === 0) return [`${c.bold('unclassified')} ${c.green('nothing')}`]
  const PATH = 36
  const out = [c.bold(`unclassified (${r.unclassified.length})`)]
  for (const u of r.unclassified.slice(0, MAX_LISTED)) {
    const path = escapeName(relative(r.store, u.path))
    const kind = pad(escapeName(u.kind), 7)
    if (path.length <= PATH && w - (2 + PATH + 1 + 8) >= 20) out.push(...hang(`  ${pad(path, PATH)} ${kind} `, escapeName(u.reason), w, 2 + PATH + 1 + 8, c.dim))
    else out.push(...hang('  ', [name(path)], w, 4), ...hang(`    ${kind} `, escapeName(u.reason), w, 4 + kind.length + 1, c.dim))
  }
  if (r.unclassified.length > MAX_LISTED) out.push(c.dim(`  … and ${r.unclassified.length - MAX_LISTED} more (--json lists all)`))
  return out
}

const dockerContents: Section<DockerReport> = (r, { s, label, after }) => {
  const k = r.counts
  return [
    ...after(label('driver'), [{ text: r.driver }, ...(r.otherDrivers.length > 0 ? [{ text: `  (also data of ${r.otherDrivers.join(', ')}, which dockerd does not read while it runs ${r.driver})`, paint: s.c.dim }] : [])]),
    ...after(
      label('contents'),
      `${k.images} images, ${k.layers} layers, ${k.containers} containers, ${k.layerDirs} dirs in ${r.driver}/` +
        (k.links > 0 ? `, ${k.links} short links` : '') +
        (k.removing > 0 ? `, ${k.removing} -removing records` : '') +
        (k.tmp > 0 ? `, ${k.tmp} temp entries of unfinished loads or commits` : ''),
    ),
  ]
}

/**
 * Records named by long ids (64 hex): one line each when the fields fit
 * beside the id, else the id on its own line with each field under it,
 * labelled, so no id is ever split.
 */
function idRecords(title: string, records: { id: string; fields: [string, string][]; note?: string }[], total: number, { s, w }: Pen): string[] {
  if (records.length === 0) return []
  const { c } = s
  const out = [c.bold(title)]
  const labelWidth = Math.max(...records.flatMap((r) => r.fields.map(([l]) => l.length)))
  const oneLine = (r: (typeof records)[number]): string => `  ${r.id}  ${r.fields.map(([l, v]) => `${l} ${v}`).join('  ')}`
  const wide = records.every((r) => oneLine(r).length <= w)
  for (const r of records) {
    if (wide) out.push(oneLine(r))
    else {
      out.push(...hang('  ', [name(r.id)], w, 2))
      for (const [l, v] of r.fields) out.push(...hang(`    ${c.dim(pad(l, labelWidth))} `, [name(v)], w, 5 + labelWidth))
    }
    if (r.note) out.push(...hang('    ', r.note, w, 4, c.yellow))
  }
  if (total > records.length) out.push(c.dim(`  … and ${total - records.length} more (--json lists all)`))
  return out
}

const dockerImages: Section<DockerReport> = (r, pen) =>
  idRecords(
    'images',
    r.images.slice(0, MAX_LISTED).map((i) => ({
      id: escapeName(i.id),
      fields: [['tags', escapeName(i.tags.join(', ') || '(untagged)')]],
      ...(i.digestMatches ? {} : { note: 'its config does not hash to its name' }),
    })),
    r.images.length,
    pen,
  )

const dockerLayers: Section<DockerReport> = (r, pen) =>
  idRecords(
    'layers (chain id)',
    r.layers.slice(0, MAX_LISTED).map((l) => {
      const note = l.removing ? 'a -removing record: a deletion that did not finish' : l.cacheId !== null && l.dir === null ? `no ${r.driver}/ dir of that name` : undefined
      return { id: escapeName(l.chainId), fields: [['cache-id', escapeName(l.cacheId ?? '(none)')]], ...(note ? { note } : {}) }
    }),
    r.layers.length,
    pen,
  )

const dockerContainers: Section<DockerReport> = (r, pen) =>
  idRecords(
    // Short labels: an init-id is 69 columns, and label and id must fit 80 beside the indent.
    'containers (mount-id, init-id)',
    r.containers.slice(0, MAX_LISTED).map((c) => ({
      id: escapeName(c.id),
      fields: [
        ...(c.name ? ([['name', escapeName(c.name.replace(/^\//, ''))]] as [string, string][]) : []),
        ['mount', escapeName(c.mountId ?? '(none)')],
        ['init', escapeName(c.initId ?? '(none)')],
      ],
    })),
    r.containers.length,
    pen,
  )

const dockerUnreadable: Section<DockerReport> = (r, { s, w }) => {
  if (r.unreadable.length === 0) return []
  const { c } = s
  return [
    c.bold(`could not read (${r.unreadable.length})`),
    ...r.unreadable.slice(0, MAX_LISTED).flatMap((u) => [...hang('  ', [name(escapeName(relative(r.store, u.path)))], w, 2), ...hang('    ', escapeName(`${u.code}: ${u.reason}`), w, 4, c.yellow)]),
  ]
}

/**
 * Each family's sections, in print order: what every store has first (the
 * format and the evidence for it), then what the family holds. A section
 * goes where an operator would look for it.
 */
export const DETECT_SECTIONS: { readonly [F in DetectReport['family']]: readonly Section<Extract<DetectReport, { family: F }>>[] } = {
  mesos: [heading, evidence, contents, layers, defects, metadataProblems, unclassified],
  docker: [heading, evidence, dockerContents, dockerImages, dockerLayers, dockerContainers, dockerUnreadable],
}

export function renderDetect(r: DetectReport, s: Style): string {
  const pen = penFor(s)
  const blocks = r.family === 'mesos' ? draw(r, DETECT_SECTIONS.mesos, pen) : draw(r, DETECT_SECTIONS.docker, pen)
  return `${blocks.map((lines) => lines.join('\n')).join('\n\n')}\n`
}

function draw<R>(r: R, sections: readonly Section<R>[], pen: Pen): string[][] {
  return sections.map((section) => section(r, pen)).filter((lines) => lines.length > 0)
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
  const INDENT = 13
  const indent = ' '.repeat(INDENT)
  const out: string[] = []
  out.push(...hang(`${c.bold('layerfsck detect')}  `, [name(escapeName(path))], w, 2))
  out.push(`${c.bold(pad('not a store', INDENT))}${c.red.bold('no store layerfsck reads here')}`)
  out.push(...hang(c.bold(pad('looks like', INDENT)), looksLike.title, w, INDENT))
  for (const shown of looksLike.shows) out.push(...hang(indent, [name(escapeName(shown), c.cyan)], w, INDENT))
  const total = looksLike['total']
  if (looksLike.kind === 'unknown' && typeof total === 'number' && total > looksLike.shows.length) {
    out.push(`${indent}${c.dim(`… and ${total - looksLike.shows.length} more`)}`)
  }
  if (hint) out.push(...hang(c.bold(pad('next', INDENT)), hint, w, INDENT, c.dim))
  out.push(c.dim('nothing was changed'))
  return `${out.join('\n')}\n`
}
