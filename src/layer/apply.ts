/**
 * Applies one layer onto a directory with copy-backend semantics: what
 * Mesos' copy backend and `docker load` do, layer by layer. Whiteouts and
 * opaque markers in a layer hide entries of the layers below only, so a
 * directory's hiding happens before its own entries are copied (OCI image
 * spec, "Whiteouts": an entry in the same layer as its whiteout wins).
 *
 * Names in the whiteout namespace that are not whiteouts (aufs meta files,
 * `.wh.`, a directory called `.wh.x`) are never copied into a rootfs; the
 * codec reports them instead.
 */
import type { FsPort, Inode } from '../fs/port.js'
import { inodeKey } from '../fs/port.js'
import { removeTree } from '../fs/remove.js'
import { classifyAufsName, isWhiteoutDevice, OVERLAY_XATTR } from './whiteout-names.js'
import { isOpaqueDir, type WhiteoutForm } from './whiteout-codec.js'

export interface ApplyReport {
  copied: number
  hidden: number
}

export async function applyLayer(fs: FsPort, layer: string, target: string, form: WhiteoutForm): Promise<ApplyReport> {
  const report: ApplyReport = { copied: 0, hidden: 0 }
  const linked = new Map<string, string>()
  const dirTimes: { path: string; inode: Inode }[] = []
  const stack: { src: string; dst: string }[] = [{ src: layer, dst: target }]
  while (stack.length > 0) {
    const { src, dst } = stack.pop()!
    const entries = await fs.readdir(src)
    const opaque =
      form === 'aufs' ? entries.some((e) => e.kind === 'file' && classifyAufsName(e.name)?.type === 'opaque') : await isOpaqueDir(fs, src)
    if (opaque) {
      for (const lower of await fs.readdir(dst)) await removeTree(fs, `${dst}/${lower.name}`)
      report.hidden += 1
    }
    const copy: typeof entries = []
    for (const e of entries) {
      const aufs = classifyAufsName(e.name)
      if (aufs !== undefined) {
        if (form === 'aufs' && aufs.type === 'whiteout' && e.kind === 'file') {
          await removeTree(fs, `${dst}/${aufs.target}`)
          report.hidden += 1
        }
        continue
      }
      if (form === 'overlay' && e.kind === 'char') {
        if (isWhiteoutDevice(await fs.lstat(`${src}/${e.name}`))) {
          await removeTree(fs, `${dst}/${e.name}`)
          report.hidden += 1
          continue
        }
      }
      copy.push(e)
    }
    for (const e of copy) {
      const from = `${src}/${e.name}`
      const to = `${dst}/${e.name}`
      const inode = (await fs.lstat(from))!
      const existing = await fs.lstat(to)
      if (existing && !(existing.kind === 'dir' && inode.kind === 'dir')) await removeTree(fs, to)
      if (inode.kind !== 'dir' && inode.nlink > 1) {
        const first = linked.get(inodeKey(inode))
        if (first !== undefined) {
          await fs.link(first, to)
          report.copied += 1
          continue
        }
        linked.set(inodeKey(inode), to)
      }
      await copyEntry(fs, from, to, inode, existing?.kind === 'dir')
      report.copied += 1
      if (inode.kind === 'dir') {
        dirTimes.push({ path: to, inode })
        stack.push({ src: from, dst: to })
      }
    }
  }
  // Children change a directory's mtime, so directories get theirs last.
  for (const d of dirTimes.reverse()) await fs.lutimes(d.path, d.inode.mtimeNs, d.inode.mtimeNs)
  return report
}

async function copyEntry(fs: FsPort, from: string, to: string, inode: Inode, exists: boolean): Promise<void> {
  switch (inode.kind) {
    case 'dir':
      if (!exists) await fs.mkdir(to, 0o700)
      break
    case 'file': {
      const handle = await fs.openWrite(to, { mode: 0o600, exclusive: true })
      try {
        // Empty files are not opened (a mode-0 file is unreadable unless root).
        if (inode.size > 0) for await (const chunk of (await fs.openRead(from)) as AsyncIterable<Uint8Array>) await handle.write(chunk)
      } finally {
        await handle.close()
      }
      break
    }
    case 'symlink':
      await fs.symlink(await fs.readlink(from), to)
      break
    case 'char':
    case 'block':
    case 'fifo':
      await fs.mknod(to, inode.kind, 0o600, inode.rdev)
      break
    case 'socket':
      // A socket is bound by a process; there is nothing to copy.
      return
  }
  await fs.lchown(to, inode.uid, inode.gid)
  if (inode.kind !== 'symlink') await fs.chmod(to, inode.mode)
  for (const name of await fs.xattr.list(from)) {
    if (OVERLAY_XATTR.test(name)) continue
    const value = await fs.xattr.get(from, name)
    if (value !== undefined) await fs.xattr.set(to, name, value)
  }
  if (inode.kind !== 'dir') await fs.lutimes(to, inode.mtimeNs, inode.mtimeNs)
}

