/**
 * Which Docker format a data root is in: the newest descriptor of its
 * driver's line with evidence in the model (a lower bound, as for Mesos:
 * Docker writes no version marker either), or the stamp layerfsck left.
 */
import { readStamp } from '../../format/stamp.js'
import type { FsPort } from '../../fs/port.js'
import type { DockerEvidenceId, DockerFormat } from './formats/format.js'
import { dockerFormat, DOCKER_FORMATS_BY_DRIVER, dockerLine } from './formats/index.js'
import type { DockerModel } from './model.js'

/** What the model shows, per evidence id, with examples. */
export function dockerObservations(model: DockerModel): Map<DockerEvidenceId, string[]> {
  const seen = new Map<DockerEvidenceId, string[]>()
  const note = (id: DockerEvidenceId, path: string): void => {
    const list = seen.get(id) ?? []
    list.push(path)
    seen.set(id, list)
  }
  if (model.layerDb.state === 'ok') note('layerdb', model.layerDb.path)
  for (const l of model.layers) if (l.removing) note('removing-record', l.path)
  const layout = model.layout
  if (layout.driver === 'overlay2') {
    if (layout.linkDir.state === 'ok') note('short-links', layout.linkDir.path)
    for (const d of layout.layerDirs) {
      if (d.committed) note('committed-file', `${d.path}/committed`)
      if (d.kind === 'dir' && d.lower.state === 'ok' && d.merged === undefined) note('no-merged-at-rest', d.path)
    }
  } else {
    for (const d of layout.layerDirs) if (d.kind === 'dir' && d.upper !== undefined && d.merged === undefined) note('no-merged-at-rest', d.path)
  }
  return seen
}

export function chooseDockerFormat(model: DockerModel): Readonly<DockerFormat> {
  const seen = dockerObservations(model)
  const line = DOCKER_FORMATS_BY_DRIVER[model.driver]
  let chosen = line[0]!
  for (const f of line) if (f.evidence.some((e) => seen.has(e.id))) chosen = f
  return chosen
}

/** The stamp's format when it is of this driver's line, else what the model proves. */
export async function dockerFormatOf(fs: FsPort, model: DockerModel): Promise<Readonly<DockerFormat>> {
  const stamp = await readStamp(fs, model.root)
  if (stamp.state === 'ok' && stamp.stamp.family === dockerLine(model.driver)) return dockerFormat(model.driver, stamp.stamp.version)
  return chooseDockerFormat(model)
}
