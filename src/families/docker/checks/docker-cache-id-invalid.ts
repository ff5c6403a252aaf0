import { FixRefusedError } from '../../../check/checks/refuse.js'
import type { CheckSpec } from '../../../check/types.js'
import { writeFileDurable } from '../../../fs/io.js'
import type { DockerData } from '../data.js'
import type { ValueState } from '../model.js'
import { dirname } from '../../../fs/safe-path.js'
import { isRealDir, readSmall, viewOf } from './view.js'

function stateOf(v: ValueState): string {
  switch (v.state) {
    case 'missing':
      return 'there is no cache-id file'
    case 'empty':
      return 'the cache-id is empty'
    case 'invalid':
      return `the cache-id ${JSON.stringify(v.raw)} is ${v.reason}`
    case 'unreadable':
      return `the cache-id cannot be read (${v.code}: ${v.reason})`
    default:
      return 'the cache-id is fine'
  }
}

export const dockerCacheIdInvalid: CheckSpec<DockerData> = {
  code: 'docker-cache-id-invalid',
  pass: 'references',
  severity: 'error',
  title: "a layer record's cache-id is missing, empty, invalid or unreadable",
  explain:
    "A layer record's cache-id names its dir under the driver dir. When Docker cannot use it, the layer does not " +
    'load, and every image and container on it vanishes with only "layer does not exist" in the log; prune frees ' +
    'nothing, and the dir stays. Writing the right cache-id back restores them all. The right one can be told from ' +
    "overlay2's lower chains (a child layer's lower names the layer's short link first, a container's second, after " +
    'its init layer) or from the legacy driver\'s lower-id files: when they point to exactly one dir that nothing ' +
    'else names and whose own lower fits the record, -y writes it back.',
  fix: {
    by: 'check',
    describe: 'write back the cache-id that the layers and containers on top of it point to, when exactly one unnamed dir fits; otherwise restore it by hand or remove the images (docker rmi) and load or pull them again',
    safe: false,
    isDone: async (ctx, f) => {
      const candidate = f.detail?.['candidate']
      return typeof candidate === 'string' && (await readSmall(ctx.fs, f.path))?.trim() === candidate
    },
    apply: async (ctx, f) => {
      const candidate = f.detail?.['candidate']
      if (typeof candidate !== 'string') throw new FixRefusedError(`not written: ${String(f.detail?.['reason'] ?? 'no dir can be told for it')}`)
      const dir = String(f.detail?.['dir'])
      if (!(await isRealDir(ctx.fs, dir))) throw new FixRefusedError(`not written: ${dir} is no longer a dir`)
      if (!(await isRealDir(ctx.fs, dirname(f.path)))) throw new FixRefusedError(`not written: ${dirname(f.path)} is no longer a dir`)
      const now = await ctx.fs.lstat(f.path)
      if (now !== undefined && now.kind !== 'file') throw new FixRefusedError(`not written: ${f.path} is a ${now.kind}, not a file`)
      // As layer/filestore.go writes it: the bare id, no newline.
      await writeFileDurable(ctx.fs, f.path, Buffer.from(candidate), 0o644)
    },
  },
  async run(ctx) {
    const v = await viewOf(ctx.data)
    for (const r of v.live.values()) {
      if (!r.readable || r.cacheId.state === 'ok') continue
      const derived = v.cacheIds.get(r.name)
      const candidate = derived?.candidate
      const reason = derived?.reason ?? 'no dir can be told for it'
      ctx.report({
        path: `${r.path}/cache-id`,
        message:
          `${stateOf(r.cacheId)}, so layer ${r.chainId} and every image and container on it are lost to Docker; ` +
          (candidate !== undefined ? `it must be ${candidate}: ${reason}` : `no cache-id can be told: ${reason}`),
        detail: candidate !== undefined ? { candidate, dir: `${v.driverPath}/${candidate}`, reason } : { reason },
      })
    }
  },
}
