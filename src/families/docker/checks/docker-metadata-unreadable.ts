import type { CheckSpec } from '../../../check/types.js'
import { UNREADABLE } from '../../../check/data.js'
import type { DockerData } from '../data.js'
import type { ValueState } from '../model.js'

/** A field state that is damage: what Docker cannot parse either. Missing ones are each check's business. */
const damaged = (v: ValueState<unknown>): v is Extract<ValueState<unknown>, { state: 'invalid' | 'unreadable' | 'empty' }> =>
  v.state === 'invalid' || v.state === 'unreadable' || v.state === 'empty'

const says = (v: Extract<ValueState<unknown>, { state: 'invalid' | 'unreadable' | 'empty' }>): string =>
  v.state === 'empty' ? 'is empty' : v.state === 'invalid' ? `is not valid: ${v.reason}` : `cannot be read (${v.code}): ${v.reason}`

export const dockerMetadataUnreadable: CheckSpec<DockerData> = {
  code: 'docker-metadata-unreadable',
  pass: 'references',
  severity: 'error',
  title: 'a metadata file Docker needs is damaged or cannot be read',
  explain:
    "Every other Docker check reads the layer and mount records, image metadata and container configs; this one " +
    "reports what none of them could use, so nothing unreadable passes in silence: a layer record's diff, parent or " +
    'size that is empty or not valid (dockerd then fails to load the layer, and every image on it vanishes), a ' +
    "container's config.v2.json that is not JSON, a file larger than layerfsck reads, a dir where a file belongs. " +
    'Directories this process may not list are reported by dir-unreadable instead; a cache-id by docker-cache-id-invalid.',
  fix: { by: 'operator', describe: 'restore the file from a backup or from the record it mirrors; or remove the image or container (docker rmi, docker rm) and load it again' },
  async run(ctx) {
    const model = await ctx.data.model()
    const reported = new Set<string>()
    const report = (path: string, message: string): void => {
      if (reported.has(path)) return
      reported.add(path)
      ctx.report({ path, message })
    }
    for (const l of model.layers) {
      if (l.removing) continue
      for (const [file, v] of [['diff', l.diffId], ['parent', l.parent], ['size', l.size]] as const) {
        if (damaged(v)) report(`${l.path}/${file}`, `layer ${l.chainId ?? l.name}'s ${file} ${says(v)}`)
      }
    }
    for (const m of model.mounts) if (damaged(m.parent)) report(`${m.path}/parent`, `container ${m.containerId}'s image layer (parent) ${says(m.parent)}`)
    for (const c of model.containers) if (damaged(c.config)) report(`${c.path}/config.v2.json`, `container ${c.id}'s config ${says(c.config)}`)
    // What the model could not read at all, other than a directory it may not list (dir-unreadable's).
    for (const u of model.unreadable) if (!UNREADABLE.includes(u.code)) report(u.path, `cannot be read (${u.code}): ${u.reason}`)
  },
}
