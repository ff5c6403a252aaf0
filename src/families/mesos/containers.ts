/**
 * The one walk over nested Mesos containers, as the provisioner dir and the
 * agent's runtime dir both lay them out: `containers/<id>/containers/<child>/…`
 * to any depth. Each caller lists directories its own way (recording what
 * it cannot read, or refusing a liveness source it cannot read), so the walk
 * takes the lister; it never follows a symlink, since a listed entry is
 * descended into only when it is a directory.
 */
import type { DirEntry } from '../../fs/port.js'
import { containerKey } from './paths.js'

export interface ContainerEntry {
  /** The ids from the top container down to this one. */
  ids: string[]
  /** `parent/child`, the form --known-containers files use. */
  key: string
  path: string
  kind: DirEntry['kind']
}

/**
 * Every entry of every `containers/` dir below `root`, parents before their
 * children; `list` answers undefined for a dir that is not there.
 */
export async function* walkContainers(root: string, list: (path: string) => Promise<DirEntry[] | undefined>): AsyncGenerator<ContainerEntry> {
  const pending: { path: string; ids: string[] }[] = [{ path: `${root}/containers`, ids: [] }]
  while (pending.length > 0) {
    const { path: containersPath, ids: parentIds } = pending.shift()!
    for (const e of (await list(containersPath)) ?? []) {
      const ids = [...parentIds, e.name]
      const path = `${containersPath}/${e.name}`
      yield { ids, key: containerKey(ids), path, kind: e.kind }
      if (e.kind === 'dir') pending.push({ path: `${path}/containers`, ids })
    }
  }
}
