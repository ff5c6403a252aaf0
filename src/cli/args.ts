/**
 * Arguments several commands share, turned from argv strings into the
 * library's typed options (the library never sees argv). Everything here is
 * pure: no IO, so a test can hold argv beside the options it must become.
 */
import { resolve } from 'node:path'
import { UsageError } from '../errors.js'
import type { FamilyName } from '../family/types.js'
import type { ChangeOptions } from '../steps/options.js'

/** What yargs hands a command: option names as typed on the command line, values as parsed. */
export type Args = Readonly<Record<string, unknown>>

/** `--family`'s choices; a test holds them equal to the families the build has. */
export const FAMILY_NAMES: readonly FamilyName[] = ['mesos', 'docker']

export function changeOptions(args: Args): Pick<ChangeOptions, 'waitSeconds' | 'force'> {
  const out: Pick<ChangeOptions, 'waitSeconds' | 'force'> = {}
  if (args['wait'] !== undefined) {
    const text = String(args['wait'])
    const seconds = Number(text)
    if (text.trim() === '' || !Number.isFinite(seconds) || seconds < 0) throw new UsageError(`--wait takes a number of seconds, not ${JSON.stringify(text)}`)
    out.waitSeconds = seconds
  }
  if (args['force'] === true) out.force = true
  return out
}

/** A path option made absolute: the port takes absolute paths, and a relative one is the operator's, from their cwd. */
export function pathArg(args: Args, name: string): string | undefined {
  const v = args[name]
  return typeof v === 'string' ? resolve(v) : undefined
}

/** `--family`, which yargs has already held to its choices. */
export function familyOption(args: Args): { family?: FamilyName } {
  const v = args['family']
  return typeof v === 'string' ? { family: v as FamilyName } : {}
}

/** The work dir and the liveness sources, as check and gc take them. */
export function livenessArgs(args: Args): { workDir?: string; runtimeDir?: string; knownContainers?: string } {
  const workDir = pathArg(args, 'work-dir')
  const runtimeDir = pathArg(args, 'runtime-dir')
  const knownContainers = pathArg(args, 'known-containers')
  return {
    ...(workDir !== undefined ? { workDir } : {}),
    ...(runtimeDir !== undefined ? { runtimeDir } : {}),
    ...(knownContainers !== undefined ? { knownContainers } : {}),
  }
}
