/**
 * The bin as an operator runs it: the bundled CLI (`npm run build`), in a
 * process of its own, from whatever directory the operator stands in.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { VERSION } from '../src/version.js'

const bin = fileURLToPath(new URL('../bin/layerfsck.js', import.meta.url))
const bundle = fileURLToPath(new URL('../dist/cli.cjs', import.meta.url))

describe('the bundled bin', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'layerfsck-bin-'))
  })
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true })
  })

  it('never lists the directory it is run from, however big (yargs looks for its package.json from its own)', ({ skip }) => {
    if (!existsSync(bundle)) return skip('no bundle: npm run build makes dist/cli.cjs (esbuild was not installed)')
    const cwd = join(dir, 'where the operator stands')
    mkdirSync(cwd)
    // Records every directory the process lists; node loads it before the bin.
    const hook = join(dir, 'hook.cjs')
    const listed = join(dir, 'listed')
    writeFileSync(
      hook,
      `const fs = require('node:fs')\nconst real = fs.readdirSync\nfs.readdirSync = function (p, ...rest) {\n  fs.appendFileSync(${JSON.stringify(listed)}, String(p) + '\\n')\n  return real.call(this, p, ...rest)\n}\n`,
    )
    const r = spawnSync(process.execPath, ['--require', hook, bin, '--version'], { cwd, encoding: 'utf8' })
    expect(r.stdout.trim()).toBe(VERSION)
    expect(r.status).toBe(0)
    const dirs = existsSync(listed) ? readFileSync(listed, 'utf8').split('\n').filter(Boolean) : []
    for (const d of [cwd, dir, tmpdir()]) expect(dirs).not.toContain(d)
  })
})
