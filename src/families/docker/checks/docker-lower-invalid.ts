import { FixRefusedError } from '../../../check/checks/refuse.js'
import type { CheckSpec } from '../../../check/types.js'
import { writeFileDurable } from '../../../fs/io.js'
import { dirname } from '../../../fs/safe-path.js'
import { isRemoved } from '../../../steps/remove-leftover.js'
import type { DockerData } from '../data.js'
import { isRealDir, lowerEntry, lowerEntryName, lowerExpectations, readSmall, viewOf } from './view.js'

export const dockerLowerInvalid: CheckSpec<DockerData> = {
  code: 'docker-lower-invalid',
  pass: 'structure',
  severity: 'error',
  title: "an overlay2 layer's lower file is empty, names a missing link, or does not match the layer records",
  explain:
    "overlay2 mounts a layer over the dirs its lower file names (l/<short name>, nearest parent first). The chain " +
    "must be what the records say: an image layer's parent chain; a container's init layer, then its image's chain; " +
    'an init layer the image chain. An empty lower makes new containers fail (ELOOP) and `docker export` of a ' +
    'container export the whole overlay2 dir; a missing one mounts the layer without its parents; a wrong one shows ' +
    "another image's files. -y rewrites it from the records when every link in the chain is known. A name whose link " +
    'is only missing from l/ is docker-link-missing\'s, not this.',
  fix: {
    by: 'check',
    describe: 'rewrite the lower file from the layer records (or remove it from a base layer)',
    safe: false,
    isDone: async (ctx, f) => {
      if (f.detail?.['remove'] === true) return isRemoved(ctx.fs, f.path)
      return typeof f.detail?.['lower'] === 'string' && (await readSmall(ctx.fs, f.path)) === f.detail['lower']
    },
    apply: async (ctx, f) => {
      if (!(await isRealDir(ctx.fs, dirname(f.path)))) throw new FixRefusedError(`not rewritten: ${dirname(f.path)} is no longer a dir`)
      const there = await ctx.fs.lstat(f.path)
      if (there !== undefined && there.kind !== 'file') throw new FixRefusedError(`not rewritten: ${f.path} is a ${there.kind}, not a file`)
      if (f.detail?.['remove'] === true) {
        if (there === undefined) return
        await ctx.fs.unlink(f.path)
        await ctx.fs.fsync(dirname(f.path))
        return
      }
      const lower = f.detail?.['lower']
      if (typeof lower !== 'string') throw new FixRefusedError(`not rewritten: ${String(f.detail?.['reason'] ?? 'the chain cannot be told from the records')}`)
      // As overlay2 writes it: entries joined by ':', no newline.
      await writeFileDurable(ctx.fs, f.path, Buffer.from(lower), 0o644)
    },
  },
  async run(ctx) {
    const v = await viewOf(ctx.data)
    const layout = v.model.layout
    if (layout.driver !== 'overlay2' || v.format.shortLinks === undefined) return
    for (const d of layout.layerDirs) {
      if (d.kind !== 'dir' || !d.readable || !v.owners.has(d.name)) continue
      const expectations = lowerExpectations(v, d.name)
      if (expectations.length === 0) continue
      const known = expectations.filter((e) => e.chain.ok).map((e) => (e.chain.ok ? e.chain.links.map((l) => lowerEntry(v.format, l)).join(':') : ''))
      const distinct = [...new Set(known)]
      const problems: string[] = []
      const path = `${d.path}/lower`
      const lower = d.lower
      if (lower.state === 'empty') problems.push('it is empty: new containers on it fail, and `docker export` of a container on it exports the whole driver dir')
      else if (lower.state === 'unreadable') problems.push(`it cannot be read (${lower.code}: ${lower.reason})`)
      else if (lower.state === 'missing') {
        if (distinct.some((x) => x !== '')) problems.push('it is missing: the layer is mounted without its parents')
      } else {
        for (const entry of lower.entries) {
          const name = lowerEntryName(v.format, entry)
          if (name === undefined) problems.push(`${JSON.stringify(entry)} is not ${lowerEntry(v.format, '<short name>')}`)
          else if (layout.linkDir.state !== 'unreadable' && !v.links.has(name) && !v.linkHolders.has(name)) problems.push(`it names ${lowerEntry(v.format, name)}, which is missing and which no layer dir's link file holds`)
        }
        const actual = lower.entries.join(':')
        if (problems.length === 0 && distinct.length > 0 && !distinct.includes(actual)) {
          problems.push(distinct[0] === '' ? 'a base layer has no parents, so it has no lower chain' : `its chain does not match the layer records (${expectations.map((e) => e.by).join(', ')})`)
        }
      }
      if (problems.length === 0) continue
      const failed = expectations.filter((e) => !e.chain.ok).map((e) => (e.chain.ok ? '' : e.chain.reason))
      const fixable = failed.length === 0 && distinct.length === 1
      const expected = distinct[0]
      const detail: Record<string, string | boolean> = fixable ? (expected === '' ? { remove: true } : { lower: expected! }) : { reason: failed.length > 0 ? failed.join('; ') : 'its owners disagree on the chain' }
      ctx.report({
        path,
        message: `${problems.join('; ')}${fixable ? (expected === '' ? '; it should not exist' : `; the records give ${expected}`) : ''}`,
        detail,
      })
    }
  },
}
