#!/usr/bin/env node
// The bin shim: runs the built CLI and turns its answer into an exit code.
// The CLI bundled into one script, with V8's code cache of it (npm run build
// makes both: docs/performance.md says what each saves); without the bundle
// (no esbuild at build time), the 250 modules of dist/src. CommonJS, as
// load-cli.js says why.
'use strict'
const { loadCli } = require('./load-cli.js')

async function run() {
  const { main } = loadCli() ?? (await import('../dist/src/cli/main.js'))
  // The first Ctrl-C asks the command to stop between two steps, so that it
  // removes what it staged and leaves no journal; a second one ends it at once,
  // and the next run recovers what it left, as after any crash.
  const cancel = new AbortController()
  process.on('SIGINT', () => {
    if (cancel.signal.aborted) {
      process.stderr.write('\nlayerfsck: cancelled\n')
      process.exit(32)
    }
    process.stderr.write('\nlayerfsck: stopping after the current step (Ctrl-C again to stop at once)\n')
    cancel.abort()
  })
  // A question (gc's "collect these?") is asked only of a person at a terminal.
  // stderr first: touching process.stdin sets up a stream for it, which a run
  // whose output goes to a pipe or a file never needs.
  const ask =
    process.stderr.isTTY && process.stdin.isTTY
      ? async (question) => {
          const { createInterface } = require('node:readline/promises')
          const rl = createInterface({ input: process.stdin, output: process.stderr })
          try {
            return await rl.question(question, { signal: cancel.signal })
          } catch {
            return ''
          } finally {
            rl.close()
          }
        }
      : undefined
  return main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    signal: cancel.signal,
    ...(ask ? { ask } : {}),
  })
}

run().then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    // main answers every failure with an exit code; this is a failure to load it at all.
    process.stderr.write(`layerfsck: ${err?.stack ?? err}\n`)
    process.exitCode = 8
  },
)
