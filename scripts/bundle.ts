/**
 * `npm run build`'s last step: the CLI as one ES module, dist/cli.mjs, which
 * bin/layerfsck.js loads first. Resolving and compiling some 250 modules took
 * most of a short run's time (a check of a one-layer store spent 0.3 s of its
 * 0.5 s before reading the store); one file of the same code takes a third of
 * that. Commands stay lazily evaluated: esbuild keeps what `import()` loads
 * behind an initializer. Without esbuild (an install without dev
 * dependencies), nothing is written and the bin runs dist/src as before.
 */
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

async function bundle(): Promise<number> {
  // A bundle left from an earlier build would run in place of what tsc just built.
  rmSync(`${root}/dist/cli.mjs`, { force: true })
  let esbuild: typeof import('esbuild')
  try {
    esbuild = await import('esbuild')
  } catch {
    process.stderr.write('bundle: esbuild is not installed; the CLI runs from dist/src\n')
    return 0
  }
  await esbuild.build({
    entryPoints: [`${root}/dist/src/cli/main.js`],
    outfile: `${root}/dist/cli.mjs`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // CommonJS dependencies (protobufjs) call require(), which an ES module lacks.
    banner: { js: "import { createRequire as __layerfsckRequire } from 'node:module'; const require = __layerfsckRequire(import.meta.url);" },
    logLevel: 'warning',
  })
  return 0
}

process.exitCode = await bundle()
