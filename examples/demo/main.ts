/**
 * `pnpm demo`: the whole library on a realistic scenario, in well under a minute.
 *
 * Live chat, support, classification (JSON checked with zod), restricted HR notes, premium analysis
 * and a batch summarization flood go through one llm-resilience engine while the primary provider
 * throttles, goes down and recovers. A progress display runs meanwhile; at the end a table per route
 * is printed and an HTML report with charts is written.
 *
 *   npx -y pnpm@12.4.2 demo                                   # fake providers, ~35 s
 *   DEMO_DURATION_SCALE=0.2 npx -y pnpm@12.4.2 demo           # 5x shorter
 *   DEMO_REPORT=/tmp/r.html npx -y pnpm@12.4.2 demo           # report elsewhere
 *   OPENAI_API_KEY=sk-... npx -y pnpm@12.4.2 demo             # a real provider, gently
 *
 * See examples/demo/README.md.
 */
import { runDemo } from './runDemo';
import type { BreakerTransition } from './stats';
import { formatTable } from './table';

export { runDemo, type DemoOptions, type DemoResult } from './runDemo';

async function main(): Promise<void> {
  const out = process.stdout;
  const bold = (s: string) => (out.isTTY && !process.env.NO_COLOR ? `\x1b[1m${s}\x1b[0m` : s);
  out.write(`${bold('llm-resilience demo')}\n`);
  const result = await runDemo({
    out,
    onStart: (scenario) => {
      for (const n of scenario.notes) out.write(n + '\n');
      for (const p of scenario.phases) out.write(`  ${`${p.from}-${p.to}s`.padEnd(9)} ${p.name.padEnd(11)} ${p.description}\n`);
      out.write('\n');
    },
  });
  const s = result.scenario;
  out.write(`\n${bold('Per route')} (${s.mode === 'fake' ? `latency in scenario time, ${s.speed}x compressed` : 'real time'}):\n`);
  out.write(formatTable(result.rows, result.totals) + '\n\n');
  out.write(breakerSummary(result.transitions) + '\n');
  const targets = new Map(result.report.targets.map((t) => [t.id, t]));
  const restricted = Object.entries(result.restrictedAttemptsByTarget).map(([id, n]) => {
    const t = targets.get(id);
    return `${n} attempts on ${id}${t ? ` (${t.provider})` : ''}${t?.dataClasses.includes('restricted') ? '' : ', NOT approved for it'}`;
  });
  out.write(
    `Restricted data: ${restricted.join('; ') || 'no attempts'}` +
      (Object.keys(result.counters).length
        ? ` (requests each fake provider received: ${Object.entries(result.counters).map(([p, c]) => `${p} ${c.requests}`).join(', ')})`
        : '') +
      '.\n',
  );
  out.write(`Ran ${(result.realDurationMs / 1000).toFixed(1)}s real time.\n`);
  out.write(`\n${bold('Report:')} ${result.reportPath}\n`);
}

/** One line per breaker that opened: when, how often, and when it closed again. */
function breakerSummary(transitions: readonly BreakerTransition[]): string {
  const keys = [...new Set(transitions.filter((t) => t.to === 'open').map((t) => t.key))];
  if (keys.length === 0) return 'Breakers: none opened.';
  return keys
    .map((key) => {
      const mine = transitions.filter((t) => t.key === key);
      const opens = mine.filter((t) => t.to === 'open');
      const closed = mine.filter((t) => t.to === 'closed').at(-1);
      return (
        `Breaker ${key}: opened at t=${opens[0]!.atS.toFixed(0)}s (${opens[0]!.reason})` +
        (opens.length > 1 ? `, re-opened ${opens.length - 1}x after failed probes` : '') +
        (closed && closed.atS > opens.at(-1)!.atS ? `, closed again at t=${closed.atS.toFixed(0)}s.` : ', still not closed.')
      );
    })
    .join('\n');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
