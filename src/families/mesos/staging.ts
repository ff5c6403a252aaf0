/**
 * The staging dirs changing commands build in: `staging/XXXXXX`, named as
 * os::mkdtemp names Mesos' own, so check and gc treat both alike. Each is
 * claimed in the journal before it exists, so whatever a crash leaves there
 * is removed by the next session.
 */
import { randomBytes } from 'node:crypto'
import { isErrno } from '../../errors.js'
import type { FsPort } from '../../fs/port.js'
import { removeTree } from '../../fs/remove.js'
import { dirname } from '../../fs/safe-path.js'
import type { StoreSession } from '../../steps/session.js'
import { stagingDir } from './paths.js'

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

export async function makeStagingDir(session: StoreSession): Promise<string> {
  const { fs, store } = session
  for (;;) {
    const name = [...randomBytes(6)].map((b) => ALPHABET[b % ALPHABET.length]).join('')
    const path = await session.claim(`${stagingDir(store)}/${name}`)
    try {
      await fs.mkdir(path, 0o700)
      await fs.fsync(stagingDir(store))
      return path
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err
      await session.release(path)
    }
  }
}

/** Removes a staging dir and makes that durable; nothing to do when it is gone. */
export async function removeStage(fs: FsPort, stage: string): Promise<void> {
  if ((await fs.lstat(stage)) === undefined) return
  await removeTree(fs, stage, { within: dirname(dirname(stage)) })
  await fs.fsync(dirname(stage))
}
