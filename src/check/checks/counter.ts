/**
 * Per-variant tallies for content checks that report one finding per layer
 * variant (a layer can hold 10^5 whiteouts; one line each helps nobody).
 */
import type { CheckContext } from '../types.js'

export function counter(code: string) {
  const key = (root: string): string => `${code}:${root}`
  return {
    add(ctx: CheckContext, root: string, rel: string, name: string): void {
      const k = key(root)
      const c = (ctx.scratch.get(k) as { n: number; example: string } | undefined) ?? { n: 0, example: rel === '' ? name : `${rel}/${name}` }
      c.n += 1
      ctx.scratch.set(k, c)
    },
    flush(ctx: CheckContext, root: string, message: (n: number, example: string) => string): void {
      const c = ctx.scratch.get(key(root)) as { n: number; example: string } | undefined
      if (c === undefined) return
      ctx.scratch.delete(key(root))
      ctx.report({ path: root, message: message(c.n, c.example), detail: { count: c.n } })
    },
  }
}
