import { deviceNumber } from '../../fs/device-number.js'
import { isWhiteoutDevice } from '../../layer/whiteout-names.js'
import type { DevNo } from '../../fs/port.js'
import type { CheckContext, CheckSpec, ContentDir } from '../types.js'

export const charDeviceNotWhiteout: CheckSpec = {
  code: 'char-device-not-whiteout',
  pass: 'contents',
  severity: 'warning',
  title: 'a char device in an overlay-form layer that is not 0/0',
  explain:
    'In a layer overlayfs reads a char device is where a whiteout is expected, and only 0/0 is one. Any other device number ' +
    'is a real device node that every container of the image gets, which images almost never mean to ship.',
  fix: { by: 'operator', describe: 'check the image that carries it; a whiteout must be 0/0' },
  // Not async: the listing gives nearly every device's number, and a directory that needs no lstat costs no promise.
  onDir(ctx, dir) {
    if (dir.whiteouts !== 'overlay') return
    if (dir.entries.some((e) => e.kind === 'char' && e.rdev === undefined)) return judgeLookingUp(ctx, dir)
    for (const e of dir.entries) if (e.kind === 'char') judge(ctx, dir, e.name, e.rdev)
  },
}

function judge(ctx: CheckContext, dir: ContentDir, name: string, rdev: DevNo | undefined): void {
  if (rdev && !isWhiteoutDevice({ kind: 'char', rdev })) {
    ctx.report({ path: `${dir.path}/${name}`, message: `char device ${rdev.major}/${rdev.minor}, not a whiteout` })
  }
}

async function judgeLookingUp(ctx: CheckContext, dir: ContentDir): Promise<void> {
  for (const e of dir.entries) if (e.kind === 'char') judge(ctx, dir, e.name, await deviceNumber(ctx.fs, dir.path, e))
}
