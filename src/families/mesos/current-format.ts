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
import { detectMesos, type MesosDetect } from './detect.js'
import { mesosFormat } from './formats/index.js'

export async function currentMesosFormat(fs: FsPort, store: string): Promise<Readonly<FormatDescriptor>> {
  return (await currentMesosFormatDetected(fs, store)).format
}

/** `currentMesosFormat`, with the detection it ran when the store has no stamp: a migration's census reuses its walk. */
export async function currentMesosFormatDetected(fs: FsPort, store: string): Promise<{ format: Readonly<FormatDescriptor>; detected: MesosDetect | undefined }> {
  const stamp = await readStamp(fs, store)
  if (stamp.state === 'ok') return { format: mesosFormat(stamp.stamp.version), detected: undefined }
  const detected = await detectMesos(fs, { store })
  return { format: mesosFormat(detected.format.version), detected }
}
