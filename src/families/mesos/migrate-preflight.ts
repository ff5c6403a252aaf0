/**
 * What `migrate` makes sure of before it changes anything: that the target
 * backend can work on this host and this filesystem, and that this process
 * can create what the target form holds. Each answer is a check with a
 * status; a blocker stops a real run with exit 8, and a dry run shows it.
 */
import { OVERLAY_UNSUITABLE_FS } from '../../check/checks/host-fs-unsupported.js'
import { readKernelFilesystems, PROC_FILESYSTEMS } from '../../fs/kernel-filesystems.js'
import { escapeName } from '../../fs/name-bytes.js'
import { devKey, type FsPort } from '../../fs/port.js'
import { BACKEND_KERNEL_FS, type Backend } from './descriptor.js'
import { layersDir, stagingDir } from './paths.js'

export type PreflightCheckId = 'kernel-filesystem' | 'store-dtype' | 'store-filesystem' | 'staging-device' | 'credentials' | 'space'

export interface PreflightCheck {
  id: PreflightCheckId
  /** ok: holds; blocker: the migration cannot work here; warning: it may not; skipped: not asked (or cannot be). */
  status: 'ok' | 'blocker' | 'warning' | 'skipped'
  message: string
}

export interface Preflight {
  checks: PreflightCheck[]
  /** The blockers' messages, in order: empty when the migration may go ahead. */
  blockers: string[]
}

export interface PreflightInput {
  store: string
  toBackend: Backend
  /** Whether the plan creates or reads whiteout devices or trusted.* xattrs (the overlay form, either side). */
  privileged: boolean
  /** What the plan would add: inodes, and bytes of file data (only with --copy). */
  need: { inodes: number; bytes: number } | undefined
  /** Whether the plan builds or removes anything through `staging/` (a conversion or a prune). */
  usesStaging: boolean
  procFilesystems?: string
}

export async function runPreflight(fs: FsPort, input: PreflightInput): Promise<Preflight> {
  const checks: PreflightCheck[] = []
  const { store, toBackend } = input
  const needed = BACKEND_KERNEL_FS[toBackend]
  if (needed === undefined) {
    checks.push({ id: 'kernel-filesystem', status: 'skipped', message: `the ${toBackend} backend mounts no kernel filesystem` })
  } else {
    const path = input.procFilesystems ?? PROC_FILESYSTEMS
    const known = await readKernelFilesystems(fs, path)
    if (!(known instanceof Set)) {
      checks.push({ id: 'kernel-filesystem', status: 'warning', message: `could not read ${escapeName(path)} (${known.unreadable}); whether this kernel has ${needed} was not checked` })
    } else if (known.has(needed)) {
      checks.push({ id: 'kernel-filesystem', status: 'ok', message: `this kernel offers ${needed}` })
    } else {
      // Only overlay is a blocker: the operators move *to* overlay, and an aufs
      // store is also what copy and bind read, so a host without aufs may still use it.
      checks.push({
        id: 'kernel-filesystem',
        status: toBackend === 'overlay' ? 'blocker' : 'warning',
        message: `${escapeName(path)} does not list ${needed}: the ${toBackend} backend cannot mount layers on this host`,
      })
    }
  }

  if (toBackend === 'overlay') {
    const t = await fs.fsType(store)
    checks.push(
      t.dtype
        ? { id: 'store-dtype', status: 'ok', message: `${t.name} reports entry types (d_type)` }
        : { id: 'store-dtype', status: 'blocker', message: `the store's filesystem (${t.name}) reports no entry types (d_type), which overlayfs needs (xfs: mkfs.xfs -n ftype=1)` },
    )
    checks.push(
      OVERLAY_UNSUITABLE_FS.has(t.name)
        ? { id: 'store-filesystem', status: 'blocker', message: `the store is on ${t.name}, which overlayfs cannot use as a layer's filesystem` }
        : { id: 'store-filesystem', status: 'ok', message: `overlayfs can use ${t.name}` },
    )
  }

  checks.push(await stagingDevice(fs, store, input.usesStaging))

  if (input.privileged) {
    const c = await fs.credentials()
    const missing = [c.capMknod ? undefined : 'CAP_MKNOD (whiteout devices)', c.capSysAdmin ? undefined : 'CAP_SYS_ADMIN (trusted.* xattrs)'].filter((m) => m !== undefined)
    checks.push(
      missing.length === 0
        ? { id: 'credentials', status: 'ok', message: 'may create whiteout devices and trusted.* xattrs' }
        : { id: 'credentials', status: 'blocker', message: `the plan creates or reads overlay whiteouts and needs ${missing.join(' and ')}: run as root` },
    )
  } else {
    checks.push({ id: 'credentials', status: 'skipped', message: 'the plan makes no whiteout devices and reads no trusted.* xattrs' })
  }

  const need = input.need
  if (need === undefined || (need.inodes === 0 && need.bytes === 0)) {
    checks.push({ id: 'space', status: 'skipped', message: 'the plan adds nothing that takes space' })
  } else {
    const { free } = await fs.fsType(store)
    const short: string[] = []
    if (need.inodes > free.inodes) short.push(`${need.inodes} inodes, and ${free.inodes} are free`)
    if (need.bytes > free.bytes) short.push(`about ${need.bytes} bytes, and ${free.bytes} are free`)
    checks.push(
      short.length === 0
        ? { id: 'space', status: 'ok', message: `room for the plan: about ${need.inodes} inodes and ${need.bytes} bytes (${free.inodes} inodes and ${free.bytes} bytes free)` }
        : { id: 'space', status: 'blocker', message: `the plan needs ${short.join('; ')} on the store's filesystem` },
    )
  }
  return { checks, blockers: checks.filter((c) => c.status === 'blocker').map((c) => c.message) }
}

/**
 * Trees are built in `staging/` and renamed into `layers/<id>/` (and pruned
 * variants renamed the other way): hard links and renames cannot cross
 * filesystems, so with the two on different devices every step would fail
 * with EXDEV half-way through the run.
 */
async function stagingDevice(fs: FsPort, store: string, usesStaging: boolean): Promise<PreflightCheck> {
  if (!usesStaging) return { id: 'staging-device', status: 'skipped', message: 'the plan builds and removes nothing through staging/' }
  const staging = stagingDir(store)
  const layers = layersDir(store)
  // A missing staging/ is made inside the store dir, so the store dir's device is the one it gets.
  const [s, l] = [(await fs.lstat(staging)) ?? (await fs.lstat(store)), await fs.lstat(layers)]
  if (s === undefined || l === undefined) return { id: 'staging-device', status: 'skipped', message: 'the store has no layers/ to build into' }
  return devKey(s.dev) === devKey(l.dev)
    ? { id: 'staging-device', status: 'ok', message: 'staging/ and layers/ are on one filesystem' }
    : {
        id: 'staging-device',
        status: 'blocker',
        message: `${escapeName(staging)} (device ${devKey(s.dev)}) and ${escapeName(layers)} (device ${devKey(l.dev)}) are on different filesystems: hard links and renames between them fail (EXDEV); unmount what is mounted on one of them`,
      }
}
