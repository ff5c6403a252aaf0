/**
 * `npm run demo`: imports the real wh-base, wh-delete and wh-third images
 * kept in fixtures/ (three layers with real whiteouts) into a fresh Mesos
 * docker store in a temp dir, provisions one container the way the agent
 * leaves it, exports a layer back to a tar and runs `layerfsck detect`;
 * then damages the store as crashes and old agents do and shows `check -n`,
 * `check -p` and a clean `check`, as an operator would.
 */
import { fileURLToPath } from 'node:url'
import { main } from '../src/cli/main.js'
import { makeDirs, writeFileAll, writeFileDurable } from '../src/fs/io.js'
import { removeTree } from '../src/fs/remove.js'
import { importLayerTar } from '../src/tar/import-layer.js'
import { createNodeFs, makeTempDir, removeTempDir } from '../src/fs/node.js'
import { containerDir, containerLayersPath, layerDir, provisionerDir } from '../src/families/mesos/paths.js'
import { encodeContainerLayers } from '../src/families/mesos/metadata/container-layers.js'
import { materialize, parseTreeSpec } from '../src/testing/tree-spec.js'

const IMAGES = fileURLToPath(new URL('../../fixtures/images', import.meta.url))
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
    const backend = isRoot ? 'overlay' : 'copy'
    if (!isRoot) process.stderr.write('demo: not root, so the store is for the copy backend (overlay whiteouts need mknod)\n')
    const cli = (args: string[]): Promise<number> => {
      process.stdout.write(`$ layerfsck ${args.join(' ')}\n\n`)
      return main(args, { stdout: process.stdout, stderr: process.stderr, env: process.env })
    }
    for (const tag of ['wh-base', 'wh-delete', 'wh-third']) {
      const code = await cli(['import', '--store', store, '--backend', backend, `oci:${IMAGES}/oci-overlay:${tag}`])
      if (code !== 0) return code
      process.stdout.write('\n')
    }
    await cli(['export', '--store', store, '--layer', LAYERS[1]!, '-o', `${root}/wh-delete-layer.tar`])
    process.stdout.write('\n')

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

    await cli(['detect', '--store', store, '--work-dir', workDir])
    process.stdout.write('\n')

    // What a crash and an old agent leave behind: a checkpoint temp file (the
    // agent died between creating it and writing it), a
    // layer prune marked and never swept, aufs bookkeeping in a layer, the
    // agent's d_type probe, and (as root) Mesos 1.1.0's unconverted whiteouts.
    await writeFileAll(fs, `${store}/Xq3v9T`, '')
    await makeDirs(fs, `${store}/gc/${'e'.repeat(64)}.1763836800000000000/rootfs/etc`)
    await makeDirs(fs, `${layerDir(store, LAYERS[0]!)}/${rootfs}/.wh..wh.plnk`)
    await makeDirs(fs, `${provisionerDir(workDir)}/.probe`)
    if (backend === 'overlay') {
      const defect = `${layerDir(store, LAYERS[1]!)}/rootfs.overlay`
      await removeTree(fs, defect)
      await fs.mkdir(defect, 0o755)
      await importLayerTar(fs, await fs.openRead(`${IMAGES}/oci-overlay/blobs/sha256/${LAYERS[1]!.slice(7)}`), defect, { form: 'aufs' })
    }
    const runtimeDir = `${root}/run/mesos`
    await makeDirs(fs, `${runtimeDir}/containers`)
    const check = ['check', '--store', store, '--work-dir', workDir, '--runtime-dir', runtimeDir]
    for (const mode of [['-n'], ['-p'], []]) {
      const code = await cli([...check, ...mode])
      process.stdout.write(`\n`)
      if (mode.length === 0) {
        process.stdout.write(keep ? `the store is kept at ${root}\n` : '')
        return code
      }
    }
    return 0
  } finally {
    if (!keep) removeTempDir(root)
  }
}

process.exitCode = await run()
