/**
 * The acceptance test for `layerfsck gc` on Docker: after `gc --yes` on a
 * copy of the real overlay2 data root (fixtures/docker/overlay2.tar.gz) with
 * garbage planted in it, a real dockerd 20.10 on that copy still lists every
 * image, creates containers from each, and exports every container with the
 * same content as a dockerd on an untouched copy of the same root.
 *
 * Needs root and Debian's docker.io (/usr/sbin/dockerd and the 20.10 client
 * /usr/bin/docker, which .ci/run installs when it can); skipped with the
 * reason otherwise, and when dockerd does not start on the untouched copy.
 * The two daemons run one after the other, each with a private socket,
 * pidfile and exec root under this test's temp dir (never the system's).
 *
 * The fixture's containers name their data root's absolute path only in the
 * files a start uses (config.v2.json's LogPath, HostsPath, ...); listing,
 * creating and exporting work at any path, so both copies live in a temp dir.
 */
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { makeDirs, readFileLimited, readTextLimited, writeFileAll } from '../src/fs/io.js'
import { createNodeFs, makeTempDir, removeTempDir } from '../src/fs/node.js'
import { isRoot } from './support/adapters.js'
import { runCli } from './support/cli.js'
import { loadDockerFixture } from './support/docker-fixture.js'

const fs = createNodeFs()

/** Debian's docker.io puts the daemon in /usr/sbin; other builds use /usr/bin. */
const DOCKERD = ['/usr/sbin/dockerd', '/usr/bin/dockerd'].find((p) => isExecutable(p))
/** The 20.10 client; a newer one earlier in $PATH is not used. */
const DOCKER = '/usr/bin/docker'

/** fixtures/docker/README.md, overlay2 "Containers": `ran`, whose merged dir gets a stale mount. */
const RAN = { id: '75e34ce4f129fc405472a515c8596987d7acc725d628109b83c2b8ae3e18568d', mountId: '2dd3872bcaa09a7b822bd8aa8b70c848c2b8efce46a1c43d9e7ae1a74498f83a' }
/** O3, wh-third-overlay:1's top layer: the live record a planted -removing record copies. */
const O3_CHAIN = 'b4dfabf462d6ce08bdb6354ece6934e701f6b02e2583fa6cc7bea8a5a22a8900'
const O3_CACHE = '188d9247bf9d7ac87bdcc1c71d358b1fd100fffb6d5196eff460f18b3e081f3b'

function isExecutable(path: string): boolean {
  try {
    execFileSync('test', ['-x', path])
    return true
  } catch {
    return false
  }
}

const hex64 = (): string => randomBytes(32).toString('hex')
/** A 26-char overlay2 short name ([A-Z0-9]), as l/ holds. */
const shortName = (): string => {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
  return [...randomBytes(26)].map((b) => abc[b % abc.length]).join('')
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Sets the mtime of `path` and everything below it (symlinks themselves) to three hours ago: past gc's 1h grace. */
function backdate(path: string): void {
  execFileSync('find', [path, '-exec', 'touch', '-h', '-d', '3 hours ago', '{}', '+'])
}

/** `du -x -s -B1`: the bytes a tree takes on its own filesystem (mounts below it not counted). */
function du(path: string): number {
  return Number(execFileSync('du', ['-x', '-s', '-B1', path], { encoding: 'utf8' }).split('\t')[0])
}

/** Every mount at or below `root`, deepest first. */
async function mountsUnder(root: string): Promise<string[]> {
  return (await fs.mounts())
    .map((m) => m.mountPoint)
    .filter((p) => p === root || p.startsWith(`${root}/`))
    .sort((a, b) => b.length - a.length)
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A private dockerd on one data root: its own socket, pidfile, exec root and empty config file. */
class Daemon {
  readonly sock: string
  readonly pidfile: string
  readonly execRoot: string
  readonly log: string
  private pid: number | undefined

  constructor(
    readonly dataRoot: string,
    readonly run: string,
  ) {
    this.sock = `${run}/d.sock`
    this.pidfile = `${run}/d.pid`
    this.execRoot = `${run}/exec`
    this.log = `${run}/dockerd.log`
  }

  /** Starts dockerd and waits up to 30 s for it to answer; '' when it does, else why not. */
  async start(): Promise<string> {
    await makeDirs(fs, this.run)
    await writeFileAll(fs, `${this.run}/daemon.json`, '{}\n')
    // The shell sends dockerd's output to its log file; dockerd itself is exec'd, so the pid is its own.
    const child = spawn(
      'sh',
      [
        '-c',
        'exec "$0" "$@" >>"$DOCKERD_LOG" 2>&1',
        DOCKERD!,
        '--data-root', this.dataRoot,
        '--storage-driver', 'overlay2',
        '--host', `unix://${this.sock}`,
        '--pidfile', this.pidfile,
        '--exec-root', this.execRoot,
        '--iptables=false', '--ip-masq=false', '--bridge=none', '--userland-proxy=false',
        '--config-file', `${this.run}/daemon.json`,
      ],
      { detached: true, stdio: 'ignore', env: { ...process.env, DOCKERD_LOG: this.log } },
    )
    child.unref()
    this.pid = child.pid
    let exited = false
    child.on('exit', () => (exited = true))
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      if (exited) return `dockerd exited at start (log: ${this.log}):\n${await this.logTail()}`
      try {
        this.docker(['version'])
        return ''
      } catch {
        await sleep(500)
      }
    }
    return `dockerd did not answer on ${this.sock} within 30 s (log: ${this.log}):\n${await this.logTail()}`
  }

  async logTail(): Promise<string> {
    try {
      return (await readTextLimited(fs, this.log)).split('\n').slice(-15).join('\n')
    } catch {
      return ''
    }
  }

  docker(args: string[]): string {
    return execFileSync(DOCKER, ['--host', `unix://${this.sock}`, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DOCKER_HOST: `unix://${this.sock}`, DOCKER_CONFIG: `${this.run}/cli` },
      timeout: 60_000,
    })
  }

  /** A clean stop: SIGTERM to the pid in the pidfile (or the one started), waiting for it to exit; SIGKILL after 60 s. */
  async stop(): Promise<void> {
    let pid = this.pid
    try {
      pid = Number((await readTextLimited(fs, this.pidfile)).trim()) || pid
    } catch {
      // no pidfile: it never got that far, or it already stopped
    }
    if (pid === undefined || !pidAlive(pid)) return
    const containerdPid = await this.containerdPid()
    process.kill(pid, 'SIGTERM')
    const deadline = Date.now() + 60_000
    while (pidAlive(pid) && Date.now() < deadline) await sleep(200)
    if (pidAlive(pid)) {
      process.kill(pid, 'SIGKILL')
      while (pidAlive(pid)) await sleep(100)
    }
    // dockerd stops the containerd it started; should it not have, end that one too (by its own pid).
    if (containerdPid !== undefined && pidAlive(containerdPid)) {
      process.kill(containerdPid, 'SIGTERM')
      const until = Date.now() + 10_000
      while (pidAlive(containerdPid) && Date.now() < until) await sleep(200)
      if (pidAlive(containerdPid)) process.kill(containerdPid, 'SIGKILL')
    }
    this.pid = undefined
  }

  private async containerdPid(): Promise<number | undefined> {
    try {
      return Number((await readTextLimited(fs, `${this.execRoot}/containerd/containerd.pid`)).trim()) || undefined
    } catch {
      return undefined
    }
  }
}

/** `tar -tv` of an exported container, one line per entry: mode, owner, size and name (dates left out), sorted. */
function exportListing(d: Daemon, container: string, file: string): string[] {
  d.docker(['export', '-o', file, container])
  return execFileSync('tar', ['--numeric-owner', '-tvf', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      // -rwxr-xr-x 0/0   1982256 2026-05-07 20:33 bin/busybox
      const m = /^(\S+)\s+(\S+)\s+(\S+)\s+\S+\s+\S+\s(.*)$/.exec(l)
      if (!m) throw new Error(`unexpected tar -tv line: ${l}`)
      return `${m[1]} ${m[2]} ${m[3]} ${m[4]}`
    })
    .sort()
}

/** repositories.json as `<repo>:<tag> <image id>` lines, sorted. */
async function tagsOf(dataRoot: string): Promise<string[]> {
  const doc = JSON.parse(await readTextLimited(fs, `${dataRoot}/image/overlay2/repositories.json`)) as {
    Repositories: Record<string, Record<string, string>>
  }
  return Object.values(doc.Repositories)
    .flatMap((refs) => Object.entries(refs).map(([ref, id]) => `${ref} ${id}`))
    .sort()
}

/** What `docker images` lists, in the same form. */
function tagsListed(d: Daemon): string[] {
  return d
    .docker(['images', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])
    .split('\n')
    .filter((l) => l !== '')
    .sort()
}

/** The container ids a data root holds (containers/<id>/). */
async function containersOf(dataRoot: string): Promise<string[]> {
  return (await fs.readdir(`${dataRoot}/containers`)).map((e) => e.name).sort()
}

/** The cache-id every layer record names, each a dir dockerd needs under overlay2/. */
async function cacheIdsOf(dataRoot: string): Promise<string[]> {
  const sha = `${dataRoot}/image/overlay2/layerdb/sha256`
  const ids: string[] = []
  for (const e of await fs.readdir(sha)) {
    if (!/^[0-9a-f]{64}$/.test(e.name)) continue
    ids.push((await readTextLimited(fs, `${sha}/${e.name}/cache-id`)).trim())
  }
  return ids.sort()
}

const skipReason = (): string => {
  if (!isRoot) return 'needs root (dockerd, mounts, trusted.* xattrs)'
  if (DOCKERD === undefined) return 'needs dockerd (apt-get install docker.io): neither /usr/sbin/dockerd nor /usr/bin/dockerd is there'
  if (!isExecutable(DOCKER)) return `needs the Docker 20.10 client ${DOCKER} (apt-get install docker.io)`
  return ''
}

describe('gc on a real Docker overlay2 data root, under a real dockerd', () => {
  it(
    'collects the planted garbage, frees exactly what du sees go, and leaves every image and container working as on an untouched copy',
    async ({ skip }) => {
      const why = skipReason()
      if (why !== '') {
        console.warn(`gc-dockerd: skipped: ${why}`)
        return skip(why)
      }
      const tmp = makeTempDir('layerfsck-gc-dockerd-')
      const pristine = `${tmp}/pristine`
      const target = `${tmp}/target`
      const daemons: Daemon[] = []
      try {
        for (const root of [pristine, target]) {
          await fs.mkdir(root, 0o710)
          await loadDockerFixture(fs, 'overlay2', root)
        }
        const pristineContainers = await containersOf(pristine)
        const pristineTags = await tagsOf(pristine)
        expect(pristineContainers).toContain(RAN.id)
        expect(pristineTags.length).toBeGreaterThan(0)

        // The untouched copy first: what every container exports, and whether dockerd runs here at all.
        const base = new Daemon(pristine, `${tmp}/run-pristine`)
        daemons.push(base)
        const started = await base.start()
        if (started !== '') {
          console.warn(`gc-dockerd: skipped: ${started}`)
          return skip(`dockerd does not start here: ${started.split('\n')[0]}`)
        }
        expect(tagsListed(base)).toEqual(pristineTags)
        const expected = new Map<string, string[]>()
        for (const id of pristineContainers) expected.set(id, exportListing(base, id, `${tmp}/pristine-${id}.tar`))
        await base.stop()
        expect(await mountsUnder(pristine)).toEqual([])

        // The garbage, each past the 1h grace.
        const drv = `${target}/overlay2`
        const layerdb = `${target}/image/overlay2/layerdb`
        const orphan = `${drv}/${hex64()}`
        await makeDirs(fs, `${orphan}/diff/usr/lib`)
        await writeFileAll(fs, `${orphan}/diff/usr/lib/leftover.bin`, randomBytes(256 * 1024))
        await writeFileAll(fs, `${orphan}/diff/hello.txt`, 'left by a crashed docker pull\n')
        backdate(orphan)
        // A -removing record naming O3's cache-id, which the live O3 record (and so three images' chains) uses.
        const removing = `${layerdb}/sha256/${O3_CHAIN}-${hex64()}-removing`
        await fs.mkdir(removing, 0o755)
        for (const e of await fs.readdir(`${layerdb}/sha256/${O3_CHAIN}`)) {
          await writeFileAll(fs, `${removing}/${e.name}`, await readFileLimited(fs, `${layerdb}/sha256/${O3_CHAIN}/${e.name}`))
        }
        expect((await readTextLimited(fs, `${removing}/cache-id`)).trim()).toBe(O3_CACHE)
        backdate(removing)
        const writeSet = `${layerdb}/tmp/write-set-123`
        await makeDirs(fs, writeSet)
        await writeFileAll(fs, `${writeSet}/diff`, `sha256:${hex64()}`)
        backdate(writeSet)
        const dangling = `${drv}/l/${shortName()}`
        await fs.symlink(`../${hex64()}/diff`, dangling)
        backdate(dangling)
        // A merged mount a crash left on `ran`'s RW layer.
        const merged = `${drv}/${RAN.mountId}/merged`
        await fs.mkdir(merged, 0o755)
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', merged])
        await writeFileAll(fs, `${merged}/inside-the-mount`, 'x')
        const known = `${tmp}/known-containers`
        await writeFileAll(fs, known, '')

        const before = du(target)
        const gc = await runCli(fs, ['gc', '--store', target, '--known-containers', known, '--yes', '--json'])
        // gc leaves its own state, .layerfsck/ (the lock and the format stamp a changing command writes), in the
        // data root; that is not what the items freed, so it is left out of the comparison.
        const ours = `${target}/.layerfsck`
        const after = du(target) - ((await fs.lstat(ours)) ? du(ours) : 0)
        expect(gc.stderr).toBe('')
        expect(gc.code).toBe(0)
        const lines = gc.stdout.split('\n').filter((l) => l !== '')
        const report = JSON.parse(lines[lines.length - 1]!) as {
          event: string
          acted: boolean
          items: { code: string; path: string; status: string; bytes: number }[]
          totals: { items: number; collected: number; freed: number; left: number }
        }
        expect(report.event).toBe('report')
        expect(report.acted).toBe(true)
        const taken = report.items.map((i) => `${i.code} ${i.path} ${i.status}`).sort()
        expect(taken).toEqual(
          [
            `docker-layer-dir-orphan ${orphan} collected`,
            `docker-removing-hazard ${removing} collected`,
            `docker-write-set-leftover ${writeSet} collected`,
            `docker-link-dangling ${dangling} collected`,
            `docker-merged-stale-mount ${merged} collected`,
          ].sort(),
        )
        expect(report.totals).toMatchObject({ items: 5, collected: 5, left: 0 })
        for (const gone of [orphan, removing, writeSet, dangling]) expect(await fs.lstat(gone)).toBeUndefined()
        expect(await mountsUnder(target)).toEqual([])
        // Everything dockerd needs is still there.
        expect(await fs.lstat(`${drv}/${O3_CACHE}/diff`)).toBeDefined()
        expect(await fs.lstat(`${drv}/${RAN.mountId}/diff/bin/busybox`)).toBeDefined()
        expect(report.totals.freed).toBe(before - after)

        // dockerd on the collected copy.
        const d = new Daemon(target, `${tmp}/run-target`)
        daemons.push(d)
        const up = await d.start()
        expect(up).toBe('')
        expect(tagsListed(d)).toEqual(pristineTags)
        const listed = d.docker(['ps', '-a', '--no-trunc', '--format', '{{.ID}}']).split('\n').filter((l) => l !== '').sort()
        expect(listed).toEqual(pristineContainers)
        // A new container from every tag, exported with the same entries as an untouched one from the same image
        // (created-overlay, created-vfs, and committed, which wh-committed:1 was made from).
        const sameAs: Record<string, string> = {
          'localhost/wh-third-overlay:1': '872a243c9855e87e8a446cb0124824bbafe4c8f0a9a07fa7eb2ff4530c1c8a33',
          'localhost/wh-third-vfs:1': '7fc3ecacd459f60b549e8f8d18b8b371832c5157d2ef7b911200f95ac55d8946',
          'localhost/wh-third:1': '7fc3ecacd459f60b549e8f8d18b8b371832c5157d2ef7b911200f95ac55d8946',
          'localhost/wh-committed:1': '2cd973dd1a6e4eca2d930fe80ebf0a51767d286f88f458f0a9c7cf3ab87ddaa3',
        }
        for (const line of pristineTags) {
          const ref = line.split(' ')[0]!
          const id = d.docker(['create', ref, '/bin/hello']).trim()
          expect(id).toMatch(/^[0-9a-f]{64}$/)
          const listing = exportListing(d, id, `${tmp}/new-${id}.tar`)
          expect(listing.length).toBeGreaterThan(0)
          if (sameAs[ref] !== undefined) expect(listing, `a new container of ${ref}`).toEqual(expected.get(sameAs[ref]!))
        }
        for (const id of pristineContainers) {
          expect(exportListing(d, id, `${tmp}/target-${id}.tar`), `container ${id}`).toEqual(expected.get(id))
        }
        await d.stop()
        expect(await mountsUnder(target)).toEqual([])
        // A -removing record left behind would have made this clean shutdown delete O3's dir; every layer is still there.
        for (const cacheId of await cacheIdsOf(target)) expect(await fs.lstat(`${drv}/${cacheId}/diff`), cacheId).toBeDefined()
      } finally {
        for (const d of daemons.reverse()) await d.stop().catch(() => undefined)
        for (const m of await mountsUnder(tmp)) {
          try {
            execFileSync('umount', ['-l', m], { stdio: 'ignore' })
          } catch {
            // gone already
          }
        }
        removeTempDir(tmp)
      }
    },
    240_000,
  )
})
