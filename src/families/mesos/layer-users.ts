/**
 * Who may still read a layer's variant: the provisioner's containers (by
 * their layers checkpoint, or every variant their backend reads when they
 * have none) and, when asked, every mount (an overlay lowerdir or aufs
 * branch, through the `links` symlinks Mesos mounts by, or a mount inside
 * it). Read fresh from the disk each time: migrate asks before pruning a
 * source variant, gc right before it prunes a layer, after it may have
 * failed to remove a container.
 */
import { isErrno } from '../../errors.js'
import { escapeName } from '../../fs/name-bytes.js'
import type { FsPort } from '../../fs/port.js'
import { basename, dirname } from '../../fs/safe-path.js'
import { MesosData } from './data.js'
import { BACKENDS, rootfsDirFor, type Backend, type FormatDescriptor } from './descriptor.js'
import { layersDir } from './paths.js'

/** A container provisioned under another backend than the one a migration moves to. */
export interface OldBackendContainer {
  key: string
  path: string
  backends: string[]
}

export interface ContainerScan {
  containers: OldBackendContainer[]
  /** Variant paths (layers/<id>/<variant>, real paths) something may still read, and what. */
  protectedPaths: Map<string, string>
  /** Variant dirs read, in every layer, by containers whose layer list is unknown, and which container. */
  protectedDirs: Map<string, string>
}

/** The path with every symlink resolved, or as given where it cannot be (gone, unreadable): only a key to compare. */
async function realOrAsIs(fs: FsPort, path: string): Promise<string> {
  try {
    return await fs.realpath(path)
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR', 'ELOOP', 'EACCES', 'EPERM')) return path
    throw err
  }
}

/** The variant (`<store>/layers/<id>/<variant>`) a real path is, or lies in; undefined outside every layer. */
export function variantHolding(store: string, path: string): string | undefined {
  const root = `${layersDir(store)}/`
  if (!path.startsWith(root)) return undefined
  const [id, variant] = path.slice(root.length).split('/')
  return id && variant ? `${root}${id}/${variant}` : undefined
}

/** The lower branches a mount line names: overlay's `lowerdir=a:b`, aufs' `br:a=rw:b=ro` (or `br=`). */
function mountBranches(options: readonly string[]): string[] {
  const out: string[] = []
  const split = (list: string): string[] =>
    list
      .split(/(?<!\\):/)
      .map((e) => e.replace(/\\:/g, ':'))
      .filter((e) => e !== '')
  for (const o of options) {
    if (o.startsWith('lowerdir=')) out.push(...split(o.slice('lowerdir='.length)))
    else if (o.startsWith('br:') || o.startsWith('br=')) out.push(...split(o.slice(3)).map((b) => b.replace(/=[a-z+]+$/, '')))
  }
  return out.filter((b) => b.startsWith('/'))
}

/**
 * The provisioner's containers: those under another backend are reported,
 * and every variant any container may read is kept from pruning. A
 * container's own checkpoint names its layer paths (Mesos >= 1.5); without
 * one, every layer's variant its backends read in the current format counts.
 * With pruning asked, so is every variant a mount reads (a lowerdir or aufs
 * branch, through the `links` symlinks Mesos mounts by) or has a mount
 * inside. Paths are compared real: the store may be named through a symlink.
 */
export async function scanLayerUsers(
  fs: FsPort,
  store: string,
  provisioner: string | undefined,
  current: Readonly<FormatDescriptor>,
  toBackend: Backend,
  mounts: boolean,
): Promise<ContainerScan> {
  const scan: ContainerScan = { containers: [], protectedPaths: new Map(), protectedDirs: new Map() }
  const protect = (path: string, why: string): void => {
    const variant = variantHolding(store, path)
    if (variant !== undefined && !scan.protectedPaths.has(variant)) scan.protectedPaths.set(variant, why)
  }
  if (provisioner !== undefined) {
    for (const c of await new MesosData(fs, store, provisioner, {}).containers()) {
      const backends = c.backends.map((b) => b.name).sort()
      const others = backends.filter((b) => b !== toBackend)
      if (others.length > 0) scan.containers.push({ key: c.key, path: c.path, backends: others })
      const reason = `container ${c.key} may still read it`
      if (c.layers.state === 'ok') {
        for (const p of c.layers.value.paths) protect(`${await realOrAsIs(fs, dirname(p))}/${basename(p)}`, reason)
      } else {
        for (const b of backends) {
          if ((BACKENDS as readonly string[]).includes(b)) scan.protectedDirs.set(rootfsDirFor(current, b as Backend).dir, reason)
        }
      }
    }
  }
  if (mounts) {
    for (const m of await fs.mounts()) {
      for (const branch of mountBranches([...m.superOptions, ...m.options])) {
        protect(await realOrAsIs(fs, branch), `the ${m.fsType} mount at ${escapeName(m.mountPoint)} may still read it`)
      }
      protect(m.mountPoint, `${escapeName(m.mountPoint)} is mounted inside it`)
    }
  }
  scan.containers.sort((a, b) => (a.key < b.key ? -1 : 1))
  return scan
}

