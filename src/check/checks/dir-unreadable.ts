import type { CheckSpec } from '../types.js'

export const dirUnreadable: CheckSpec = {
  code: 'dir-unreadable',
  pass: 'host',
  severity: 'warning',
  title: 'a directory this process cannot list',
  garbage: 'keeps',
  explain:
    'Every check reads directories: the store\'s own, each layer\'s tree, the containers\'. One that cannot be ' +
    'listed (EACCES: a run as a user other than the agent\'s or daemon\'s, or a mode changed by hand) hides everything below it, ' +
    'so what the other checks say about it is incomplete. It is reported here instead of stopping the check or ' +
    'passing in silence; nothing below it was checked or changed.',
  fix: { by: 'operator', describe: 'run check as a user who can read the store (root, as the agent runs), or restore the directory\'s mode' },
  async run(ctx) {
    // The store's fixed places are read here too, so that --only dir-unreadable still covers them
    // (each is read once per check run; the content walk is covered when content checks run).
    await ctx.data.readAll()
    for (const u of ctx.data.unreadable()) {
      ctx.report({ path: u.path, message: `cannot be listed (${u.code}): nothing below it was checked`, detail: { errno: u.code } })
    }
  },
}
