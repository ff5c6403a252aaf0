/** The CLI run in-process against a port, its two streams captured, for tests that assert on what an operator sees. */
import { main } from '../../src/cli/main.js'
import type { OutputStream } from '../../src/cli/style.js'
import type { FsPort } from '../../src/fs/port.js'

export class Capture implements OutputStream {
  text = ''
  constructor(
    readonly isTTY = false,
    readonly columns = 80,
  ) {}
  write(chunk: string | Uint8Array): boolean {
    // latin1 keeps every byte of a binary chunk as one code unit, so a test can look at exact bytes.
    this.text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('latin1')
    return true
  }
}

export async function runCli(fs: FsPort, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture()
  const stderr = new Capture()
  const code = await main(args, { stdout, stderr, env: {}, fs })
  return { code, stdout: stdout.text, stderr: stderr.text }
}
