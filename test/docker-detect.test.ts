import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { exportLayer } from '../src/layer/export.js'
import { SUBJECTS, type Subject } from './support/adapters.js'
import { runCli } from './support/cli.js'
import { dockerFixtureSkipReason, loadDockerFixture } from './support/docker-fixture.js'

/** Chain id → cache-id of the overlay2 fixture's layers (fixtures/docker/README.md). */
const O2_LAYERS: [string, string][] = [
  ['sha256:0a3c4199b078910c5fd773fb6589c3326033974b62f73f1c320cdf4f16be2225', 'e1b89a3c92a882f30e96cc029bdfad8d0c2f2b64cd7972617a234b34fcb20220'],
  ['sha256:e7585902c8bdda7b1ea9fbcd567add3ba0abd79d2f26a3f298ed556285456471', '30aabedd8c654f87dd52d14e22cb38d71e978da66b3f6c306a19b7fc03a186f7'],
]
const RAN = { id: '75e34ce4f129fc405472a515c8596987d7acc725d628109b83c2b8ae3e18568d', mount: '2dd3872bcaa09a7b822bd8aa8b70c848c2b8efce46a1c43d9e7ae1a74498f83a' }

for (const { name, make } of SUBJECTS) {
  describe(`detect of a Docker data root on the ${name} adapter`, () => {
    let s: Subject
    beforeEach(async () => {
      s = await make()
    })
    afterEach(async () => {
      await s.cleanup()
    })

    it('shows the driver, the images, each layer as chain id and cache-id, and each container with its mount-id and init-id, ids whole at 80 columns', async ({ skip }) => {
      const why = dockerFixtureSkipReason(s.name)
      if (why) return skip(why)
      const store = `${s.root}/docker`
      await loadDockerFixture(s.fs, 'overlay2', store)
      const r = await runCli(s.fs, ['detect', '--store', store])
      expect(r.code).toBe(0)
      const lines = r.stdout.split('\n')
      for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(80)
      expect(r.stdout).toMatch(/^format\s+docker-overlay2 20\.10\.0$/m)
      expect(r.stdout).toMatch(/^driver\s+overlay2$/m)
      expect(r.stdout).toMatch(/3 images, 7 layers, 4 containers, 15 dirs in overlay2\//)
      expect(r.stdout).toContain('localhost/wh-third-vfs:1, localhost/wh-third:1')
      for (const [chain, cache] of O2_LAYERS) {
        const at = lines.indexOf(`  ${chain}`)
        expect(at, chain).toBeGreaterThan(0)
        expect(lines[at + 1]).toBe(`    cache-id ${cache}`)
      }
      const ran = lines.indexOf(`  ${RAN.id}`)
      expect(lines.slice(ran + 1, ran + 4)).toEqual([`    name  ran`, `    mount ${RAN.mount}`, `    init  ${RAN.mount}-init`])

      const json = JSON.parse((await runCli(s.fs, ['detect', '--store', store, '--json'])).stdout)
      expect(json).toMatchObject({ schemaVersion: 2, family: 'docker', driver: 'overlay2', format: { family: 'docker-overlay2', version: '20.10.0' } })
      expect(json.layers.find((l: { chainId: string }) => l.chainId === O2_LAYERS[0]![0])).toMatchObject({ cacheId: O2_LAYERS[0]![1], removing: false, dir: `${store}/overlay2/${O2_LAYERS[0]![1]}` })
      expect(json.containers.find((c: { id: string }) => c.id === RAN.id)).toMatchObject({ name: '/ran', mountId: RAN.mount, initId: `${RAN.mount}-init` })
    })

    it('reads the legacy overlay driver\'s data root as its own version line', async ({ skip }) => {
      const why = dockerFixtureSkipReason(s.name)
      if (why) return skip(why)
      const store = `${s.root}/docker`
      await loadDockerFixture(s.fs, 'overlay', store)
      const json = JSON.parse((await runCli(s.fs, ['detect', '--store', store, '--json'])).stdout)
      // Made by 20.10, but nothing on disk shows more than 17.12 (merged/ gone at rest): detection is a lower bound.
      expect(json).toMatchObject({ family: 'docker', driver: 'overlay', format: { family: 'docker-overlay', version: '17.12.0' } })
      expect(json.counts).toMatchObject({ images: 3, layers: 7, containers: 4, layerDirs: 15, links: 0 })
    })

    it('exports an overlay2 layer by its chain id, its overlay whiteouts and opaque dir in aufs form', async ({ skip }) => {
      const why = dockerFixtureSkipReason(s.name)
      if (why) return skip(why)
      const store = `${s.root}/docker`
      await loadDockerFixture(s.fs, 'overlay2', store)
      const chunks: Uint8Array[] = []
      // O2: data/gone.txt and var/log/old.log deleted, data/cache opaque (fixtures/docker/README.md).
      const report = await exportLayer(s.fs, { store, layer: 'sha256:cb9e4815f3ba4f8814b7b92441a7ebd22555ff6318aadeaf66d4c4195f962c12' }, async (c) => {
        chunks.push(c)
      })
      expect(report.tree).toMatchObject({ root: `${store}/overlay2/073f1888b945de6ee4ebe050447b8540d5d906eade10655b3f15c0a839b2def4/diff`, whiteouts: 'overlay' })
      expect([report.entries, report.whiteouts, report.opaqueDirs]).toEqual([11, 2, 1])
      expect(Buffer.concat(chunks).includes(Buffer.from('data/cache/.wh..wh..opq'))).toBe(true)
    })
  })
}
