/** docs/checks.md, generated from the registry so the codes and their text cannot drift. */
import { CHECKS } from './registry.js'
import { PASSES } from './types.js'

export function renderChecksDoc(): string {
  const out: string[] = [
    '# Check codes',
    '',
    '<!-- Generated from src/check/registry.ts by `npm run docs:checks`; edit the check files, not this one. -->',
    '',
    '`layerfsck check` reports each problem under a stable code. Severity: **error** (the agent fails or a',
    'container sees the wrong files), **warning** (a crash leftover or something a backend reads differently),',
    '**info** (worth knowing; never changes the exit code). Fixes: **safe** ones are applied by `-p` and `-y`;',
    '**-y only** ones are applied by `-y` alone; **by hand** ones say what a person should do.',
    '',
  ]
  for (const pass of PASSES) {
    out.push(`## Pass: ${pass.title}`, '')
    out.push('| code | severity | what | fix |', '| --- | --- | --- | --- |')
    for (const c of CHECKS.filter((x) => x.pass === pass.name)) {
      const fix = c.fix === undefined ? 'none needed' : c.fix.by === 'check' ? `${c.fix.safe ? 'safe' : '-y only'}: ${c.fix.describe}` : `by hand: ${c.fix.describe}`
      out.push(`| \`${c.code}\` | ${c.severity} | ${c.title} | ${fix} |`)
    }
    out.push('')
    for (const c of CHECKS.filter((x) => x.pass === pass.name)) out.push(`### \`${c.code}\``, '', c.explain, '')
  }
  return out.join('\n')
}
