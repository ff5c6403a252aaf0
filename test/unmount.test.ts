import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { writeFileAll } from '../src/fs/io.js'
import { formatMountInfo, parseMountInfo } from '../src/fs/mountinfo.js'
import { createNodeFs } from '../src/fs/node.js'
import type { FsPort, MountEntry } from '../src/fs/port.js'
import { MountedBelowError, mountsAtOrBelow, removeTree } from '../src/fs/remove.js'
import { unmountTree } from '../src/steps/unmount.js'
import { SUBJECTS, type Subject } from './support/adapters.js'

/** A host's table with a mount whose directory was removed, below the tree the tests work on. */
const table = (at: string): string =>
  [
    '22 1 0:21 / / rw - ext4 /dev/vda rw',
    `40 22 0:50 / ${at}/rootfs\\040(deleted) rw - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w`,
    `41 40 0:51 / ${at}/rootfs/proc\\040(deleted) rw - proc proc rw`,
    `42 22 0:52 / ${at}-other rw - tmpfs tmpfs rw`,
  ].join('\n')

/**
 * The adapter reading that table as its mount table (the disk adapter parses
 * a mountinfo file; the memory adapter is handed the parsed lines), with
 * unmount recorded instead of done: the table describes mounts that are not there.
 */
async function withTable(s: Subject, text: string): Promise<{ fs: FsPort; unmounted: string[] }> {
  let mounts: () => Promise<MountEntry[]>
  if (s.name === 'disk') {
    const file = `${s.root}/mountinfo`
    await writeFileAll(s.fs, file, `${text}\n`)
    const disk = createNodeFs({ mountInfoPath: file })
    mounts = () => disk.mounts()
  } else {
    mounts = async () => parseMountInfo(text)
  }
  const unmounted: string[] = []
  const fs = new Proxy(s.fs, {
    get(target, key) {
      if (key === 'mounts') return mounts
      if (key === 'unmount') return async (path: string) => void unmounted.push(path)
      const value = Reflect.get(target, key) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { fs, unmounted }
}

for (const { name, make } of SUBJECTS) {
  describe(`unmounting a tree on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    it('finds a mount point the table marks (deleted), and its children, and unmounts them by their paths, children first', async () => {
      const at = `${s.root}/c1`
      const { fs, unmounted } = await withTable(s, table(at))
      expect((await fs.mounts()).filter((m) => m.deleted).map((m) => m.mountPoint)).toEqual([`${at}/rootfs`, `${at}/rootfs/proc`])
      await unmountTree(fs, `${at}/rootfs`)
      expect(unmounted).toEqual([`${at}/rootfs/proc`, `${at}/rootfs`])
    })

    it('sees the same mounts at or below a path as removeTree does, and not a sibling that shares a prefix', async () => {
      const at = `${s.root}/c1`
      const { fs, unmounted } = await withTable(s, table(at))
      await s.fs.mkdir(at, 0o755)
      expect(mountsAtOrBelow(await fs.mounts(), at).map((m) => m.id)).toEqual([41, 40])
      await expect(removeTree(fs, at)).rejects.toBeInstanceOf(MountedBelowError)
      await unmountTree(fs, at)
      expect(unmounted).toEqual([`${at}/rootfs/proc`, `${at}/rootfs`])
      expect(formatMountInfo(await fs.mounts())).toBe(table(at))
    })
  })
}
