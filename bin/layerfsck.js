#!/usr/bin/env node
// The bin shim: runs the built CLI and turns its answer into an exit code.
import { main } from '../dist/src/cli/main.js'

process.once('SIGINT', () => {
  process.stderr.write('\nlayerfsck: cancelled\n')
  process.exit(32)
})
const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env })
process.exitCode = code
