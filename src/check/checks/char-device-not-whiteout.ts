import { deviceNumber } from '../../fs/device-number.js'
import { isWhiteoutDevice } from '../../layer/whiteout-names.js'
import type { CheckSpec } from '../types.js'

export const charDeviceNotWhiteout: CheckSpec = {
  code: 'char-device-not-whiteout',
  pass: 'contents',
  severity: 'warning',
  title: 'a char device in an overlay-form layer that is not 0/0',
  explain:
    'In a layer overlayfs reads a char device is where a whiteout is expected, and only 0/0 is one. Any other device number ' +
    'is a real device node that every container of the image gets, which images almost never mean to ship.',
  fix: { by: 'operator', describe: 'check the image that carries it; a whiteout must be 0/0' },
  async onDir(ctx, dir) {
    if (dir.whiteouts !== 'overlay') return
    for (const e of dir.entries) {
      if (e.kind !== 'char') continue
      const rdev = await deviceNumber(ctx.fs, dir.path, e)
      if (rdev && !isWhiteoutDevice({ kind: 'char', rdev })) {
        ctx.report({ path: `${dir.path}/${e.name}`, message: `char device ${rdev.major}/${rdev.minor}, not a whiteout` })
      }
    }
  },
}
