import { FixRefusedError } from '../../../check/checks/refuse.js'
import type { CheckSpec } from '../../../check/types.js'
import { writeFileDurable } from '../../../fs/io.js'
import type { DockerData } from '../data.js'
import { dirname } from '../../../fs/safe-path.js'
import { isRealDir, readSmall, viewOf, type DockerView } from './view.js'

/**
 * The image top layer's dir each container that owns `dirName` says it
 * sits on (its mount record's parent, through that record's cache-id);
 * null for a container on no image at all.
 */
function expectedLowerIds(v: DockerView, dirName: string): { ids: (string | null)[]; problems: string[] } {
  const ids: (string | null)[] = []
  const problems: string[] = []
  for (const c of v.owners.get(dirName)?.containers ?? []) {
    const m = v.mountsById.get(c)
    if (m === undefined) continue
    if (m.parent.state === 'missing') {
      ids.push(null)
      continue
    }
    if (m.parent.state !== 'ok') {
      problems.push(`${m.path}/parent is ${m.parent.state}`)
      continue
    }
    const r = v.live.get(m.parent.value)
    if (r === undefined || r.cacheId.state !== 'ok') {
      problems.push(r === undefined ? `no layer record for ${m.parent.value}` : `${r.path}/cache-id is ${r.cacheId.state}`)
      continue
    }
    ids.push(r.cacheId.value)
  }
  return { ids: [...new Set(ids)], problems }
}

export const dockerLowerIdMissing: CheckSpec<DockerData> = {
  code: 'docker-lower-id-missing',
  pass: 'references',
  severity: 'error',
  title: "a legacy overlay container layer's lower-id is unusable or names a layer without root/",
  explain:
    "The legacy overlay driver mounts a container (and its init layer) with the image's top layer's root/ as the " +
    'lower dir, which the lower-id file names (64 hex, no newline). When it is missing, empty, garbled, names a ' +
    'dir without root/, or another layer than the container\'s mount record says, the container fails to start or ' +
    "shows another image's files. -y writes it from the mount record's parent layer when that layer's dir has root/.",
  fix: {
    by: 'check',
    describe: "write lower-id from the container's mount record (the image's top layer's cache-id)",
    safe: false,
    isDone: async (ctx, f) => typeof f.detail?.['lowerId'] === 'string' && (await readSmall(ctx.fs, f.path)) === f.detail['lowerId'],
    apply: async (ctx, f) => {
      const lowerId = f.detail?.['lowerId']
      if (typeof lowerId !== 'string') throw new FixRefusedError(`not written: ${String(f.detail?.['reason'] ?? 'the layer cannot be told from the records')}`)
      const root = String(f.detail?.['root'])
      if (!(await isRealDir(ctx.fs, dirname(f.path))) || !(await isRealDir(ctx.fs, dirname(root))) || !(await isRealDir(ctx.fs, root))) throw new FixRefusedError(`not written: ${dirname(f.path)}, ${dirname(root)} or ${root} is no longer a dir`)
      const there = await ctx.fs.lstat(f.path)
      if (there !== undefined && there.kind !== 'file') throw new FixRefusedError(`not written: ${f.path} is a ${there.kind}, not a file`)
      await writeFileDurable(ctx.fs, f.path, Buffer.from(lowerId), 0o644)
    },
  },
  async run(ctx) {
    const v = await viewOf(ctx.data)
    const layout = v.model.layout
    if (layout.driver !== 'overlay') return
    const content = v.format.contentDirs.find((c) => c.roles.includes('image'))?.dir
    if (content === undefined) return
    const hasRoot = (id: string): boolean => {
      const d = v.dirs.get(id)
      return d !== undefined && d.kind === 'dir' && d.entries.some((e) => e.name === content && e.kind === 'dir')
    }
    for (const d of layout.layerDirs) {
      if (d.kind !== 'dir' || !d.readable) continue
      const role = v.owners.get(d.name)?.role
      if (role !== 'container' && role !== 'init') continue
      const { ids, problems } = expectedLowerIds(v, d.name)
      const expected = problems.length === 0 && ids.length === 1 ? ids[0] : undefined
      // A container on no image has no lower dir and no lower-id.
      if (expected === null && d.lowerId.state === 'missing') continue
      let problem: string | undefined
      const lowerId = d.lowerId
      if (lowerId.state === 'ok') {
        // A layer dir that cannot be listed may well hold root/: dir-unreadable reports it.
        if (v.dirs.get(lowerId.value)?.readable === false) continue
        if (!hasRoot(lowerId.value)) problem = `it names ${v.driverPath}/${lowerId.value}, which ${v.dirs.get(lowerId.value)?.kind === 'dir' ? `has no ${content}/` : 'is missing'}`
        else if (typeof expected === 'string' && lowerId.value !== expected) problem = `it names ${v.driverPath}/${lowerId.value}, but the container's mount record gives ${v.driverPath}/${expected}`
      } else if (lowerId.state === 'invalid') problem = `it holds ${JSON.stringify(lowerId.raw)}, ${lowerId.reason}`
      else if (lowerId.state === 'unreadable') problem = `it cannot be read (${lowerId.code}: ${lowerId.reason})`
      else problem = `it is ${lowerId.state}`
      if (problem === undefined) continue
      const fixable = typeof expected === 'string' && hasRoot(expected)
      ctx.report({
        path: `${d.path}/lower-id`,
        message: `${problem}; the ${role === 'init' ? 'init layer' : 'container'} cannot be mounted${fixable ? `; the records give ${expected}` : ''}`,
        detail: fixable
          ? { lowerId: expected, root: `${v.driverPath}/${expected}/${content}` }
          : { reason: problems.length > 0 ? problems.join('; ') : typeof expected === 'string' ? `${v.driverPath}/${expected} has no ${content}/` : 'its containers disagree on the layer' },
      })
    }
  },
}
