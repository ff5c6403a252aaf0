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
import { relative } from 'node:path'
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

/**
 * Built-ins our own modules import for a function or two that most runs
 * never call: node:crypto (hashes for import and Docker ids, random names
 * for staging) costs ≈9 ms to load, node:zlib ≈3 ms, and a check -n calls
 * neither. Each is replaced by a facade whose functions load the real module
 * on first call. A name missing here fails the build (esbuild checks every
 * import against the facade's exports), so a facade cannot silently drift.
 */
const LAZY_BUILTINS: Record<string, readonly string[]> = {
  'node:crypto': ['createHash', 'randomBytes'],
  'node:zlib': ['createGunzip'],
}

const lazyBuiltins: Plugin = {
  name: 'lazy-builtins',
  setup(build) {
    // Matched from the table's own names, so a builtin added there needs nothing else.
    const filter = new RegExp(`^(?:${Object.keys(LAZY_BUILTINS).join('|')})$`)
    build.onResolve({ filter }, (args) =>
      args.namespace === 'lazy-builtin' || args.importer.includes('/node_modules/')
        ? undefined
        : { path: args.path, namespace: 'lazy-builtin' },
    )
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => {
      const names = LAZY_BUILTINS[args.path]!
      const load = `let real;\nconst load = () => (real ??= require(${JSON.stringify(args.path)}));\n`
      return { contents: load + names.map((n) => `export function ${n}(...args) { return load().${n}(...args) }\n`).join(''), loader: 'js' }
    })
  },
}

/**
 * chalk's default instances probe the terminal when chalk is loaded (its
 * vendored supports-color loads node:tty and reads the environment): ≈7 ms
 * of every run. layerfsck never uses them: cli/style.ts decides the colour
 * level itself and makes its own instance. The probe is replaced by one
 * that finds no colour.
 */
const noColorProbe: Plugin = {
  name: 'no-color-probe',
  setup(build) {
    build.onResolve({ filter: /^#supports-color$/ }, (args) =>
      args.importer.includes('/node_modules/chalk/') ? { path: args.path, namespace: 'no-color-probe' } : undefined,
    )
    build.onLoad({ filter: /.*/, namespace: 'no-color-probe' }, () => ({
      contents: 'export default { stdout: false, stderr: false }\n',
      loader: 'js',
    }))
  },
}

/**
 * yargs' platform shim finds two things from where it lives, and bundled it
 * lives in dist/cli.cjs:
 * - the application's package.json, by reading every directory upwards
 *   until `node_modules`. With none above dist/ it starts from the cwd: an
 *   operator standing in /var/lib/docker/overlay2 had every run read that
 *   directory's thousands of entries, then its parents', and build an
 *   AssertionError when none held a package.json. It now reads layerfsck's
 *   own package.json.
 * - its message catalogues, `../../../locales` from the shim: from the
 *   bundle, a `locales` dir beside layerfsck's package, which anything may
 *   hold (a malformed file there would stop every run). It now looks inside
 *   the package, where the bundle ships none: yargs' messages are English,
 *   as layerfsck's own are, and as they already were.
 * Both are read relative to the bundle's own file (the shim's `__dirname`
 * is that file: import.meta.url is the bundle's). A yargs whose shim no
 * longer has either line, or no longer has that shim, fails the build
 * rather than read from the cwd again.
 */
const YARGS_SHIM = /\/node_modules\/yargs\/lib\/platform-shims\/esm\.mjs$/
const YARGS_REWRITES: [string, string][] = [
  [
    "const mainFilename = __dirname.substring(0, __dirname.lastIndexOf('node_modules'));",
    `const mainFilename = resolve(__dirname, ${JSON.stringify(relative(bundleFile, `${root}/package.json`))});`,
  ],
  ["directory: resolve(__dirname, '../../../locales'),", `directory: resolve(__dirname, ${JSON.stringify(relative(bundleFile, `${root}/dist/yargs-locales`))}),`],
]

const yargsOwnPackage: Plugin = {
  name: 'yargs-own-package',
  setup(build) {
    let rewritten = false
    build.onLoad({ filter: YARGS_SHIM }, (args) => {
      let source = readFileSync(args.path, 'utf8')
      for (const [line, by] of YARGS_REWRITES) {
        if (!source.includes(line)) throw new Error(`${args.path}: no longer holds \`${line}\`, which bundle.ts rewrites`)
        source = source.replace(line, by)
      }
      rewritten = true
      return { contents: source, loader: 'js' }
    })
    build.onEnd(() => {
      if (!rewritten) throw new Error('bundle: yargs was bundled without lib/platform-shims/esm.mjs, whose lookups bundle.ts rewrites')
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
    plugins: [lazyDefaultExports, lazyBuiltins, noColorProbe, yargsOwnPackage],
    logLevel: 'warning',
  })
  makeCodeCache()
  return 0
}

/**
 * Runs the bundle as the bin does, in a fresh node (default flags, its
 * output dropped), and keeps V8's code for it: the top-level code and every
 * function those runs compiled. Besides `--version` and help, it checks a
 * one-layer store, in text and in JSON, so that a check's own code is in the
 * cache too: ≈15 ms of every check, for ≈10 ms more on `--version`, whose
 * target has the room (docs/performance.md). V8 checks the cache against the
 * source, its version and its flags when the bin loads it.
 */
function makeCodeCache(): void {
  const child = `
    import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
    import { tmpdir } from 'node:os'
    import { Writable } from 'node:stream'
    import { loadCli } from ${JSON.stringify(`${root}/bin/load-cli.js`)}
    import { createNodeFs } from ${JSON.stringify(`${root}/dist/src/fs/node.js`)}
    import { generateMesosStore } from ${JSON.stringify(`${root}/dist/src/families/mesos/testing.js`)}
    const cli = loadCli()
    const sink = new Writable({ write: (_chunk, _encoding, done) => done() })
    for (const argv of [['--version'], ['check', '--help']]) await cli.main(argv, { stdout: sink, stderr: sink, env: {} })
    const dir = mkdtempSync(tmpdir() + '/layerfsck-cache-')
    try {
      // The aufs form: plain files only, so no mknod or trusted.* xattr, which an unprivileged
      // build (npm ci in a container, a tmpdir on overlayfs) cannot make.
      const store = dir + '/store'
      await generateMesosStore(createNodeFs(), store, { layers: 1, filesPerLayer: 50, whiteoutsPerLayer: 2, opaquePerLayer: 1, backends: ['aufs'], seed: 'code-cache' })
      for (const json of [[], ['--json']]) await cli.main(['check', '-n', ...json, '--store', store], { stdout: sink, stderr: sink, env: {} })
    } catch (err) {
      // The cache is only ever a speed-up: one made from the help runs alone still serves.
      process.stderr.write('bundle: the code cache leaves out a check (' + (err?.message ?? err) + ')\\n')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    writeFileSync(${JSON.stringify(cacheFile)}, cli.script.createCachedData())
  `
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', child], { stdio: ['ignore', 'ignore', 'inherit'] })
  if (run.status !== 0) throw new Error(`bundle: making the code cache failed (exit ${run.status ?? run.signal})`)
}

process.exitCode = await bundle()
