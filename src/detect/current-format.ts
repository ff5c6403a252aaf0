/**
 * The format to stamp a store with once a command has changed it: the stamp
 * it already carries, or else the newest format its contents prove (the
 * conservative answer, since detection gives a lower bound). Asked after the
 * steps ran, so a fix that moved the store forward is what gets recorded.
 */
import type { FormatDescriptor } from '../format/descriptor.js'
import { findFormat, latestFormat } from '../format/registry.js'
import { readStamp } from '../format/stamp.js'
import type { FsPort } from '../fs/port.js'
import { detectLocked } from './detect.js'

export async function formatToStamp(fs: FsPort, store: string): Promise<Readonly<FormatDescriptor>> {
  const stamp = await readStamp(fs, store)
  if (stamp.state === 'ok') return stamp.format
  const { format } = await detectLocked(fs, { store })
  return findFormat(format.family, format.version) ?? latestFormat('mesos-docker')
}
