/**
 * The format to stamp a Mesos store with once a command has changed it: the
 * stamp it already carries, or else the newest format its contents prove
 * (the conservative answer, since detection gives a lower bound). Asked
 * after the steps ran, so a fix that moved the store forward is what gets
 * recorded.
 */
import { readStamp } from '../../format/stamp.js'
import type { FsPort } from '../../fs/port.js'
import type { FormatDescriptor } from './descriptor.js'
import { detectMesos } from './detect.js'
import { mesosFormat } from './formats/index.js'

export async function currentMesosFormat(fs: FsPort, store: string): Promise<Readonly<FormatDescriptor>> {
  const stamp = await readStamp(fs, store)
  if (stamp.state === 'ok') return mesosFormat(stamp.stamp.version)
  const { format } = await detectMesos(fs, { store })
  return mesosFormat(format.version)
}
