import { describe, expect, it } from 'vitest'
import { CrashError, withCrashAfter } from '../src/fs/crash.js'
import { writeFileDurable } from '../src/fs/io.js'
import { listTree } from '../src/testing/tree-spec.js'
import { memorySubject } from './support/adapters.js'

describe('crash injection', () => {
  it('lets the first N mutating calls through and refuses every later one', async () => {
    const { fs, root } = await memorySubject()
    const crashing = withCrashAfter(fs, 2)
    await crashing.mkdir(`${root}/a`)
    await crashing.mkdir(`${root}/b`)
    await expect(crashing.mkdir(`${root}/c`)).rejects.toBeInstanceOf(CrashError)
    await expect(crashing.unlink(`${root}/a`)).rejects.toBeInstanceOf(CrashError)
    expect(crashing.steps).toBe(2)
    expect(crashing.crashed).toBe(true)
    expect((await crashing.readdir(root)).map((e) => e.name).sort()).toEqual(['a', 'b'])
    expect(crashing.journal).toEqual([`mkdir ${root}/a`, `mkdir ${root}/b`])
  })

  it('leaves either the old or the new file after a durable write crashes at any step', async () => {
    const count = withCrashAfter((await memorySubject()).fs, Infinity)
    await writeFileDurable(count, '/work/meta', Buffer.from('new'))
    const steps = count.steps
    expect(steps).toBeGreaterThanOrEqual(5)
    for (let n = 0; n <= steps; n++) {
      const { fs } = await memorySubject()
      await writeFileDurable(fs, '/work/meta', Buffer.from('old'))
      const crashing = withCrashAfter(fs, n)
      await writeFileDurable(crashing, '/work/meta', Buffer.from('new')).catch((err) => {
        if (!(err instanceof CrashError)) throw err
      })
      const text = Buffer.from(await (async () => {
        const chunks: Buffer[] = []
        for await (const c of await fs.openRead('/work/meta')) chunks.push(c as Buffer)
        return Buffer.concat(chunks)
      })()).toString()
      expect(n < steps ? ['old', 'new'] : ['new']).toContain(text)
      if (n === steps) expect(await listTree(fs, '/work')).not.toMatch(/layerfsck-tmp/)
    }
  })
})
