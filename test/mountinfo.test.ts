import { describe, expect, it } from 'vitest'
import { formatMountInfo, mountContaining, optionMap, parseMountInfo } from '../src/fs/mountinfo.js'

const TABLE = `22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw
36 22 0:45 / /var/lib/mesos/provisioner/containers/c1/backends/overlay/rootfses/r\\0401 rw,relatime shared:7 master:3 - overlay overlay rw,lowerdir=/tmp/abc/1:/tmp/abc/0,upperdir=/u,workdir=/w
37 22 0:46 / /tmp rw - tmpfs tmpfs rw,size=16m
`

describe('the mountinfo parser', () => {
  it('reads ids, device, mount point with escapes, optional fields, type, source and options', () => {
    const [root, overlay] = parseMountInfo(TABLE)
    expect(root).toMatchObject({ id: 22, parentId: 1, dev: { major: 0, minor: 21 }, mountPoint: '/', fsType: 'ext4' })
    expect(overlay?.mountPoint).toBe('/var/lib/mesos/provisioner/containers/c1/backends/overlay/rootfses/r 1')
    expect(overlay?.fsType).toBe('overlay')
    expect(optionMap(overlay!.superOptions).get('lowerdir')).toBe('/tmp/abc/1:/tmp/abc/0')
  })

  it('formats a table it parses back to the same entries', () => {
    const entries = parseMountInfo(TABLE)
    expect(parseMountInfo(formatMountInfo(entries))).toEqual(entries)
  })

  it('finds the innermost mount holding a path', () => {
    const entries = parseMountInfo(TABLE)
    expect(mountContaining(entries, '/tmp/x')?.fsType).toBe('tmpfs')
    expect(mountContaining(entries, '/tmpx')?.fsType).toBe('ext4')
  })

  it('splits the kernel\'s (deleted) suffix off a removed mount point, once, and writes it back', () => {
    const table = `${TABLE}38 37 0:47 / /tmp/gone\\040(deleted) rw - tmpfs tmpfs rw\n39 37 0:48 / /tmp/a\\040b rw - tmpfs tmpfs rw\n`
    const entries = parseMountInfo(table)
    expect(entries.map((m) => [m.mountPoint, m.deleted])).toEqual([
      ['/', false],
      ['/var/lib/mesos/provisioner/containers/c1/backends/overlay/rootfses/r 1', false],
      ['/tmp', false],
      ['/tmp/gone', true],
      ['/tmp/a b', false],
    ])
    expect(formatMountInfo(entries)).toContain(' /tmp/gone\\040(deleted) ')
    expect(parseMountInfo(formatMountInfo(entries))).toEqual(entries)
    expect(mountContaining(entries, '/tmp/gone/x')?.id).toBe(38)
  })

  it('skips lines that are not mountinfo', () => {
    expect(parseMountInfo('garbage\n\n1 2 3')).toEqual([])
  })
})
