/**
 * `npm run demo`: builds a Mesos docker store from the wh-* images kept in
 * fixtures/ (three layers with real whiteouts, both rootfs variants, a config
 * blob, storedImages and one provisioned container) in a temp dir, then runs
 * `layerfsck detect` on it, as an operator would.
 */
import { fileURLToPath } from 'node:url'
import { main } from '../src/cli/main.js'
import { makeDirs, readTextLimited, writeFileDurable } from '../src/fs/io.js'
import { createNodeFs, makeTempDir, removeTempDir } from '../src/fs/node.js'
import { containerDir, containerLayersPath, layerDir, provisionerDir, storedImagesPath } from '../src/mesos/paths.js'
import { encodeContainerLayers } from '../src/metadata/container-layers.js'
import { encodeStoredImages } from '../src/metadata/stored-images.js'
import { materialize, parseTreeSpec } from '../src/testing/tree-spec.js'

const LAYERS = [
  'sha256:bf5b6db757712d39e6826e0160e6ff925a566c767e97291f86f4906083aab7a4',
  'sha256:6ac16d2e8047dc36b3cdcca09926ea9058c0ff0021f559948c408773cb047a69',
  'sha256:c98f3d7bd1610df1ebf3f10af3c08735d9b0e4a771324ec45256a7706a6c2724',
]
const CONFIG = 'sha256:fefbce03962c5f162d292080ad4bddb2ad344f978ea6d2bd59637ab7b198386f'

async function run(): Promise<number> {
  const fs = createNodeFs()
  const keep = process.argv.includes('--keep')
  const root = makeTempDir('layerfsck-demo-')
  const store = `${root}/store/docker`
  const workDir = `${root}/agent`
  const isRoot = process.getuid?.() === 0
  try {
    const fixture = fileURLToPath(new URL('../../fixtures/stores/wh-third-mesos-1.8.0.tree', import.meta.url))
    let entries = parseTreeSpec(await readTextLimited(fs, fixture))
    if (!isRoot) {
      // Overlay whiteouts are char devices and trusted.* xattrs: root only.
      entries = entries.filter((e) => !e.path.includes('/rootfs.overlay'))
      process.stderr.write('demo: not root, so the store gets only the aufs-form rootfs variant\n')
    }
    await makeDirs(fs, store)
    await materialize(fs, store, entries)
    const images = [
      { reference: { repository: 'localhost/wh-base', tag: '1' }, layerIds: LAYERS.slice(0, 1) },
      { reference: { repository: 'localhost/wh-delete', tag: '1' }, layerIds: LAYERS.slice(0, 2) },
      { reference: { repository: 'localhost/wh-third', tag: '1' }, layerIds: LAYERS, configDigest: CONFIG },
    ]
    await writeFileDurable(fs, storedImagesPath(store), encodeStoredImages(images))

    const backend = isRoot ? 'overlay' : 'copy'
    const container = containerDir(provisionerDir(workDir), ['6f1c2a4e-demo-4c11-a001-000000000001'])
    const rootfsId = '0d7e9a31-5b2c-4e8f-9a6d-3c1b2a4f5e60'
    await makeDirs(fs, workDir)
    await materialize(fs, workDir, parseTreeSpec(`provisioner/containers dir`))
    await materialize(
      fs,
      workDir,
      parseTreeSpec(`${container.slice(workDir.length + 1)}/backends/${backend}/rootfses/${rootfsId} dir mode=0755`),
    )
    if (backend === 'overlay') {
      await materialize(
        fs,
        workDir,
        parseTreeSpec(`
          ${container.slice(workDir.length + 1)}/backends/overlay/scratch/${rootfsId}/upperdir dir
          ${container.slice(workDir.length + 1)}/backends/overlay/scratch/${rootfsId}/workdir dir
          ${container.slice(workDir.length + 1)}/backends/overlay/scratch/${rootfsId}/links symlink target=/tmp/Xy3kQp
        `),
      )
    }
    const rootfs = backend === 'overlay' ? 'rootfs.overlay' : 'rootfs'
    await writeFileDurable(
      fs,
      containerLayersPath(container),
      encodeContainerLayers({ paths: LAYERS.map((id) => `${layerDir(store, id)}/${rootfs}`), config: `${store}/layers/${CONFIG}` }),
    )

    process.stdout.write(`$ layerfsck detect --store ${store} --work-dir ${workDir}\n\n`)
    const code = await main(['detect', '--store', store, '--work-dir', workDir], {
      stdout: process.stdout,
      stderr: process.stderr,
      env: process.env,
    })
    process.stdout.write(`\nexit code ${code}${keep ? `; the store is kept at ${root}` : ''}\n`)
    return code
  } finally {
    if (!keep) removeTempDir(root)
  }
}

process.exitCode = await run()
