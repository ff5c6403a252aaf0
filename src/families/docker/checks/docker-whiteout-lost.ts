import { FixRefusedError } from '../../../check/checks/refuse.js'
import { UNREADABLE } from '../../../check/data.js'
import type { CheckContext, CheckSpec, Finding } from '../../../check/types.js'
import { isErrno } from '../../../errors.js'
import { escapeName, nameByteLength } from '../../../fs/name-bytes.js'
import type { FsPort, Inode } from '../../../fs/port.js'
import { dirname } from '../../../fs/safe-path.js'
import { WHITEOUT_FILE_MODE } from '../../../layer/whiteout-codec.js'
import { isOpaqueValue, isWhiteoutDevice, OPAQUE_XATTRS } from '../../../layer/whiteout-names.js'
import type { DockerData } from '../data.js'
import { contentDirFor, type LayerRole } from '../formats/format.js'
import { readTarSplitMarks, TAR_SPLIT_FILE, type TarSplitMarks } from '../tar-split.js'
import { isRealDir, viewOf } from './view.js'

/** The attribute Docker sets on an opaque dir of a layer it applies as root (go-archive ConvertRead). */
const OPAQUE_XATTR = OPAQUE_XATTRS[0]
const Y = new Uint8Array([0x79])

interface Mark {
  kind: 'whiteout' | 'opaque'
  /** Relative to the content dir; '' is the content dir itself (an opaque root). */
  rel: string
}

interface Assessment {
  whiteouts: number
  opaqueDirs: number
  /** Lost and safe to restore: nothing is at the whiteout's name, the opaque dir is there without the attribute. */
  lost: Mark[]
  /** Lost, and something in the way that a person has to judge. */
  blocked: { mark: Mark; why: string }[]
}

/** How a check and a fix look at the content dir: the check records what it may not read, a fix lets it throw. */
interface Look {
  lstat(path: string): Promise<Inode | undefined | 'unreadable'>
  /** The opaque attribute: `y`, absent, some other value (escaped), or unreadable. */
  opaque(path: string): Promise<{ state: 'y' | 'absent' | 'unreadable' } | { state: 'other'; value: string }>
}

async function opaqueOf(fs: FsPort, path: string): Promise<{ state: 'y' | 'absent' } | { state: 'other'; value: string }> {
  let other: string | undefined
  for (const name of OPAQUE_XATTRS) {
    const value = await fs.xattr.get(path, name)
    if (isOpaqueValue(value)) return { state: 'y' }
    if (value !== undefined) other ??= `${name}=${JSON.stringify(escapeName(Buffer.from(value).toString('latin1')))}`
  }
  return other === undefined ? { state: 'absent' } : { state: 'other', value: other }
}

function checkLook(ctx: CheckContext<DockerData>): Look {
  return {
    lstat: (path) => ctx.data.lstat(path),
    async opaque(path) {
      try {
        return await opaqueOf(ctx.fs, path)
      } catch (err) {
        if (!isErrno(err, ...UNREADABLE)) throw err
        return { state: 'unreadable' }
      }
    },
  }
}

function fixLook(fs: FsPort): Look {
  return { lstat: (path) => fs.lstat(path), opaque: (path) => opaqueOf(fs, path) }
}

/**
 * Whether a layer could hold the name at all (NAME_MAX, PATH_MAX): Docker
 * could not have applied a tar naming more, so such a mark says the
 * tar-split is not this layer's, and it is left out rather than looked up.
 */
const holdable = (rel: string): boolean => nameByteLength(rel) < 4096 && rel.split('/').every((part) => nameByteLength(part) <= 255)

const join = (root: string, rel: string): string => (rel === '' ? root : `${root}/${rel}`)
const parentOf = (rel: string): string => rel.slice(0, Math.max(0, rel.lastIndexOf('/')))
const kindName = (inode: Inode): string =>
  inode.kind === 'char' ? `a char device ${inode.rdev.major}/${inode.rdev.minor}` : inode.kind === 'file' ? 'a regular file' : `a ${inode.kind}`

/**
 * Compares the marks a layer's tar made with its content dir. Each parent
 * is lstat'ed from the top, so nothing is looked up (or made) through a
 * symlink inside the layer; an item this process may not look at is left
 * out, neither lost nor fine.
 */
async function assess(look: Look, root: string, marks: TarSplitMarks, withOpaque: boolean): Promise<Assessment> {
  const out: Assessment = { whiteouts: 0, opaqueDirs: 0, lost: [], blocked: [] }
  const dirs = new Map<string, string | null | 'unreadable'>([['', null]])
  /** null when `rel` is a real dir all the way down; why not otherwise. Top down, without recursion: names may nest deep. */
  const dirState = async (rel: string): Promise<string | null | 'unreadable'> => {
    const below: string[] = []
    let d = rel
    while (!dirs.has(d)) {
      below.push(d)
      d = parentOf(d)
    }
    let state = dirs.get(d)!
    for (let i = below.length - 1; i >= 0; i--) {
      const cur = below[i]!
      if (state === null) {
        const inode = await look.lstat(join(root, cur))
        if (inode === 'unreadable') state = 'unreadable'
        else if (inode === undefined) state = `its dir ${escapeName(cur)} is missing`
        else if (inode.kind !== 'dir') state = `${escapeName(cur)} is ${kindName(inode)}, not a dir`
      }
      dirs.set(cur, state)
    }
    return state
  }
  for (const rel of marks.whiteouts) {
    if (!holdable(rel)) continue
    out.whiteouts += 1
    const mark: Mark = { kind: 'whiteout', rel }
    const up = await dirState(parentOf(rel))
    if (up === 'unreadable') continue
    if (up !== null) {
      out.blocked.push({ mark, why: `the whiteout ${escapeName(rel)} cannot be there: ${up}` })
      continue
    }
    const inode = await look.lstat(join(root, rel))
    if (inode === 'unreadable' || isWhiteoutDevice(inode)) continue
    if (inode === undefined) out.lost.push(mark)
    else out.blocked.push({ mark, why: `${escapeName(rel)} is ${kindName(inode)}, not the 0/0 whiteout its tar made` })
  }
  if (!withOpaque) return out
  for (const rel of marks.opaqueDirs) {
    if (!holdable(rel)) continue
    out.opaqueDirs += 1
    const mark: Mark = { kind: 'opaque', rel }
    const state = await dirState(rel)
    if (state === 'unreadable') continue
    const name = rel === '' ? 'the layer root' : escapeName(rel)
    if (state !== null) {
      out.blocked.push({ mark, why: `the opaque dir ${name} cannot be marked: ${state}` })
      continue
    }
    const opaque = await look.opaque(join(root, rel))
    if (opaque.state === 'absent') out.lost.push(mark)
    else if (opaque.state === 'other') out.blocked.push({ mark, why: `the opaque dir ${name} holds ${opaque.value}, not ${OPAQUE_XATTR}=y` })
  }
  return out
}

const lostText = (m: Mark): string =>
  m.kind === 'whiteout' ? `the whiteout ${escapeName(m.rel)} is missing` : `${m.rel === '' ? 'the layer root' : escapeName(m.rel)} lacks ${OPAQUE_XATTR}=y`

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`

function describe(a: Assessment, chainId: string): string {
  const count = (kind: Mark['kind']): number => a.lost.filter((m) => m.kind === kind).length + a.blocked.filter((b) => b.mark.kind === kind).length
  const parts: string[] = []
  const w = count('whiteout')
  const o = count('opaque')
  if (w > 0) parts.push(`${w} of ${plural(a.whiteouts, 'whiteout')}`)
  if (o > 0) parts.push(`${o} of ${plural(a.opaqueDirs, 'opaque dir')}`)
  const example = a.lost[0] !== undefined ? lostText(a.lost[0]) : a.blocked[0]!.why
  let message =
    `${parts.join(' and ')} that the tar of layer ${chainId} made ${w + o === 1 ? 'is' : 'are'} lost (e.g. ${example}): ` +
    'what the layer deleted from the layers below shows again in every container on it'
  if (a.blocked.length > 0) message += `; ${plural(a.blocked.length, 'needs', 'need')} a person${a.lost[0] !== undefined ? ` (e.g. ${a.blocked[0]!.why})` : ''}`
  return message
}

export const dockerWhiteoutLost: CheckSpec<DockerData> = {
  code: 'docker-whiteout-lost',
  pass: 'references',
  severity: 'error',
  title: "an image layer's diff/ lacks a whiteout device or opaque xattr that its tar made",
  explain:
    "overlay2 turns each `.wh.<name>` of a layer's tar into a char device 0/0 `<name>` in the layer's diff/, and each " +
    '`.wh..wh..opq` into trusted.overlay.opaque=y on its dir; that is all that hides what the layer deleted from the ' +
    'layers below. One removed by hand, by a copy that dropped devices or xattrs (cp, rsync or tar without --xattrs, ' +
    'a non-root restore), or by a filesystem repair makes the deleted files reappear in every container on the layer, ' +
    'and Docker never notices. The layer record\'s tar-split.json.gz lists every entry of the tar the layer was made ' +
    'from, so the lost marks can be told and restored exactly. Image layers of overlay2 only: the legacy overlay ' +
    "driver's root/ is flattened (deletions really deleted), and container layers have no tar. A layer whose " +
    'tar-split is missing or cannot be read is skipped (that is not this check\'s business); opaque dirs are checked ' +
    'only with CAP_SYS_ADMIN (xattrs-unreadable says so otherwise). Something else at a whiteout\'s name (a regular ' +
    'file, a dir) is reported and never replaced.',
  fix: {
    by: 'check',
    describe: 'recreate the lost 0/0 whiteout devices (mode 0, owner 0:0) and set the lost opaque xattrs, from the tar-split',
    safe: false,
    apply: async (ctx, f) => applyFix(ctx, f),
  },
  async run(ctx) {
    const v = await viewOf(ctx.data)
    const withOpaque = (await ctx.data.credentials()).capSysAdmin
    const seen = new Set<string>()
    for (const r of v.live.values()) {
      if (!r.readable || !r.tarSplit || r.cacheId.state !== 'ok') continue
      const d = v.dirs.get(r.cacheId.value)
      if (d === undefined || d.kind !== 'dir' || !d.readable || seen.has(d.name)) continue
      seen.add(d.name)
      const role: LayerRole = v.owners.get(d.name)?.role ?? (r.parent.state === 'missing' ? 'image-base' : 'image')
      const spec = contentDirFor(v.format, role)
      if (spec === undefined || spec.whiteouts !== 'overlay' || !d.entries.some((e) => e.name === spec.dir && e.kind === 'dir')) continue
      const tarSplit = `${r.path}/${TAR_SPLIT_FILE}`
      const marks = await readTarSplitMarks(ctx.fs, tarSplit)
      if (!marks.ok) {
        if (UNREADABLE.includes(marks.code)) ctx.data.noteUnreadable(tarSplit, Object.assign(new Error(marks.reason), { code: marks.code }))
        continue
      }
      if (marks.whiteouts.length === 0 && (marks.opaqueDirs.length === 0 || !withOpaque)) continue
      const root = `${d.path}/${spec.dir}`
      const a = await assess(checkLook(ctx), root, marks, withOpaque)
      if (a.lost.length === 0 && a.blocked.length === 0) continue
      const lostWhiteouts = [...a.lost, ...a.blocked.map((b) => b.mark)].filter((m) => m.kind === 'whiteout').length
      ctx.report({
        path: root,
        message: describe(a, r.chainId ?? r.name),
        detail: {
          record: r.path,
          tarSplit,
          dir: d.path,
          whiteouts: a.whiteouts,
          opaqueDirs: a.opaqueDirs,
          lostWhiteouts,
          lostOpaque: a.lost.length + a.blocked.length - lostWhiteouts,
          blocked: a.blocked.length,
        },
      })
    }
  },
}

/**
 * Restores every lost mark of one layer, or none: anything in the way
 * (a file at a whiteout's name, a parent that is not a dir) refuses the
 * whole layer before a change, since which of the tar and the file is
 * right is for a person to say. Re-run after a crash, what already landed
 * reads as fine and the rest is made.
 */
async function applyFix(ctx: CheckContext<DockerData>, f: Finding): Promise<void> {
  const creds = await ctx.data.credentials()
  if (!creds.capSysAdmin || !creds.capMknod) {
    throw new FixRefusedError(`not restored: ${OPAQUE_XATTR} needs CAP_SYS_ADMIN and the 0/0 devices CAP_MKNOD; run as root`)
  }
  const dir = String(f.detail?.['dir'])
  const tarSplit = String(f.detail?.['tarSplit'])
  const root = f.path
  if (!(await isRealDir(ctx.fs, dir)) || !(await isRealDir(ctx.fs, root))) throw new FixRefusedError(`not restored: ${root} is no longer a dir`)
  const marks = await readTarSplitMarks(ctx.fs, tarSplit)
  if (!marks.ok) throw new FixRefusedError(`not restored: ${tarSplit} can no longer be read (${marks.code}: ${marks.reason})`)
  const a = await assess(fixLook(ctx.fs), root, marks, true)
  if (a.blocked.length > 0) {
    throw new FixRefusedError(
      `not restored, nothing changed: ${a.blocked[0]!.why}${a.blocked.length > 1 ? ` (and ${a.blocked.length - 1} more)` : ''}; ` +
        'decide whether the tar or what is there now is right, move it aside, and run check again',
    )
  }
  for (const m of a.lost) {
    const path = join(root, m.rel)
    if (m.kind === 'opaque') {
      await ctx.fs.xattr.set(path, OPAQUE_XATTR, Y)
      await ctx.fs.fsync(path)
      continue
    }
    // The parent keeps the mtime its tar gave it, so a later save or export of the layer is unchanged.
    const parent = dirname(path)
    const before = await ctx.fs.lstat(parent)
    await ctx.fs.mknod(path, 'char', WHITEOUT_FILE_MODE, { major: 0, minor: 0 })
    await ctx.fs.lchown(path, 0, 0)
    if (before !== undefined) await ctx.fs.lutimes(parent, before.mtimeNs, before.mtimeNs)
    await ctx.fs.fsync(parent)
  }
}
