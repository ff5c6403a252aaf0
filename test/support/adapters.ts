/**
 * The two adapters as test subjects. Every feature suite runs `forEachAdapter`
 * so that each case runs in memory and on the real disk (in a temp dir).
 * Cases that need root on disk are skipped elsewhere with a printed reason.
 */
import { execFileSync } from 'node:child_process'
import { createMemoryFs, type MemoryFs } from '../../src/fs/memory.js'
import { createNodeFs, makeTempDir, removeTempDir } from '../../src/fs/node.js'
import type { FsPort } from '../../src/fs/port.js'

export interface Subject {
  name: 'memory' | 'disk'
  fs: FsPort
  /** A fresh empty directory for this case. */
  root: string
  /** True when this adapter can do root-only things here (mknod, trusted.* xattrs, mounts). */
  privileged: boolean
  /** Mounts a fresh tmpfs on `dir` (a real mount on disk, a table entry in memory). */
  mountTmpfs(dir: string): Promise<void>
  cleanup(): Promise<void>
}

export const isRoot = process.getuid?.() === 0

let warned = false
export function rootSkipReason(): string {
  if (isRoot) return ''
  if (!warned) {
    warned = true
    console.warn('layerfsck tests: not running as root; disk cases that need mknod, trusted.* xattrs or mounts are skipped')
  }
  return 'needs root (mknod, trusted.* xattrs or mounts)'
}

export async function memorySubject(options: { uid?: number } = {}): Promise<Subject & { fs: MemoryFs }> {
  const fs = createMemoryFs({ umask: 0o022, ...options })
  await fs.mkdir('/work', 0o755)
  return {
    name: 'memory',
    fs,
    root: '/work',
    privileged: (options.uid ?? 0) === 0,
    async mountTmpfs(dir) {
      fs.mount({ mountPoint: dir, fsType: 'tmpfs', source: 'tmpfs' })
    },
    async cleanup() {},
  }
}

export async function diskSubject(): Promise<Subject> {
  const root = makeTempDir('layerfsck-test-')
  const mounted: string[] = []
  const fs = createNodeFs()
  return {
    name: 'disk',
    fs,
    root,
    privileged: isRoot,
    async mountTmpfs(dir) {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dir])
      mounted.push(dir)
    },
    async cleanup() {
      for (const dir of mounted.reverse()) {
        try {
          execFileSync('umount', ['-l', dir], { stdio: 'ignore' })
        } catch {
          // already unmounted by the test itself
        }
      }
      removeTempDir(root)
    },
  }
}

export const SUBJECTS: { name: 'memory' | 'disk'; make: () => Promise<Subject> }[] = [
  { name: 'memory', make: () => memorySubject() },
  { name: 'disk', make: () => diskSubject() },
]
