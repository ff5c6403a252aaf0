/**
 * Progress on stderr, drawn by cli-progress, only when stderr is a
 * terminal: piped or captured output never gets control characters.
 * cli-progress (and the readline it pulls in) is loaded only then: a
 * run without a terminal, the common case, skips its ~10 ms of loading.
 */
import type { CommandContext } from './commands.js'

export interface Progress {
  update(done: number, total: number, detail: string): void
  stop(): void
}

const SILENT: Progress = { update() {}, stop() {} }

export async function progressFor(ctx: CommandContext, label: string): Promise<Progress> {
  if (!ctx.errStyle.tty) return SILENT
  const { default: cliProgress } = await import('cli-progress')
  const bar = new cliProgress.SingleBar(
    {
      stream: ctx.stderr as unknown as NodeJS.WritableStream,
      format: `${label} {bar} {value}/{total} {detail}`,
      barsize: 24,
      hideCursor: true,
      clearOnComplete: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  )
  let started = false
  return {
    update(done, total, detail) {
      if (!started) {
        bar.start(total, done, { detail })
        started = true
      } else {
        bar.setTotal(total)
        bar.update(done, { detail })
      }
    },
    stop() {
      if (started) bar.stop()
    },
  }
}

/** `1m05s`, `42s`: an ETA to read at a glance. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
}
