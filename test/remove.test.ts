import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { makeDirs, readTextLimited, writeFileAll } from '../src/fs/io.js'
import { createMemoryFs } from '../src/fs/memory.js'
import { MountedBelowError, removeTree } from '../src/fs/remove.js'
import { removeLeftover } from '../src/steps/remove-leftover.js'
import { listTree } from '../src/testing/tree-spec.js'
import { rootSkipReason, SUBJECTS, type Subject } from './support/adapters.js'

for (const subject of SUBJECTS) {
  describe(`removeTree (${subject.name})`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await subject.make()
    })
    afterEach(async () => s.cleanup())

    it('removes a tree with every kind of entry and never follows a symlink out of it', async () => {
      const outside = `${s.root}/outside`
      await makeDirs(s.fs, outside)
      await writeFileAll(s.fs, `${outside}/keep`, 'keep')
      const tree = `${s.root}/tree`
      await makeDirs(s.fs, `${tree}/a/b/c`)
      await writeFileAll(s.fs, `${tree}/a/b/c/file`, 'x')
      await s.fs.symlink(outside, `${tree}/a/escape`)
      await s.fs.mknod(`${tree}/a/fifo`, 'fifo', 0o644)
      await removeTree(s.fs, tree)
      expect(await s.fs.lstat(tree)).toBeUndefined()
      expect(await readTextLimited(s.fs, `${outside}/keep`)).toBe('keep')
    })

    it('treats a path that is already gone as removed', async () => {
      await expect(removeTree(s.fs, `${s.root}/never-was`)).resolves.toBeUndefined()
    })

    it.skipIf(subject.name === 'disk' && rootSkipReason() !== '')('refuses a tree with a mount inside before removing anything, and the mount keeps its content', async () => {
      const tree = `${s.root}/tree`
      await makeDirs(s.fs, `${tree}/before`)
      await writeFileAll(s.fs, `${tree}/before/file`, 'mine')
      await makeDirs(s.fs, `${tree}/sub/mnt`)
      await s.mountTmpfs(`${tree}/sub/mnt`)
      await writeFileAll(s.fs, `${tree}/sub/mnt/precious`, 'live data')
      const before = await listTree(s.fs, tree)
      const err = await removeTree(s.fs, tree).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(MountedBelowError)
      expect((err as Error).message).toContain(`${tree}/sub/mnt is mounted inside ${tree}`)
      expect(await listTree(s.fs, tree)).toBe(before)
      expect(await readTextLimited(s.fs, `${tree}/sub/mnt/precious`)).toBe('live data')
      // The step that wraps it refuses the same way.
      await expect(removeLeftover(s.fs, `${tree}/sub`, [tree])).rejects.toBeInstanceOf(MountedBelowError)
      await expect(removeTree(s.fs, `${tree}/sub/mnt`)).rejects.toThrow(/is a mount point/)
    })
  })
}

describe('removeTree without a mount table entry', () => {
  it('stops at a directory on another device even when the table does not show the mount', async () => {
    const fs = createMemoryFs()
    await makeDirs(fs, '/t/a/mnt')
    fs.mount({ mountPoint: '/t/a/mnt', fsType: 'tmpfs' })
    await writeFileAll(fs, '/t/a/mnt/precious', 'live')
    // What a table read in another mount namespace, or before the mount, would show.
    const err = await removeTree(fs, '/t', { mounts: [] }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MountedBelowError)
    expect(await readTextLimited(fs, '/t/a/mnt/precious')).toBe('live')
  })
})

for (const subject of SUBJECTS) {
  describe(`removal within a root (${subject.name})`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await subject.make()
    })
    afterEach(async () => s.cleanup())

    it.skipIf(subject.name === 'disk' && rootSkipReason() !== '')('refuses a path with a mount between it and its root, and one on another filesystem', async () => {
      const store = `${s.root}/store`
      await makeDirs(s.fs, `${store}/staging`)
      await s.mountTmpfs(`${store}/staging`)
      await makeDirs(s.fs, `${store}/staging/FFFFFF`)
      await writeFileAll(s.fs, `${store}/staging/FFFFFF/f`, 'precious')
      const err = await removeLeftover(s.fs, `${store}/staging/FFFFFF`, [store]).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(MountedBelowError)
      expect((err as Error).message).toContain(`${store}/staging is mounted between ${store} and ${store}/staging/FFFFFF`)
      // Without the table's help the device still tells.
      await expect(removeTree(s.fs, `${store}/staging/FFFFFF`, { within: store, mounts: [] })).rejects.toThrow(/another filesystem/)
      expect(await readTextLimited(s.fs, `${store}/staging/FFFFFF/f`)).toBe('precious')
    })
  })
}
