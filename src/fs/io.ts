/**
 * Small-file IO on top of the port: bounded reads for metadata (every file in
 * a store is hostile input, and a 10 GiB metadata file must not be read into
 * memory), and the durable write every mutating step uses.
 */
import { isErrno, LayerfsckError } from '../errors.js'
import type { FsPort } from './port.js'
import { basename, dirname } from './safe-path.js'

export const DEFAULT_READ_LIMIT = 64 * 1024 * 1024

export class FileTooLargeError extends LayerfsckError {
  constructor(
    readonly path: string,
    readonly limit: number,
  ) {
    super('FILE_TOO_LARGE', `${path} is larger than ${limit} bytes; refusing to read it into memory`)
  }
}

/** Reads a whole regular file (never through a symlink), refusing more than `limit` bytes. */
export async function readFileLimited(fs: FsPort, path: string, limit = DEFAULT_READ_LIMIT): Promise<Uint8Array> {
  const inode = await fs.lstat(path)
  if (inode && inode.kind === 'file' && inode.size > limit) throw new FileTooLargeError(path, limit)
  const stream = await fs.openRead(path)
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    total += chunk.length
    if (total > limit) {
      stream.destroy()
      throw new FileTooLargeError(path, limit)
    }
    chunks.push(chunk)
  }
  return new Uint8Array(Buffer.concat(chunks, total))
}

export async function readTextLimited(fs: FsPort, path: string, limit = DEFAULT_READ_LIMIT): Promise<string> {
  return Buffer.from(await readFileLimited(fs, path, limit)).toString('utf8')
}

let tempCounter = 0

/** A temp name beside `path`, unique within this process; `.layerfsck-tmp-` marks it as ours for gc. */
export function tempNameFor(path: string): string {
  tempCounter += 1
  return `${dirname(path)}/.${basename(path)}.layerfsck-tmp-${process.pid}-${tempCounter}`
}

/**
 * The one temp name a durable write of `path` uses. Fixed rather than
 * unique, because every durable write to a store happens under the store
 * lock: a crash between create and rename leaves this name, and the re-run
 * of the same step writes through the same name and renames it away, so an
 * interrupted run leaves no stray file behind.
 */
export function durableTempFor(path: string): string {
  return `${dirname(path)}/.${basename(path)}.layerfsck-tmp`
}

/**
 * temp → write → fsync → rename → fsync(dir). After a crash at any point the
 * file holds either the old or the new bytes, never a mix. Whatever sits at
 * the temp name is unlinked first and the temp is created exclusively: a
 * leftover of our own is truncated garbage, and a hard link planted there
 * must not have its inode (someone else's file) written through.
 */
export async function writeFileDurable(fs: FsPort, path: string, data: Uint8Array, mode = 0o644): Promise<void> {
  const temp = durableTempFor(path)
  try {
    await fs.unlink(temp)
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err
  }
  const handle = await fs.openWrite(temp, { exclusive: true, mode })
  try {
    await handle.write(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await fs.rename(temp, path)
  await fs.fsync(dirname(path))
}

/** Writes a whole file in one go, without fsync: for generated trees and fixtures, not store metadata. */
export async function writeFileAll(fs: FsPort, path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const handle = await fs.openWrite(path, { mode })
  try {
    await handle.write(typeof data === 'string' ? Buffer.from(data) : data)
  } finally {
    await handle.close()
  }
}

/**
 * mkdir -p: creates the missing directories of `path`, checking from the
 * deepest one up so that an existing path costs a single lstat.
 */
export async function makeDirs(fs: FsPort, path: string, mode = 0o755): Promise<void> {
  let inode
  try {
    inode = await fs.lstat(path)
  } catch (err) {
    // A file further up: let the walk up find it and name it.
    if (!isErrno(err, 'ENOTDIR')) throw err
  }
  if (inode?.kind === 'dir') return
  if (inode !== undefined) throw new LayerfsckError('NOT_A_DIRECTORY', `${path} exists and is not a directory`)
  const parent = dirname(path)
  if (parent !== path) await makeDirs(fs, parent, mode)
  try {
    await fs.mkdir(path, mode)
  } catch (err) {
    // Another process made it between our look and our mkdir: mkdir -p is content.
    if (!isErrno(err, 'EEXIST') || (await fs.lstat(path))?.kind !== 'dir') throw err
  }
}

/** mkdir that accepts an existing directory and makes the new entry durable. */
export async function ensureDir(fs: FsPort, path: string, mode = 0o755): Promise<void> {
  try {
    await fs.mkdir(path, mode)
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err
    const inode = await fs.lstat(path)
    if (inode?.kind === 'dir') return
    throw new LayerfsckError('NOT_A_DIRECTORY', `${path} exists and is not a directory`)
  }
  await fs.fsync(dirname(path))
}
