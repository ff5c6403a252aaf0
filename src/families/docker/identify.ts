/**
 * How a Docker data root proves itself: `image/<driver>/layerdb` of a driver
 * this family reads (overlay2, overlay). A data root of another driver is
 * recognised and named, and refused: its layout is not one whose rules
 * layerfsck knows, and guessing would be destructive.
 */
import { phrase } from '../../detect/identify.js'
import type { Looks, StoreEvidence } from '../../family/types.js'
import type { DirEntry, FsPort } from '../../fs/port.js'
import { detectDrivers } from './model.js'
import { layerDbDir } from './paths.js'

export async function dockerEvidence(fs: FsPort, dir: string, entries: DirEntry[]): Promise<StoreEvidence[]> {
  if (!entries.some((e) => e.name === 'image' && e.kind === 'dir')) return []
  const drivers = await detectDrivers(fs, dir)
  return drivers
    .filter((d) => d.supported && d.layerDb)
    .map((d) => ({
      id: `docker-${d.name}-layerdb`,
      path: layerDbDir(dir, d.name),
      describe: `image/${d.name}/layerdb: Docker's layer store for the ${d.name} driver${d.driverDir ? `, beside ${d.name}/` : ''}`,
    }))
}

export async function dockerUnsupported(fs: FsPort, dir: string, entries: DirEntry[]): Promise<Looks | undefined> {
  if (!entries.some((e) => e.name === 'image' && e.kind === 'dir')) return undefined
  const drivers = (await detectDrivers(fs, dir)).filter((d) => d.layerDb)
  if (drivers.length === 0 || drivers.some((d) => d.supported)) return undefined
  const names = drivers.map((d) => d.name)
  const markers = names.map((d) => `image/${d}/layerdb`)
  const title = `a Docker data root of the ${names.join(', ')} storage driver${names.length === 1 ? '' : 's'}, which layerfsck does not read (it reads overlay2 and overlay)`
  return {
    kind: 'docker-unsupported-driver',
    drivers: names,
    markers,
    title,
    shows: markers,
    describe: phrase(title, markers),
    hint: 'layerfsck checks Docker data roots of the overlay2 and overlay drivers only; nothing was read or changed',
  }
}
