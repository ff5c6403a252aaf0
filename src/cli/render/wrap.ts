/**
 * Word wrap for human reports that never cuts a name. A report names paths
 * hundreds of characters long, and a path cut short (or shortened in the
 * middle) is one an operator cannot paste into `ls` or `rm`. So prose breaks
 * at a space, which the break takes the place of, as any word wrap does; a
 * word longer than a line (a path) breaks after a `/`, or, with none in
 * reach, anywhere, and loses nothing. A span marked as a name never breaks
 * at a space (a file name may hold one): removing each newline and the
 * indent after it gives the name back exactly.
 *
 * Only plain text is wrapped: colour is put on the pieces afterwards, so
 * escape codes never count as columns.
 */

/** Colours one piece of text; the identity when output has no colour. */
export type Paint = (text: string) => string

/** A run of text and the colour it prints in. */
export interface Span {
  text: string
  paint?: Paint
  /** A name (escaped): its spaces are part of it, not places to break. */
  name?: boolean
}

export interface WrapOptions {
  /** Columns a whole line may use, indent included. */
  width: number
  /** Columns of the hanging indent before the text of every line after the first. */
  indent?: number
  /** Columns taken before the text on the first line (a label); the indent when left out. */
  start?: number
  /** The whole text is one name: break it only after a `/` or, failing that, anywhere. */
  name?: boolean
}

/** A piece: where it starts and ends in the text, and where the next one starts (past the space it broke at). */
interface Piece {
  from: number
  to: number
  next: number
}

/**
 * The pieces of `text`, one a line: the first at most width - start columns
 * (empty when a label leaves no room, so the text starts on the next line),
 * each later one at most width - indent, never less than one column. A
 * newline in the text ends a piece where it stands.
 */
export function wrap(text: string, o: WrapOptions): string[] {
  const spaceBreaks = o.name ? () => false : () => true
  return pieces(text, o, spaceBreaks).map((p) => text.slice(p.from, p.to))
}

function pieces(text: string, o: WrapOptions, spaceBreaks: (at: number) => boolean): Piece[] {
  const indent = o.indent ?? 0
  const firstRoom = o.width - (o.start ?? indent)
  // Never zero: a width narrower than the indent still makes progress instead of looping.
  const room = Math.max(1, o.width - indent)
  const out: Piece[] = []
  if (firstRoom <= 0 && text !== '' && text[0] !== '\n') out.push({ from: 0, to: 0, next: 0 })
  let pos = 0
  for (;;) {
    const stop = text.indexOf('\n', pos)
    const end = stop === -1 ? text.length : stop
    do {
      const piece = breakAt(text, pos, end, out.length === 0 ? firstRoom : room, spaceBreaks)
      out.push(piece)
      pos = piece.next
    } while (pos < end)
    if (stop === -1) return out
    pos = stop + 1
  }
}

/** The piece starting at `pos`: up to the last space in reach, else after the last `/`, else to the room's edge. */
function breakAt(text: string, pos: number, end: number, room: number, spaceBreaks: (at: number) => boolean): Piece {
  const limit = pos + room
  if (limit >= end || pos >= end) return { from: pos, to: end, next: end }
  let slash = -1
  // A space just past the room still ends a full line: the break takes its place.
  for (let i = limit; i > pos; i--) {
    if (text.charCodeAt(i) === 0x20 && spaceBreaks(i)) return { from: pos, to: i, next: i + 1 }
    // A lone `/` on a line reads as a mistake; a hard break does better there.
    if (slash === -1 && i > pos + 1 && text.charCodeAt(i - 1) === 0x2f) slash = i
  }
  if (slash !== -1) return { from: pos, to: slash, next: slash }
  // Never between the two halves of a character beyond the BMP.
  const high = text.charCodeAt(limit - 1)
  const to = high >= 0xd800 && high <= 0xdbff && limit - 1 > pos ? limit - 1 : limit
  return { from: pos, to, next: to }
}

// eslint-disable-next-line no-control-regex
const SGR = /\x1b\[[0-9;]*m/g

/** Columns a string takes on screen: colour codes take none. */
export function visibleWidth(text: string): number {
  return text.replace(SGR, '').length
}

/**
 * `text` wrapped under a label: the first line is the label (coloured as it
 * likes; its visible width is where the text starts) and the first piece,
 * each later line `indent` spaces and the next piece. Each span keeps its
 * colour across the breaks; a plain string is prose in `paint`.
 */
export function hang(label: string, text: string | readonly Span[], width: number, indent: number, paint?: Paint): string[] {
  const spans: readonly Span[] = typeof text === 'string' ? [paint ? { text, paint } : { text }] : text
  const joined = spans.map((s) => s.text).join('')
  const names: [number, number][] = []
  let at = 0
  for (const s of spans) {
    if (s.name) names.push([at, at + s.text.length])
    at += s.text.length
  }
  const spaceBreaks = (i: number): boolean => !names.some(([a, b]) => i >= a && i < b)
  const lead = ' '.repeat(indent)
  return pieces(joined, { width, indent, start: visibleWidth(label) }, spaceBreaks).map(
    (p, i) => `${i === 0 ? label : lead}${paintRange(spans, p.from, p.to)}`,
  )
}

/** A name as a span: printed whole, in `paint`. */
export function name(text: string, paint?: Paint): Span {
  return paint ? { text, paint, name: true } : { text, name: true }
}

/** The text between two offsets of the spans joined, each part in its span's colour. */
function paintRange(spans: readonly Span[], from: number, to: number): string {
  let out = ''
  let at = 0
  for (const s of spans) {
    const a = Math.max(from, at)
    const b = Math.min(to, at + s.text.length)
    if (a < b) {
      const part = s.text.slice(a - at, b - at)
      out += s.paint ? s.paint(part) : part
    }
    at += s.text.length
  }
  return out
}
