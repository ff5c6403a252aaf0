/**
 * The families this build reads, in the order identification asks them,
 * and the layouts it only recognises (to say what a directory is).
 */
import type { Family, Looks } from '../family/types.js'
import type { DirEntry, FsPort } from '../fs/port.js'
import { containersStorageLooks } from './containers-storage/identify.js'
import { dockerFamily } from './docker/family.js'
import { mesosFamily } from './mesos/family.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each family reads its own check data
export const FAMILIES: readonly Family<any>[] = [mesosFamily, dockerFamily]

/** Layouts of other tools, recognised and named but not read. */
export const FOREIGN: readonly ((fs: FsPort, dir: string, entries: DirEntry[]) => Promise<Looks | undefined>)[] = [containersStorageLooks]
