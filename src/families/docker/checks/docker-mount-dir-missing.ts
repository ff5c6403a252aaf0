import type { CheckSpec } from '../../../check/types.js'
import type { DockerData } from '../data.js'
import type { ValueState } from '../model.js'
import { viewOf } from './view.js'

function describe(v: ValueState): string {
  switch (v.state) {
    case 'missing':
      return 'is missing'
    case 'empty':
      return 'is empty'
    case 'invalid':
      return `holds ${JSON.stringify(v.raw)}, ${v.reason}`
    case 'unreadable':
      return `cannot be read (${v.code}: ${v.reason})`
    default:
      return 'is fine'
  }
}

export const dockerMountDirMissing: CheckSpec<DockerData> = {
  code: 'docker-mount-dir-missing',
  pass: 'references',
  severity: 'error',
  title: "a container's read-write or init layer dir is gone, or its mount record does not name one",
  explain:
    'layerdb/mounts/<container id> names the container\'s read-write layer (mount-id) and its init layer ' +
    "(init-id, <mount-id>-init) under the driver dir. When a dir is gone or the record's ids are unusable, the " +
    "container cannot start, `docker rm` of it fails half-way, and what it wrote is lost; nothing can rebuild it.",
  fix: { by: 'operator', describe: 'remove the container (docker rm -f) and create it again; copy out what it holds first if its read-write dir is still there' },
  async run(ctx) {
    const v = await viewOf(ctx.data)
    const { idShapes } = v.format
    for (const m of v.model.mounts) {
      if (m.kind !== 'dir' || !m.readable) continue
      const ids: [string, ValueState, RegExp][] = [
        ['mount-id', m.mountId, idShapes.mountId],
        ['init-id', m.initId, idShapes.initId],
      ]
      for (const [file, value, shape] of ids) {
        // A container made without an init layer has no init-id.
        if (file === 'init-id' && value.state === 'missing') continue
        if (value.state !== 'ok') {
          ctx.report({ path: `${m.path}/${file}`, message: `container ${m.containerId}'s ${file} ${describe(value)}`, detail: { container: m.containerId } })
          continue
        }
        if (!shape.test(value.value)) {
          ctx.report({ path: `${m.path}/${file}`, message: `container ${m.containerId}'s ${file} ${JSON.stringify(value.value)} is not of the shape the driver gives it`, detail: { container: m.containerId } })
          continue
        }
        if (v.model.driverDir.state === 'unreadable') continue
        const d = v.dirs.get(value.value)
        const path = `${v.driverPath}/${value.value}`
        if (d === undefined || d.kind !== 'dir') {
          const what = file === 'mount-id' ? 'read-write layer' : 'init layer'
          ctx.report({ path, message: `container ${m.containerId}'s ${what} (${m.path}/${file}) ${d === undefined ? 'is missing' : `is a ${d.kind}, not a dir`}`, detail: { container: m.containerId } })
        }
      }
    }
  },
}
