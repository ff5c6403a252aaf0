/**
 * `layerfsck import`: puts an image into a Mesos docker store the way
 * Mesos' pullers lay it out (mesos_docker.md §1.1). Every layer is built in
 * `staging/XXXXXX/<id>/rootfs[.overlay]` and renamed into `layers/` only when
 * whole and verified; a layer already present for the backend is reused, as
 * Mesos never refreshes a layer. `storedImages` is rewritten last, durably.
 *
 * Every change is a step run by the store session (lock, journal, stamp):
 * one per layer, one for the config blob, one for the storedImages entry,
 * in that order. Crash story: before a layer's rename, only the staging dir
 * this run claimed in the journal holds it, and the next session removes
 * it; the staged tree is made durable (syncfs) before the rename, so a layer
 * under its real name is always whole, and a re-run finds it done. Until
 * storedImages is replaced the store references nothing new, so a crash
 * never leaves an image pointing at a missing layer. storedImages is read
 * and rewritten inside its step, under the lock, so concurrent imports
 * queue instead of overwriting each other's entries.
 */
import { ExitCode, isErrno, LayerfsckError } from '../../errors.js'
import { escapeName } from '../../fs/name-bytes.js'
import { readStamp, type StampState } from '../../format/stamp.js'
import { CrashError } from '../../fs/crash.js'
import type { Backend } from './descriptor.js'
import { latestMesosFormat } from './formats/index.js'
import { rootfsDirFor, type FormatDescriptor } from './descriptor.js'
import { ensureDir, makeDirs, writeFileAll, writeFileDurable } from '../../fs/io.js'
import type { FsPort } from '../../fs/port.js'
import { removeTree } from '../../fs/remove.js'
import { resolveRoot } from '../../fs/roots.js'
import { basename } from '../../fs/safe-path.js'
import type { CodecNote } from '../../layer/whiteout-codec.js'
import { AGENT_PROCESSES, STAGING_CLAIMS, gcDir, layerIdShape, layerDir, layersDir, stagingDir, storedImagesPath } from './paths.js'
import { makeStagingDir, removeStage } from './staging.js'
import { stampPath } from '../../steps/lock.js'
import { currentMesosFormat } from './current-format.js'
import { identifyStore, notAStoreError } from '../../detect/identify.js'
import { withSession, type StoreSession } from '../../steps/session.js'
import type { Step } from '../../steps/step.js'
import { sessionOptions, type ChangeOptions } from '../../steps/options.js'
import { readMetadata } from '../../metadata/read.js'
import { decodeStoredImages, encodeStoredImages, referenceKey, type ImageReference, type StoredImage } from './metadata/stored-images.js'
import { importLayerTar } from '../../tar/import-layer.js'
import { parseImageArgument, parseReference, planDockerArchive, planOciLayout, type ImagePlan, type SourceKind } from './image-source.js'

export const IMPORT_SCHEMA_VERSION = 2

export interface ImportOptions extends ChangeOptions {
  store: string
  backend: Backend
  /** `[oci:|oci-archive:|docker-archive:]PATH[:TAG]`. */
  image: string
  /** Record the image under this reference instead of the one the source names. */
  reference?: string
  allowDevices?: boolean
  preserveOwners?: boolean
  /** Create the store (and its staging/ and gc/) when it does not exist yet. */
  createStore?: boolean
  onProgress?: (event: ImportProgress) => void
}

export type ImportProgress =
  | { phase: 'archive'; entries: number; bytes: number }
  | { phase: 'layer'; index: number; total: number; id: string; entries: number; bytes: number }

export interface ImportedLayer {
  id: string
  status: 'imported' | 'reused'
  rootfs: string
  entries: number
  bytes: number
  whiteouts: number
  opaqueDirs: number
  notes: CodecNote[]
  warnings: { path: string; message: string }[]
}

export interface ImportReport {
  schemaVersion: typeof IMPORT_SCHEMA_VERSION
  store: string
  adapter: 'disk' | 'memory'
  backend: Backend
  /**
   * The store's format, which says where this backend's layers go; with a
   * note when the newest format would put them elsewhere (and so a newer
   * agent would not see them until the store is migrated).
   */
  format: { version: string; variant: string; whiteouts: 'aufs' | 'overlay'; note?: string }
  source: { kind: SourceKind; path: string; tag: string | undefined }
  reference: string
  layers: ImportedLayer[]
  config: { digest: string; status: 'imported' | 'reused' } | undefined
  /** What happened to the image's entry in the store's image list. */
  record: 'added' | 'replaced' | 'unchanged'
  /** Whether import made the store, and an interrupted run it finished cleaning up. */
  createdStore: boolean
  resumed: { command: string; pid: number; at: string } | undefined
}

async function exists(fs: FsPort, path: string): Promise<boolean> {
  return (await fs.lstat(path)) !== undefined
}

const sameImage = (a: StoredImage, b: StoredImage): boolean =>
  a.reference !== undefined &&
  b.reference !== undefined &&
  referenceKey(a.reference) === referenceKey(b.reference) &&
  a.configDigest === b.configDigest &&
  a.layerIds.length === b.layerIds.length &&
  a.layerIds.every((id, i) => id === b.layerIds[i])

async function readImages(fs: FsPort, store: string): Promise<StoredImage[]> {
  const imagesPath = storedImagesPath(store)
  const stored = await readMetadata(fs, imagesPath, decodeStoredImages)
  if (stored.state === 'damaged' || stored.state === 'unreadable') {
    const why = stored.state === 'damaged' ? stored.problems[0]!.message : stored.reason
    throw new LayerfsckError('STORED_IMAGES_DAMAGED', `${imagesPath} is damaged (${why}); refusing to rewrite it`, {
      hint: 'run `layerfsck check` on the store first',
    })
  }
  return stored.state === 'ok' ? stored.value : []
}

/** A bare path: a directory is an OCI layout; a file is one of the two archive kinds, told apart once unpacked. */
async function detectShape(fs: FsPort, path: string): Promise<'oci' | 'archive'> {
  const inode = await fs.lstat(path)
  if (inode?.kind === 'dir') return 'oci'
  if (inode?.kind !== 'file') {
    throw new LayerfsckError('IMAGE_SOURCE', `image ${path} is ${inode ? `a ${inode.kind}` : 'missing'}; give an OCI layout dir or an image archive`, {
      hint: path.includes(':') ? 'a tag is read only after a transport: oci:DIR:TAG or oci-archive:FILE:TAG' : undefined,
    })
  }
  return 'archive'
}

export async function importImage(fs: FsPort, options: ImportOptions): Promise<ImportReport> {
  const arg = parseImageArgument(options.image)
  const createdStore = await prepareStore(fs, options)
  const store = await resolveRoot(fs, options.store, 'store')
  // A store in a newer format than this build knows is refused before any write.
  const stamp = await readStamp(fs, store)

  return withSession(
    fs,
    {
      store,
      command: 'import',
      intent: 'change',
      guardProcesses: AGENT_PROCESSES,
      claims: STAGING_CLAIMS,
      ...sessionOptions(options),
    },
    async (session) => {
      try {
        return await importInSession(session, options, arg, createdStore, stamp)
      } catch (err) {
        if (createdStore && !(err instanceof CrashError)) {
          // Bad input must not leave a new, empty store where there was none.
          await session.abandon()
          await undoCreatedStore(fs, store)
        }
        throw err
      }
    },
  )
}

async function importInSession(
  session: StoreSession,
  options: ImportOptions,
  arg: ReturnType<typeof parseImageArgument>,
  createdStore: boolean,
  stamp: StampState,
): Promise<ImportReport> {
  const { fs, store } = session
  const sourcePath = arg.path
  if (createdStore && stamp.state === 'absent') await session.initialize(latestMesosFormat())
  // The format is the store's as found, under the lock and before this
  // import adds anything: its own new layers must not vouch for the old ones.
  const format = await currentMesosFormat(fs, store)
  await session.runSteps([storeDirsStep(store, format)])
  // Read before anything is staged: a damaged storedImages stops the import before it writes a layer.
  await readImages(fs, store)
  const stage = await makeStagingDir(session)
  try {
    const shape = arg.kind ?? (await detectShape(fs, sourcePath))
    let kind: SourceKind
    let plan: ImagePlan
    if (shape === 'oci') {
      kind = 'oci'
      plan = await planOciLayout(fs, sourcePath, 'oci', arg.tag)
    } else {
      const archive = `${stage}/archive`
      await fs.mkdir(archive, 0o700)
      await importLayerTar(fs, await fs.openRead(sourcePath), archive, {
        form: 'aufs',
        preserveOwners: false,
        onProgress: (p) => options.onProgress?.({ phase: 'archive', ...p }),
        ...(options.signal ? { signal: options.signal } : {}),
      })
      kind = shape !== 'archive' ? shape : (await exists(fs, `${archive}/oci-layout`)) ? 'oci-archive' : 'docker-archive'
      plan = kind === 'docker-archive' ? await planDockerArchive(fs, archive) : await planOciLayout(fs, archive, 'oci-archive', arg.tag)
    }
    const reference: ImageReference = options.reference ? parseReference(options.reference) : plan.reference

    // The store's format says which variant this backend reads and in which whiteout form (a 1.0.0 store's
    // overlay backend reads rootfs, with aufs whiteouts): a layer written anywhere else is one Mesos never sees.
    const { dir: variant, whiteouts: form } = rootfsDirFor(format, options.backend)
    // Layer ids and config blobs are the format's too: a 1.0.0 agent knows only hex ids and no blobs in layers/.
    const foreign = plan.layers.find((l) => !format.layerIdShapes.includes(layerIdShape(l.id) ?? 'hex64'))
    if (foreign !== undefined || (plan.config !== undefined && !format.configBlobsInLayers)) {
      const what = foreign !== undefined ? `names its layers like ${foreign.id}` : `comes with a config blob (${plan.config!.digest})`
      throw new LayerfsckError(
        'FORMAT_MISMATCH',
        `${escapeName(sourcePath)} ${what}, which a store in format ${format.version} cannot hold (its agent reads ${format.layerIdShapes.join(' or ')} layer ids` +
          `${format.configBlobsInLayers ? '' : ' and no config blobs'}); nothing was imported`,
        {
          exitCode: ExitCode.operational,
          hint: `import a docker save archive of the image instead, or move the store forward first: layerfsck migrate --store ${escapeName(store)} --to-format ${latestMesosFormat().version}`,
        },
      )
    }
    const newest = rootfsDirFor(latestMesosFormat(), options.backend)
    const layoutNote =
      newest.dir === variant
        ? undefined
        : `the store is in format ${format.version}, where the ${options.backend} backend reads ${variant}; Mesos from the ` +
          `format that moved it reads ${newest.dir}: once the agent is upgraded, run layerfsck migrate --store ${store} ` +
          `--to-backend ${options.backend} --to-format ${latestMesosFormat().version}`
    const layers: ImportedLayer[] = []
    const steps: Step[] = plan.layers.map((layer, index) => {
      const target = layerDir(store, layer.id)
      const rootfs = `${target}/${variant}`
      const done: ImportedLayer = { id: layer.id, status: 'reused', rootfs, entries: 0, bytes: 0, whiteouts: 0, opaqueDirs: 0, notes: [], warnings: [] }
      layers.push(done)
      return {
        id: `layer:${layer.id}/${variant}`,
        describe: () => `import layer ${layer.id} as ${variant}`,
        isDone: async () => (await fs.lstat(rootfs))?.kind === 'dir',
        apply: async () => {
          const staged = `${stage}/${basename(target)}`
          // A retry after EBUSY starts from nothing rather than from a half-written tree.
          await removeTree(fs, staged, { within: store })
          await fs.mkdir(staged, 0o755)
          await fs.mkdir(`${staged}/${variant}`, 0o755)
          const result = await importLayerTar(fs, await layer.open(), `${staged}/${variant}`, {
            form,
            ...(options.allowDevices !== undefined ? { allowDevices: options.allowDevices } : {}),
            ...(options.preserveOwners !== undefined ? { preserveOwners: options.preserveOwners } : {}),
            onProgress: (p) => options.onProgress?.({ phase: 'layer', index, total: plan.layers.length, id: layer.id, ...p }),
            ...(options.signal ? { signal: options.signal } : {}),
          })
          layer.verify()
          for (const extra of layer.extras) await writeFileAll(fs, `${staged}/${extra.name}`, extra.bytes, 0o644)
          Object.assign(done, {
            status: 'imported',
            entries: result.entries,
            bytes: result.bytes,
            whiteouts: result.conversion?.whiteouts ?? result.tarWhiteouts,
            opaqueDirs: result.conversion?.opaqueDirs ?? result.tarOpaqueDirs,
            notes: result.conversion?.notes ?? [],
            warnings: result.warnings,
          })
          // One syncfs makes the whole staged tree durable (data, names,
          // metadata) before it gets its real name: cheaper than an fsync
          // per file, and a layer under its real name is never partial.
          await fs.syncfs(staged)
          if (!(await exists(fs, target))) {
            await fs.rename(staged, target)
            await fs.fsync(layersDir(store))
          } else {
            // Pulled before for the other backend: only the new variant moves in (StoreProcess::moveLayer).
            await fs.rename(`${staged}/${variant}`, rootfs)
            await fs.fsync(target)
          }
        },
      }
    })

    let config: ImportReport['config']
    if (plan.config) {
      const { digest, bytes } = plan.config
      const path = layerDir(store, digest)
      config = { digest, status: 'reused' }
      const c = config
      steps.push({
        id: `config:${digest}`,
        describe: () => `write config blob ${digest}`,
        isDone: () => exists(fs, path),
        apply: async () => {
          await writeFileDurable(fs, path, bytes)
          c.status = 'imported'
        },
      })
    }

    const entry: StoredImage = { reference, layerIds: plan.layers.map((l) => l.id) }
    if (plan.config) entry.configDigest = plan.config.digest
    const key = referenceKey(reference)
    let recorded: ImportReport['record'] = 'unchanged'
    steps.push({
      id: `image:${key}`,
      describe: () => `record ${key} in storedImages`,
      isDone: async () => (await readImages(fs, store)).some((i) => sameImage(i, entry)),
      apply: async () => {
        const images = await readImages(fs, store)
        const at = images.findIndex((i) => i.reference !== undefined && referenceKey(i.reference) === key)
        if (at >= 0) images[at] = entry
        else images.push(entry)
        await writeFileDurable(fs, storedImagesPath(store), encodeStoredImages(images))
        recorded = at >= 0 ? 'replaced' : 'added'
      },
    })

    const outcomes = await session.runSteps(steps)
    const blocked = outcomes.find((o) => o.status === 'refused' || o.status === 'deferred')
    if (blocked) throw new LayerfsckError('IMPORT_INCOMPLETE', `${blocked.describe}: ${blocked.reason}`, { hint: 'nothing of this image is recorded; run the same import again' })
    // The staging dir goes while the journal still claims it: once commit drops the journal, nothing would.
    await removeStage(fs, stage)
    await session.commit(format)

    return {
      schemaVersion: IMPORT_SCHEMA_VERSION,
      store,
      adapter: fs.kind,
      backend: options.backend,
      format: { version: format.version, variant, whiteouts: form, ...(layoutNote ? { note: layoutNote } : {}) },
      source: { kind, path: sourcePath, tag: arg.tag },
      reference: key,
      layers,
      config,
      record: recorded,
      createdStore,
      resumed: session.resumed ? { command: session.resumed.command, pid: session.resumed.pid, at: session.resumed.at } : undefined,
    }
  } finally {
    await removeStage(fs, stage)
  }
}

/**
 * Takes back what import made in a directory that was empty or absent: only
 * empty directories (rmdir refuses anything else) and its own stamp. The
 * lock file stays: unlinking a lock file others may be waiting on would let
 * two commands hold "the" lock at once.
 */
async function undoCreatedStore(fs: FsPort, store: string): Promise<void> {
  const quietly = async (op: () => Promise<void>): Promise<void> => {
    try {
      await op()
    } catch (err) {
      if (!isErrno(err, 'ENOENT', 'ENOTEMPTY', 'EEXIST')) throw err
    }
  }
  // A layer that landed before the failure makes this a store after all: keep it, stamp and all.
  if ((await fs.lstat(layersDir(store)))?.kind === 'dir' && (await fs.readdir(layersDir(store))).length > 0) return
  for (const dir of [layersDir(store), stagingDir(store), gcDir(store)]) await quietly(() => fs.rmdir(dir))
  await quietly(() => fs.unlink(stampPath(store)))
  await fs.fsync(store)
}

/** layers/, staging/ and gc/, as Mesos' store creates them at startup. */
/** The directories the store's format has at its top: a gc/ in a 1.0.0 store would claim a format it is not in. */
function storeDirsStep(store: string, format: Readonly<FormatDescriptor>): Step {
  const names = format.storeEntries.filter((e) => e.kind === 'dir').map((e) => e.name)
  const dirs = names.map((n) => `${store}/${n}`)
  return {
    id: 'store-dirs',
    describe: () => `create ${names.map((n) => `${n}/`).join(', ')}`,
    isDone: async ({ fs }) => {
      for (const d of dirs) if ((await fs.lstat(d))?.kind !== 'dir') return false
      return true
    },
    apply: async ({ fs }) => {
      for (const d of dirs) await ensureDir(fs, d)
    },
  }
}

/**
 * Proves the target is a store, or an empty place to make one, before the
 * lock (which lives inside it) is taken. Returns whether it made the store.
 */
async function prepareStore(fs: FsPort, options: ImportOptions): Promise<boolean> {
  // A store reached through a symlink (moved to a bigger disk) is the store it points to.
  const real = (await fs.lstat(options.store)) === undefined ? options.store : await resolveRoot(fs, options.store, 'store')
  const identity = await identifyStore(fs, real, { family: 'mesos' })
  if (identity.isStore) return false
  if (!options.createStore || !identity.canCreate) {
    throw notAStoreError(identity, 'import')
  }
  if (identity.kind === 'absent') {
    await makeDirs(fs, options.store)
    // The new store's own name must outlive a power cut, or a re-run starts over from nothing.
    await fs.syncfs(options.store)
  }
  return true
}
