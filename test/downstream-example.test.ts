/**
 * The example from docs/testing.md, run as written: a downstream project
 * that already keeps its fixtures in a memfs Volume tests its own code
 * against a Mesos store through `layerfsck/testing`. It imports the package
 * by name, so it exercises the published entry points.
 */
import { Volume } from 'memfs'
import { describe, expect, it } from 'vitest'
import { detect } from 'layerfsck'
import { createMemoryFs, generateMesosStore, listTree, materialize, parseTreeSpec, withCrashAfter } from 'layerfsck/testing'

describe('a downstream suite on memfs', () => {
  it('builds a Mesos 1.8 store in its own Volume and sees what layerfsck detects', async () => {
    const volume = Volume.fromJSON({ '/etc/agent.conf': 'work_dir=/var/lib/mesos' })
    const fs = createMemoryFs({ volume })
    await generateMesosStore(fs, '/tmp/mesos/store/docker', { format: '1.8.0', layers: 2 })

    const report = await detect(fs, { store: '/tmp/mesos/store/docker' })

    expect(report.format.version).toBe('1.8.0')
    expect(volume.existsSync('/tmp/mesos/store/docker/storedImages')).toBe(true)
  })

  it('describes a layer with a whiteout as text and gets the same text back', async () => {
    const fs = createMemoryFs()
    await fs.mkdir('/layer')
    await materialize(fs, '/layer', parseTreeSpec('etc/gone char mode=0000 rdev=0:0\netc/kept file content=x'))
    expect(await listTree(fs, '/layer', { content: 'full' })).toMatch(/etc\/gone char mode=0000 uid=0 gid=0 rdev=0:0/)
  })

  it('stops a writer after its second step, as a crash would', async () => {
    const fs = withCrashAfter(createMemoryFs(), 2)
    await fs.mkdir('/a')
    await fs.mkdir('/a/b')
    await expect(fs.mkdir('/a/b/c')).rejects.toThrow(/simulated crash/)
  })
})
