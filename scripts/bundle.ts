/**
 * `npm run build`'s last step: the CLI as one CommonJS script, dist/cli.cjs,
 * and V8's code cache of it, dist/cli.cache; bin/load-cli.js runs the script
 * with the cache. Resolving and compiling some 250 modules took most of a
 * short run's time (a check of a one-layer store spent 0.3 s of its 0.5 s
 * before reading the store); one file of the same code takes a third of that,
 * and the cache takes the compile away. Commands stay lazily evaluated:
 * esbuild keeps what `import()` loads behind an initializer. Without esbuild
 * (an install without dev dependencies), nothing is written and the bin runs
 * dist/src as before.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Plugin } from 'esbuild'

const root = fileURLToPath(new URL('../..', import.meta.url))
const bundleFile = `${root}/dist/cli.cjs`
const cacheFile = `${root}/dist/cli.cache`

/**
 * Packages whose module body does costly work when it is evaluated and whose
 * exports are only ever called, not read: string-width builds an
 * Intl.Segmenter and Unicode property regexes (`\p{RGI_Emoji}`) at the top of
 * its module, about 30 ms of every run, though only help text and progress
 * bars measure strings. Each is replaced by a facade whose default export
 * loads the real module on its first call; esbuild bundles a module reached
 * only through `require()` behind an initializer that runs then.
 */
const LAZY_DEFAULT_EXPORTS = /\/node_modules\/(?:.*\/)?string-width\/index\.js$/

const lazyDefaultExports: Plugin = {
  name: 'lazy-default-exports',
  setup(build) {
    build.onLoad({ filter: LAZY_DEFAULT_EXPORTS }, (args) => {
      if (args.suffix === '?real') return { contents: readFileSync(args.path, 'utf8'), loader: 'js' }
      const real = JSON.stringify(`${args.path}?real`)
      return {
        contents: `let real;\nexport default function lazy(...args) {\n  real ??= require(${real}).default;\n  return real(...args);\n}\n`,
        loader: 'js',
      }
    })
  },
}

async function bundle(): Promise<number> {
  // A bundle left from an earlier build would run in place of what tsc just built.
  for (const stale of [bundleFile, cacheFile, `${root}/dist/cli.mjs`]) rmSync(stale, { force: true })
  let esbuild: typeof import('esbuild')
  try {
    esbuild = await import('esbuild')
  } catch {
    process.stderr.write('bundle: esbuild is not installed; the CLI runs from dist/src\n')
    return 0
  }
  await esbuild.build({
    entryPoints: [`${root}/dist/src/cli/main.js`],
    outfile: bundleFile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // ASCII output (esbuild's default) lets the loader read the file as latin1, the cheapest decode.
    charset: 'ascii',
    // Half the bytes to read and to check against the code cache. Names are
    // kept, so an internal error's stack still names its functions.
    minify: true,
    keepNames: true,
    // The native addon and the package root are found from the module's own URL.
    define: { 'import.meta.url': '__layerfsckUrl' },
    banner: { js: 'const __layerfsckUrl = require("node:url").pathToFileURL(__filename).href;' },
    plugins: [lazyDefaultExports],
    logLevel: 'warning',
  })
  makeCodeCache()
  return 0
}

/**
 * Runs the bundle once, as the bin does, in a fresh node (default flags, its
 * output dropped: yargs prints help and version itself), and keeps V8's code
 * for it: the top-level code and every function that short run compiled.
 * V8 checks the cache against the source, its version and its flags when the
 * bin loads it.
 */
function makeCodeCache(): void {
  const child = `
    import { writeFileSync } from 'node:fs'
    import { Writable } from 'node:stream'
    import { loadCli } from ${JSON.stringify(`${root}/bin/load-cli.js`)}
    const cli = loadCli()
    const sink = new Writable({ write: (_chunk, _encoding, done) => done() })
    for (const argv of [['--version'], ['check', '--help']]) await cli.main(argv, { stdout: sink, stderr: sink, env: {} })
    writeFileSync(${JSON.stringify(cacheFile)}, cli.script.createCachedData())
  `
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', child], { stdio: ['ignore', 'ignore', 'inherit'] })
  if (run.status !== 0) throw new Error(`bundle: making the code cache failed (exit ${run.status ?? run.signal})`)
}

process.exitCode = await bundle()
