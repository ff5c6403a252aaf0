/** docs/checks.md, generated from the families' check lists so the codes and their text cannot drift. */
import { FAMILIES } from '../families/index.js'
import { allChecks } from './registry.js'
import { PASSES } from './types.js'

export function renderChecksDoc(): string {
  const all = allChecks()
  const out: string[] = [
    '# Check codes',
    '',
    '<!-- Generated from each family\'s src/families/<family>/checks/index.ts by `npm run docs:checks`; edit the check files, not this one. -->',
    '',
    '`layerfsck check` reports each problem under a stable code. Severity: **error** (the agent or daemon fails, or a',
    'container sees the wrong files), **warning** (a crash leftover or something a backend reads differently),',
    '**info** (worth knowing; never changes the exit code). Fixes: **safe** ones are applied by `-p` and `-y`;',
    '**-y only** ones are applied by `-y` alone; **by hand** ones say what a person should do; **gc** ones are',
    'garbage that `layerfsck gc` collects (check reports them and names gc), and **and gc** marks a fix gc also',
    'applies: check and gc share one rule of what is garbage (docs/gc.md). The family column',
    `says which stores get the check: ${FAMILIES.map((f) => `\`${f.name}\` (${f.title})`).join(', ')}.`,
    '',
  ]
  for (const pass of PASSES) {
    const inPass = all.filter((x) => x.check.pass === pass.name)
    if (inPass.length === 0) continue
    out.push(`## Pass: ${pass.title}`, '')
    out.push('| code | family | severity | what | fix |', '| --- | --- | --- | --- | --- |')
    for (const { check: c, families } of inPass) {
      const fix =
        c.fix === undefined
          ? 'none needed'
          : c.garbage === 'gc-only' || c.garbage === 'prune-layers'
            ? `gc${c.garbage === 'prune-layers' ? ' --prune-layers' : ''}: ${c.fix.describe}`
            : c.fix.by === 'check'
              ? `${c.fix.safe ? 'safe' : '-y only'}${c.garbage ? ', and gc' : ''}: ${c.fix.describe}`
              : `by hand: ${c.fix.describe}`
      out.push(`| \`${c.code}\` | ${families.join(', ')} | ${c.severity} | ${c.title} | ${fix} |`)
    }
    out.push('')
    for (const { check: c } of inPass) out.push(`### \`${c.code}\``, '', c.explain, '')
  }
  return out.join('\n')
}
