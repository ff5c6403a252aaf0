/**
 * 1.1.0 → 1.1.1. Mesos 1.1.0 gave the overlay backend its own variant of
 * each layer but still extracted it with aufs-form whiteouts, which
 * overlayfs shows as plain `.wh.*` files: every file an image deleted comes
 * back in its containers. 1.1.1 converts at pull time and trusts what is
 * already stored, so layers a 1.1.0 agent pulled stay wrong forever unless
 * converted in place, which is what this step does (the codec's in-place
 * conversion is itself safe to interrupt and run again).
 *
 * Which variant changed form is read from the two descriptors, not named.
 */
import type { FsPort } from '../src/fs/port.js'
import { walkDirectories } from '../src/fs/walk.js'
import { aufsToOverlay, planAufsDir } from '../src/layer/whiteout-codec.js'
import { mesosFormat } from '../src/families/mesos/formats/index.js'
import { layerIdShape, layersDir } from '../src/families/mesos/paths.js'
import type { MigrationContext, MigrationStep } from './index.js'

const FROM = '1.1.0'
const TO = '1.1.1'

/** Variant dirs that held aufs-form whiteouts in FROM and hold the overlay form in TO. */
function changedVariants(): string[] {
  const before = mesosFormat(FROM).rootfsVariants
  return mesosFormat(TO)
    .rootfsVariants.filter((v) => v.whiteouts === 'overlay' && before.some((b) => b.dir === v.dir && b.whiteouts === 'aufs'))
    .map((v) => v.dir)
}

/** Every tree of a changed variant in the store, in name order, but those this run built and verified. */
async function trees({ fs, store, verified }: MigrationContext): Promise<string[]> {
  const root = layersDir(store)
  if ((await fs.lstat(root))?.kind !== 'dir') return []
  const variants = changedVariants()
  const out: string[] = []
  const layers = (await fs.readdir(root)).filter((e) => e.kind === 'dir' && layerIdShape(e.name) !== undefined).map((e) => e.name)
  for (const id of layers.sort()) {
    for (const v of variants) {
      const path = `${root}/${id}/${v}`
      if (verified?.has(path) !== true && (await fs.lstat(path))?.kind === 'dir') out.push(path)
    }
  }
  return out
}

/** Whether any directory of the tree still holds an aufs-form whiteout or opaque marker the codec would convert. */
async function holdsAufsWhiteouts(fs: FsPort, root: string): Promise<boolean> {
  for await (const { entries } of walkDirectories(fs, root)) {
    if (planAufsDir(entries).some((a) => a.op !== 'leave')) return true
  }
  return false
}

export const convert_1_1_0_whiteouts: MigrationStep = {
  id: '0001-convert-1.1.0-whiteouts',
  from: FROM,
  to: TO,
  describe: 'convert the aufs-form whiteouts a Mesos 1.1.0 agent left in the overlay backend\'s layers to overlay whiteouts',
  privileged: true,
  async isDone(ctx: MigrationContext) {
    for (const tree of await trees(ctx)) if (await holdsAufsWhiteouts(ctx.fs, tree)) return false
    return true
  },
  async apply(ctx: MigrationContext) {
    const { fs } = ctx
    for (const tree of await trees(ctx)) {
      if (!(await holdsAufsWhiteouts(fs, tree))) continue
      await aufsToOverlay(fs, tree)
      // The devices and xattrs the codec made are durable before the stamp can say 1.1.1.
      await fs.syncfs(tree)
    }
  },
}
