/**
 * `altlas usage`: tokens and cost of the AI calls the workers recorded in the usage stream, over a
 * window, in all and per tenant, model or day (read as a reader: see usage/read.ts).
 */
import { UsageError, EXIT, parseCommandArgs, type Io } from './output.ts';
import { COMMON_HELP, COMMON_OPTIONS, configFrom, withNats } from './context.ts';
import { parseSince } from './results.ts';
import { Progress, parseRfc3339, table } from '../ops/format.ts';
import { readUsage } from '../ops/usage-read.ts';
import { GROUPINGS, type Grouping, type WindowTotals } from '../usage/window.ts';

export const USAGE_HELP = `Usage: altlas usage [--since 24h] [--until TIME] [--by tenant|model|day] [--json] [options]

Adds up the AI calls the workers recorded in the usage stream (USAGE_STREAM, one record per call,
kept USAGE_MAX_AGE_MS): tokens by kind (input, output, cached input, reasoning), cost, jobs and
calls, in all and per tenant, model or UTC day. Tokens are those the providers reported; a count
or a cost that is unknown for one call (not reported, an unpriced model) is shown as unknown for
every total it belongs to. Calls that got no answer are counted apart (failed).

Options:
  --since TIME|DURATION  start of the window: RFC 3339, or a duration back from now (default 24h)
  --until TIME           end of the window (default now)
  --by GROUP             tenant, model or day: one row per group after the total
  --json                 one JSON object: {tokens, cost, currency, jobs, calls, calls_failed,
                         since, until, by, groups}
${COMMON_HELP}

Exit: 0; 1 the stream is missing; 2 usage error.`;

const shown = (n: number | null) => (n === null ? 'unknown' : String(n));

function row(name: string, t: WindowTotals): string[] {
  return [name, String(t.jobs), String(t.calls), String(t.calls_failed), shown(t.tokens.input), shown(t.tokens.output), shown(t.tokens.cached_input), shown(t.tokens.reasoning),
    t.cost === null ? 'unknown' : `${t.cost.toFixed(6)}${t.currency ? ` ${t.currency}` : ''}`];
}

export async function usageCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv, allowPositionals: true,
    options: { ...COMMON_OPTIONS, since: { type: 'string', default: '24h' }, until: { type: 'string' }, by: { type: 'string' } },
  });
  if (values.help) {
    io.out(USAGE_HELP);
    return EXIT.ok;
  }
  if (positionals.length) throw new UsageError('usage takes no arguments');
  const by = (values.by ?? null) as Grouping | null;
  if (by !== null && !GROUPINGS.includes(by)) throw new UsageError(`--by must be one of ${GROUPINGS.join(', ')}`);
  const now = Date.now();
  const since = parseSince(values.since, now);
  const until = values.until ? parseRfc3339(values.until) : new Date(now);
  if (!until) throw new UsageError(`--until: "${values.until}" is not an RFC 3339 time`);
  const config = configFrom(values);
  return withNats(config, async (s) => {
    let progress: Progress | null = null;
    const summary = await readUsage(s.jsm, {
      stream: config.USAGE_STREAM, since, until, by,
      onProgress: (total) => {
        progress = values.json ? null : new Progress(total, 'reading usage records');
        return () => progress?.tick();
      },
    });
    (progress as Progress | null)?.stop();
    if (values.json) io.out(JSON.stringify(summary));
    else {
      const head = [by ? by.toUpperCase() : '', 'JOBS', 'CALLS', 'FAILED', 'INPUT', 'OUTPUT', 'CACHED', 'REASONING', 'COST'];
      io.out(`AI usage from ${summary.since} to ${summary.until}`);
      io.out(table(head, [row('total', summary), ...Object.entries(summary.groups).map(([k, t]) => row(k, t))]));
    }
    return EXIT.ok;
  }, { role: 'reader', streams: [config.USAGE_STREAM] });
}
