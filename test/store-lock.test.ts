/**
 * The store lock between real processes: concurrent imports queue and all
 * land, a command that arrives while another layerfsck holds the lock waits
 * and then names it, and a SIGKILLed holder leaves nothing locked. These run
 * the built CLI (`npm test` builds it first) as separate processes, since
 * flock is what the kernel does between them.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readFileLimited } from '../src/fs/io.js'
import { decodeStoredImages } from '../src/families/mesos/metadata/stored-images.js'
import { referenceKey } from '../src/families/mesos/metadata/stored-images.js'
import { importImage } from '../src/families/mesos/import.js'
import { lockPath } from '../src/steps/lock.js'
import { diskSubject, memorySubject, type Subject } from './support/adapters.js'
import { imagesOn, IMAGES } from './support/fixtures.js'

const BIN = fileURLToPath(new URL('../bin/layerfsck.js', import.meta.url))
const SESSION = fileURLToPath(new URL('../dist/src/steps/session.js', import.meta.url))

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** A layerfsck process that opens a changing session on the store and holds it until killed. */
function holdLock(store: string): Promise<ChildProcess> {
  const script = `
    const { StoreSession } = await import(${JSON.stringify(SESSION)})
    const { createNodeFs } = await import(${JSON.stringify(SESSION.replace('steps/session.js', 'fs/node.js'))})
    await StoreSession.open(createNodeFs(), { store: ${JSON.stringify(store)}, command: 'test holder', intent: 'change' })
    process.stdout.write('locked\\n')
    setInterval(() => {}, 1000)
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child))
    child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)))
  })
}

const SOURCES = [
  { image: `oci:${IMAGES}/oci-overlay:wh-third`, reference: 'one:1' },
  { image: `oci:${IMAGES}/oci-vfs:wh-delete`, reference: 'two:1' },
  { image: `docker-archive:${IMAGES}/docker-archive/wh-third-vfs.docker-archive.tar`, reference: 'three:1' },
]

async function storedKeys(s: Subject, store: string): Promise<string[]> {
  const { value, problems } = decodeStoredImages(await readFileLimited(s.fs, `${store}/storedImages`))
  expect(problems).toEqual([])
  return value.map((i) => referenceKey(i.reference!)).sort()
}

describe('the store lock between processes (disk)', () => {
  let s: Subject
  beforeEach(async () => {
    s = await diskSubject()
  })
  afterEach(async () => s.cleanup())

  it('lets three concurrent imports of three images all land in storedImages', async () => {
    const store = `${s.root}/store`
    const results = await Promise.all(SOURCES.map((src) => run(['import', '--store', store, '--backend', 'copy', '--reference', src.reference, src.image])))
    for (const r of results) expect(r.code, r.stderr).toBe(0)
    expect(await storedKeys(s, store)).toEqual(['one:1', 'three:1', 'two:1'])
    const check = await run(['check', '--store', store, '-n'])
    expect(check.code, check.stdout).toBe(0)
  })

  it('makes a changing command wait for the holder, then exit 8 naming its pid', async () => {
    const store = `${s.root}/store`
    expect((await run(['import', '--store', store, '--backend', 'copy', SOURCES[0]!.image])).code).toBe(0)
    const holder = await holdLock(store)
    try {
      const started = Date.now()
      const r = await run(['check', '--store', store, '-p', '--wait', '1'])
      expect(r.code).toBe(8)
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
      expect(r.stderr).toContain(`locked by pid ${holder.pid}`)
      const imp = await run(['import', '--store', store, '--backend', 'copy', '--wait', '0.5', '--json', SOURCES[1]!.image])
      expect(imp.code).toBe(8)
      expect(JSON.parse(imp.stdout).error.code).toBe('LAYERFSCK_STORE_LOCKED')
    } finally {
      holder.kill('SIGKILL')
    }
  })

  it('is never left locked by a holder that was SIGKILLed', async () => {
    const store = `${s.root}/store`
    expect((await run(['import', '--store', store, '--backend', 'copy', SOURCES[0]!.image])).code).toBe(0)
    const holder = await holdLock(store)
    const exited = new Promise((r) => holder.once('exit', r))
    holder.kill('SIGKILL')
    await exited
    const started = Date.now()
    const r = await run(['check', '--store', store, '-p', '--wait', '0'])
    expect(r.code, r.stderr).toBe(0)
    expect(Date.now() - started).toBeLessThan(5000)
    expect((await s.fs.lstat(lockPath(store)))?.kind).toBe('file')
  })
})

describe('the store lock within one process (memory)', () => {
  it('queues three imports started together so that all three are recorded', async () => {
    const s = await memorySubject()
    const store = `${s.root}/store`
    const images = await imagesOn(s.fs)
    await Promise.all(
      SOURCES.map((src) =>
        importImage(s.fs, { store, backend: 'copy', createStore: true, image: src.image.replace(IMAGES, images), reference: src.reference, waitSeconds: 60 }),
      ),
    )
    expect(await storedKeys(s, store)).toEqual(['one:1', 'three:1', 'two:1'])
  })
})
