/**
 * `npm run demo`: imports the real wh-base, wh-delete and wh-third images
 * kept in fixtures/ (three layers with real whiteouts) into a fresh Mesos
 * docker store in a temp dir, provisions one container the way the agent
 * leaves it, exports a layer back to a tar and runs `layerfsck detect`;
 * then damages the store as crashes and old agents do and shows `check -n`,
 * `check -p`; then the agent's crash: its one container was running (as
 * root, on a real overlay mount) when the host went down, so after the reboot
 * nothing is live, and `gc` shows what it would take and collects it; a clean
 * `check` follows, as an operator would. Last, an operator
 * switching the agent from aufs to overlay: a store of aufs layers is
 * migrated instead of pulled again, and (as root) its layers are mounted
 * with the kernel's overlayfs to show the container's view.
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { main } from '../src/cli/main.js'
import { makeDirs, writeFileAll, writeFileDurable } from '../src/fs/io.js'
import { removeTree } from '../src/fs/remove.js'
import { importLayerTar } from '../src/tar/import-layer.js'
import { createNodeFs, makeTempDir, removeTempDir } from '../src/fs/node.js'
import { containerDir, containerLayersPath, layerDir, provisionerDir } from '../src/families/mesos/paths.js'
import { encodeContainerLayers } from '../src/families/mesos/metadata/container-layers.js'
import { rootfsDirFor } from '../src/families/mesos/descriptor.js'
import { latestMesosFormat } from '../src/families/mesos/formats/index.js'
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
    // The overlay backend's links: a mkdtemp dir of numbered links to the layers, to keep mount options short.
    const linksTemp = `${root}/tmp/Xy3kQp`
    if (backend === 'overlay') {
      await materialize(
        fs,
        workDir,
        parseTreeSpec(`
          ${container.slice(workDir.length + 1)}/backends/overlay/scratch/${rootfsId}/upperdir dir
          ${container.slice(workDir.length + 1)}/backends/overlay/scratch/${rootfsId}/workdir dir
          ${container.slice(workDir.length + 1)}/backends/overlay/scratch/${rootfsId}/links symlink target=${linksTemp}
        `),
      )
    }
    // Where the newest format puts each backend's layers: the demo asks the descriptor, as every command does.
    const rootfs = rootfsDirFor(latestMesosFormat(), backend).dir
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
      const defect = `${layerDir(store, LAYERS[1]!)}/${rootfs}`
      await removeTree(fs, defect)
      await fs.mkdir(defect, 0o755)
      await importLayerTar(fs, await fs.openRead(`${IMAGES}/oci-overlay/blobs/sha256/${LAYERS[1]!.slice(7)}`), defect, { form: 'aufs' })
    }
    // The host went down while the container ran: its rootfs is still mounted, and after the reboot the
    // agent's runtime dir knows no container, so nothing is live.
    const mounted = backend === 'overlay' ? await mountContainer(fs, container, rootfsId, linksTemp, store, LAYERS) : undefined
    const runtimeDir = `${root}/run/mesos`
    await makeDirs(fs, `${runtimeDir}/containers`)
    const check = ['check', '--store', store, '--work-dir', workDir, '--runtime-dir', runtimeDir]
    for (const mode of [['-n'], ['-p']]) {
      await cli([...check, ...mode])
      process.stdout.write(`\n`)
    }
    // What check leaves to gc: the dead container, its mount and links; first the plan, then the collection.
    const gc = ['gc', '--store', store, '--work-dir', workDir, '--runtime-dir', runtimeDir]
    await cli(gc)
    process.stdout.write('\n')
    const collected = await cli([...gc, '--yes'])
    process.stdout.write('\n')
    if (collected !== 0) return collected
    // Unmounted, not deleted through; and the links temp dir, proven Mesos' own, went with it.
    if (mounted !== undefined && (await fs.mounts()).some((m) => m.mountPoint === mounted)) return 1
    if ((await fs.lstat(linksTemp)) !== undefined) return 1
    const checked = await cli(check)
    process.stdout.write('\n')
    if (checked !== 0) return checked

    // The agent moves from aufs to overlay: migrate converts the layers it has instead of pulling them again.
    const aufsStore = `${root}/aufs-store/docker`
    const imported = await cli(['import', '--store', aufsStore, '--backend', 'aufs', `oci:${IMAGES}/oci-overlay:wh-third`])
    if (imported !== 0) return imported
    process.stdout.write('\n')
    const migrated = await cli(['migrate', '--store', aufsStore, '--to-backend', 'overlay', ...(isRoot ? [] : ['--dry-run'])])
    process.stdout.write('\n')
    if (migrated !== 0) return migrated
    if (isRoot) {
      // The container's view: the converted layers stacked by the kernel, top layer first, as the overlay backend mounts them.
      const merged = `${root}/merged`
      for (const d of [merged, `${root}/upper`, `${root}/work`]) await makeDirs(fs, d)
      // Layer ids hold ':', overlay's separator: short symlinks stand in for them, as the agent's `links` do.
      await makeDirs(fs, `${root}/links`)
      const overlayDir = rootfsDirFor(latestMesosFormat(), 'overlay').dir
      for (const [i, id] of LAYERS.entries()) await fs.symlink(`${layerDir(aufsStore, id)}/${overlayDir}`, `${root}/links/${i}`)
      const lower = [...LAYERS.keys()].reverse().map((i) => `${root}/links/${i}`).join(':')
      process.stdout.write(`$ mount -t overlay overlay -o lowerdir=…,upperdir=…,workdir=… ${merged}; find ${merged}\n\n`)
      try {
        execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${root}/upper,workdir=${root}/work`, merged], { stdio: ['ignore', 'ignore', 'pipe'] })
        try {
          const view = execFileSync('find', ['.', '-mindepth', '1', '-printf', '%y %p\\n'], { cwd: merged }).toString()
          process.stdout.write(`${view.split('\n').filter((l) => l !== '').sort((a, b) => (a.slice(2) < b.slice(2) ? -1 : 1)).join('\n')}\n\n`)
        } finally {
          execFileSync('umount', [merged])
        }
      } catch (err) {
        process.stdout.write(`(this kernel could not mount it: ${(err as Error).message.split('\n')[0]})\n\n`)
      }
    }
    process.stdout.write(keep ? `the stores are kept at ${root}\n` : '')
    return 0
  } finally {
    if (!keep) removeTempDir(root)
  }
}

/** Mounts the container's rootfs as the overlay backend does, through the links temp dir; the mount point, or undefined if this kernel cannot. */
async function mountContainer(fs: ReturnType<typeof createNodeFs>, container: string, rootfsId: string, linksTemp: string, store: string, layers: string[]): Promise<string | undefined> {
  const overlayDir = rootfsDirFor(latestMesosFormat(), 'overlay').dir
  await makeDirs(fs, linksTemp)
  for (const [i, id] of layers.entries()) await fs.symlink(`${layerDir(store, id)}/${overlayDir}`, `${linksTemp}/${i}`)
  const scratch = `${container}/backends/overlay/scratch/${rootfsId}`
  const rootfs = `${container}/backends/overlay/rootfses/${rootfsId}`
  const lower = [...layers.keys()].reverse().map((i) => `${linksTemp}/${i}`).join(':')
  try {
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${scratch}/upperdir,workdir=${scratch}/workdir`, rootfs], { stdio: ['ignore', 'ignore', 'pipe'] })
  } catch {
    return undefined
  }
  // What the container wrote before the crash: it lands in its upper dir.
  await writeFileAll(fs, `${rootfs}/var-log-app.log`, 'started\n')
  return rootfs
}

process.exitCode = await run()
