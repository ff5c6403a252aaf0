/**
 * What `migrate` makes sure of before it changes anything: that the target
 * backend can work on this host and this filesystem, and that this process
 * can create what the target form holds. Each answer is a check with a
 * status; a blocker stops a real run with exit 8, and a dry run shows it.
 */
import { OVERLAY_UNSUITABLE_FS } from '../../check/checks/host-fs-unsupported.js'
import { isErrno } from '../../errors.js'
import { readTextLimited } from '../../fs/io.js'
import { escapeName } from '../../fs/name-bytes.js'
import type { FsPort } from '../../fs/port.js'
import type { Backend } from './descriptor.js'

export type PreflightCheckId = 'kernel-filesystem' | 'store-dtype' | 'store-filesystem' | 'credentials' | 'space'

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
  procFilesystems?: string
}

/** The kernel filesystem each backend mounts; copy and bind mount nothing. */
const BACKEND_FILESYSTEM: Record<Backend, string | undefined> = { overlay: 'overlay', aufs: 'aufs', copy: undefined, bind: undefined }

const DEFAULT_PROC_FILESYSTEMS = '/proc/filesystems'

async function kernelFilesystems(fs: FsPort, path: string): Promise<Set<string> | string> {
  try {
    const text = await readTextLimited(fs, path, 1024 * 1024)
    return new Set(text.split('\n').map((l) => l.trim().split(/\s+/).pop() ?? '').filter((n) => n !== ''))
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'EACCES', 'EPERM', 'ENOTDIR')) return (err as Error).message
    throw err
  }
}

export async function runPreflight(fs: FsPort, input: PreflightInput): Promise<Preflight> {
  const checks: PreflightCheck[] = []
  const { store, toBackend } = input
  const needed = BACKEND_FILESYSTEM[toBackend]
  if (needed === undefined) {
    checks.push({ id: 'kernel-filesystem', status: 'skipped', message: `the ${toBackend} backend mounts no kernel filesystem` })
  } else {
    const path = input.procFilesystems ?? DEFAULT_PROC_FILESYSTEMS
    const known = await kernelFilesystems(fs, path)
    if (typeof known === 'string') {
      checks.push({ id: 'kernel-filesystem', status: 'warning', message: `could not read ${escapeName(path)} (${known}); whether this kernel has ${needed} was not checked` })
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
