import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { errnoError } from '../src/errors.js'
import { makeDirs, writeFileAll } from '../src/fs/io.js'
import type { FsPort } from '../src/fs/port.js'
import { findProcesses, readProcesses, readProcessUses } from '../src/fs/processes.js'
import { SUBJECTS, type Subject } from './support/adapters.js'

/** The port, counting listings of each directory, and refusing to list `denied` (EACCES). */
function watched(fs: FsPort, denied: readonly string[] = []): { fs: FsPort; listings: Map<string, number> } {
  const listings = new Map<string, number>()
  const port = new Proxy(fs, {
    get(target, key) {
      if (key === 'readdir') {
        return async (path: string) => {
          listings.set(path, (listings.get(path) ?? 0) + 1)
          if (denied.includes(path)) throw errnoError('EACCES', 'scandir', path)
          return target.readdir(path)
        }
      }
      const value = Reflect.get(target, key) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { fs: port, listings }
}

for (const { name, make } of SUBJECTS) {
  describe(`reading processes from a proc tree on the ${name} adapter`, () => {
    let s: Subject
    let proc: string
    beforeEach(async () => {
      s = await make()
      proc = `${s.root}/proc`
      await makeDirs(s.fs, `${s.root}/srv/app`)
      // An agent-like daemon at /, a shell working in /srv/app, one that exited between listing and look.
      for (const [pid, comm, cwd] of [
        ['4242', 'store-daemon\n', '/'],
        ['17', 'bash\n', `${s.root}/srv/app`],
      ] as const) {
        await makeDirs(s.fs, `${proc}/${pid}`)
        await writeFileAll(s.fs, `${proc}/${pid}/comm`, comm)
        await s.fs.symlink('/', `${proc}/${pid}/root`)
        await s.fs.symlink(cwd, `${proc}/${pid}/cwd`)
      }
      await makeDirs(s.fs, `${proc}/99`)
      await writeFileAll(s.fs, `${proc}/uptime`, '1.0 1.0\n')
    })
    afterEach(async () => {
      await s.cleanup()
    })

    it('answers names and the directories processes stand in from one listing of the proc root', async () => {
      const w = watched(s.fs)
      const all = await readProcesses(w.fs, { procRoot: proc, names: true, uses: true })
      expect(w.listings.get(proc)).toBe(1)
      expect(all.map((p) => [p.pid, p.name, p.uses.map((u) => `${u.as} ${u.path}`)])).toEqual([
        [17, 'bash', [`cwd ${s.root}/srv/app`, 'root /']],
        [99, undefined, []],
        [4242, 'store-daemon', ['cwd /', 'root /']],
      ])
      const app = all[0]!.uses[0]!
      expect(app.ino).toBe((await s.fs.lstat(`${s.root}/srv/app`))!.ino)
    })

    it('finds processes by name and reads their directories, each with one listing, as the guard and the mount check ask', async () => {
      const w = watched(s.fs)
      expect(await findProcesses(w.fs, ['store-daemon', 'other-daemon'], proc)).toEqual([{ pid: 4242, name: 'store-daemon' }])
      expect(w.listings.get(proc)).toBe(1)
      expect((await readProcessUses(w.fs, proc)).map((u) => `${u.pid} ${u.as}`)).toEqual(['17 cwd', '17 root', '4242 cwd', '4242 root'])
      expect(w.listings.get(proc)).toBe(2)
    })

    it('lists no process where there is no proc root, and refuses to answer when the proc root cannot be listed', async () => {
      expect(await findProcesses(s.fs, ['store-daemon'], `${s.root}/no-proc`)).toEqual([])
      expect(await readProcessUses(s.fs, `${s.root}/no-proc`)).toEqual([])
      // A guard that could not look must not say that nothing runs.
      const w = watched(s.fs, [proc])
      await expect(findProcesses(w.fs, ['store-daemon'], proc)).rejects.toMatchObject({ code: 'EACCES' })
      await expect(readProcessUses(w.fs, proc)).rejects.toMatchObject({ code: 'EACCES' })
    })
  })
}
