/** `npm run docs:checks`: rewrites docs/checks.md from the check registry. */
import { fileURLToPath } from 'node:url'
import { renderChecksDoc } from '../src/check/doc.js'
import { writeFileAll } from '../src/fs/io.js'
import { createNodeFs } from '../src/fs/node.js'

const path = fileURLToPath(new URL('../../docs/checks.md', import.meta.url))
await writeFileAll(createNodeFs(), path, renderChecksDoc())
process.stdout.write(`wrote ${path}\n`)
