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
import { createLike, fileData, likeOf } from './clone.js'

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
  // A socket is bound by a process; there is nothing to copy.
  if (inode.kind === 'socket') return
  const like = await likeOf(fs, from, inode, { keepXattr: (name) => !OVERLAY_XATTR.test(name) })
  // Empty files are not opened (a mode-0 file is unreadable unless root).
  const data = inode.kind === 'file' && inode.size > 0 ? fileData(fs, from) : undefined
  await createLike(fs, to, like, { dirExists: exists, ...(data ? { data } : {}) })
}
