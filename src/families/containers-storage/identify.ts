/**
 * containers/storage (podman, CRI-O, buildah) graphroots: recognised so that
 * an operator who names one hears what it is, not yet read as a store
 * (ROADMAP: a later family, with additional image stores).
 */
import { phrase } from '../../detect/identify.js'
import type { Looks } from '../../family/types.js'
import type { DirEntry, FsPort } from '../../fs/port.js'

/** Markers of the layout (containers/storage store.go); data, as a format descriptor is. */
const CONTAINERS_STORAGE = {
  lock: 'storage.lock',
  /** `<driver>-layers/layers.json`, `<driver>-images/`. */
  layersDir: /^(.+)-layers$/,
  layersFile: 'layers.json',
  imagesDir: /^(.+)-images$/,
}

export async function containersStorageLooks(fs: FsPort, dir: string, entries: DirEntry[]): Promise<Looks | undefined> {
  const markers: string[] = []
  const drivers = new Set<string>()
  if (entries.some((e) => e.name === CONTAINERS_STORAGE.lock && e.kind === 'file')) markers.push(CONTAINERS_STORAGE.lock)
  for (const e of entries) {
    if (e.kind !== 'dir') continue
    const layers = CONTAINERS_STORAGE.layersDir.exec(e.name)
    if (layers && (await fs.lstat(`${dir}/${e.name}/${CONTAINERS_STORAGE.layersFile}`).catch(() => undefined))?.kind === 'file') {
      markers.push(`${e.name}/${CONTAINERS_STORAGE.layersFile}`)
      drivers.add(layers[1]!)
    }
    const images = CONTAINERS_STORAGE.imagesDir.exec(e.name)
    if (images) {
      markers.push(`${e.name}/`)
      drivers.add(images[1]!)
    }
  }
  // The lock alone is a weak sign; with a layers.json or an images dir it is the layout.
  if (drivers.size === 0) return undefined
  const title = 'a containers/storage graphroot (podman, CRI-O, buildah), which layerfsck does not read yet'
  return {
    kind: 'containers-storage',
    drivers: [...drivers].sort(),
    markers,
    title,
    shows: markers,
    describe: phrase(title, markers),
    hint: 'for this graphroot use podman system check; layerfsck reads Mesos docker stores and Docker overlay2/overlay data roots',
  }
}
