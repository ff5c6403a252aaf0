/**
 * `FsPort.linkNames` for a port that has no native batch of its own (the
 * memory adapter, the crash decorator): one `link` per name, each failure
 * that port's errno, so both answer exactly as their own `link` does. The
 * caller checks both directories first, as the disk adapter opens them.
 */
import { isErrno } from '../errors.js'
import { isEntryName } from './port.js'
import { childPath } from './walk.js'

export async function linkEachName(
  fromDir: string,
  toDir: string,
  names: readonly string[],
  link: (existing: string, path: string) => Promise<void>,
): Promise<(string | undefined)[]> {
  const answers: (string | undefined)[] = []
  for (const name of names) {
    // Joined onto a directory, a name with a slash or a dot would be a path elsewhere.
    if (!isEntryName(name)) {
      answers.push('EINVAL')
      continue
    }
    try {
      await link(childPath(fromDir, name), childPath(toDir, name))
      answers.push(undefined)
    } catch (err) {
      // Only what the port throws for a syscall is a name's answer; a simulated crash
      // (code ECRASH, no syscall) or any other failure ends the call.
      if (!isErrno(err) || typeof err.syscall !== 'string') throw err
      answers.push(err.code)
    }
  }
  return answers
}
