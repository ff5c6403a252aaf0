// Loads the CLI that `npm run build` bundled into dist/cli.cjs, with the V8
// code cache the build made of it (dist/cli.cache). Node 20 keeps no compile
// cache for modules, and compiling the 1.2 MB bundle on every run was a fifth
// of a short run's time. V8 checks the cache against the source and its own
// version and flags, and compiles afresh when it does not fit, so a stale or
// missing cache costs time, never correctness. Returns undefined when the
// bundle itself is missing (a build without esbuild); the bin then runs dist/src.
//
// bin/ is CommonJS (bin/package.json): an ES module entry starts node's ESM
// loader, and importing node:fs from ESM builds a facade of all its exports,
// whose lazy stream getters load node:stream: ≈8 ms of every run together.
'use strict'
const { readFileSync } = require('node:fs')
const { createRequire } = require('node:module')
const { dirname, join } = require('node:path')
const { Script } = require('node:vm')

const bundlePath = join(__dirname, '../dist/cli.cjs')
const cachePath = join(__dirname, '../dist/cli.cache')

function loadCli() {
  let source
  try {
    // esbuild writes ASCII only (non-ASCII characters escaped), so latin1 reads it exactly and fastest.
    source = readFileSync(bundlePath, 'latin1')
  } catch (err) {
    if (err?.code === 'ENOENT') return undefined
    throw err
  }
  let cachedData
  try {
    cachedData = readFileSync(cachePath)
  } catch {
    cachedData = undefined
  }
  // The CommonJS wrapper, as node's own loader would add it.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundlePath,
    ...(cachedData ? { cachedData } : {}),
  })
  const module = { exports: {} }
  script.runInThisContext()(module.exports, createRequire(bundlePath), module, bundlePath, dirname(bundlePath))
  return { main: module.exports.main, script }
}

module.exports = { loadCli, bundlePath, cachePath }
