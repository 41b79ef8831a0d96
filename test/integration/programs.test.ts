/** ALT_LAS 2.0 programs end to end: the examples' traces on a real server, resume inside a while loop, validate's verdict. */
import { afterEach, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { main } from '../../src/cli/main.ts';
import type { Last } from '../../src/last/index.ts';
import { statusKey, type StatusEntry } from '../../src/status/status.ts';
import { Harness, eventually } from '../helpers/runner.ts';
import { CONTROL_FLOW } from '../helpers/paths.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const yaml = (name: string) => readFileSync(join(CONTROL_FLOW, name), 'utf8');
const asked = (harness: Harness, text: string) => harness.fake.stats.prompts.filter((p) => p.endsWith(`Task:\n${text}`)).length;
const keys = (last: Last) => Object.keys(last.task_results).sort();

describe('the control-flow examples on a real server', () => {
  it('cf-cond: the if_body runs with interpolated text, polish is skipped', async () => {
    h = await Harness.start();
    await h.worker();
    await h.publish(yaml('cf-cond.alt.yaml'), { 'Content-Type': 'application/yaml' });
    const [{ last }] = await h.waitForLasts(1);
    expect(last.status).toBe('success');
    expect(keys(last)).toEqual(['check_lang', 'publish', 'summarise', 'translate']);
    expect(asked(h, 'Summarise the report in at most 120 words')).toBe(1);
    expect(asked(h, 'Translate the summary into tr')).toBe(1);
    expect(asked(h, 'Polish the English summary')).toBe(0);
    expect(last.metadata.control_flow).toEqual({ skipped: [{ segment_id: 'polish', reason: 'else_body of check_lang not taken' }] });
    // publish had translate's answer in its context.
    const publish = h.fake.stats.prompts.find((p) => p.endsWith('Task:\nFormat the final text as Markdown'))!;
    expect(publish).toContain(`[translate]\n${last.task_results.translate.output!.text}`);
  });

  it('cf-loops: one write per topic of the JSON answer, in order, then two titles', async () => {
    h = await Harness.start();
    h.fake.setFaults({ script: [{ match: 'JSON array of three topic names', answers: ['["A","B","C"]'] }] });
    await h.worker();
    await h.publish(yaml('cf-loops.alt.yaml'), { 'Content-Type': 'application/yaml' });
    const [{ last }] = await h.waitForLasts(1);
    expect(keys(last)).toEqual(['each_topic', 'each_topic[0]/write', 'each_topic[1]/write', 'each_topic[2]/write', 'titles', 'titles[0]/title', 'titles[1]/title', 'topics']);
    const order = h.fake.stats.prompts.map((p) => p.split('Task:\n')[1]);
    expect(order).toEqual([
      'Return a JSON array of three topic names and nothing else',
      'Write one paragraph about A', 'Write one paragraph about B', 'Write one paragraph about C',
      'Draft title number 1 for the article', 'Draft title number 2 for the article',
    ]);
    expect(last.status).toBe('success');
  });

  it('cf-func: review until approved; the status entry lists the instances with their iteration', async () => {
    h = await Harness.start();
    h.fake.setFaults({ latencyMs: 30, script: [{ match: 'Draft a 100-word abstract', answers: ['THE DRAFT'] }, { match: 'Review this abstract', answers: ['revise', 'approved'] }] });
    await h.worker({ RUNNER_STATUS_FLUSH_MS: '10' });
    await h.publish(yaml('cf-func.alt.yaml'), { 'Content-Type': 'application/yaml' });
    const [{ last }] = await h.waitForLasts(1);
    expect(last.status).toBe('success');
    expect(keys(last)).toHaveLength(8);
    expect(asked(h, 'Review this abstract with high strictness; answer with one word, approved or revise: THE DRAFT')).toBe(2);
    expect(asked(h, 'Produce the final abstract (review verdict: approved)')).toBe(1);
    const entry = await eventually(async () => (await (await new Kvm(h!.nc).open('ALT_RUNS')).get(statusKey('cf-func')))?.json<StatusEntry>(), (e) => e?.state === 'completed', 'the final status');
    expect(entry!.tasks['review_loop[1]/call_review/judge']).toMatchObject({ state: 'completed', segment: 'judge', iteration: 1 });
    expect(entry!.tasks_total).toBe(8);
  });

  it('resumes a job killed inside a while loop at its iteration, paying no completed call again, with the .last of an uninterrupted run', async () => {
    const script = [{ match: 'Draft a 100-word abstract', answers: ['THE DRAFT'] }, { match: 'Review this abstract', answers: ['revise', 'revise', 'revise', 'revise', 'approved'] }];
    // The uninterrupted run, for comparison.
    h = await Harness.start();
    h.fake.setFaults({ script });
    await h.worker();
    await h.publish(yaml('cf-func.alt.yaml'), { 'Content-Type': 'application/yaml' });
    const [{ last: straight }] = await h.waitForLasts(1);
    await h.close();
    // The same job, its worker SIGKILLed after the third review.
    h = await Harness.start();
    h.fake.setFaults({ latencyMs: 400, script });
    const env = { RUNNER_CHECKPOINT_BUDGET_MS: '0', RUNNER_ACK_WAIT_MS: '2000' };
    const first = await h.worker(env);
    await h.publish(yaml('cf-func.alt.yaml'), { 'Content-Type': 'application/yaml' });
    await eventually(async () => asked(h!, 'Review this abstract with high strictness; answer with one word, approved or revise: THE DRAFT'), (n) => n >= 3, 'three reviews');
    await new Promise((r) => setTimeout(r, 100));
    first.kill('SIGKILL');
    await first.exited;
    const paidBefore = h.fake.stats.requests;
    h.fake.setFaults({ latencyMs: 20, script });
    const second = await h.worker(env);
    const [{ last }] = await h.waitForLasts(1, 30_000);
    // Once at least; on busy cores a delivery can be handed back (its lease judged lost after a
    // stall) and resumed again: what holds is that no completed call is paid again.
    expect(second.logs('resuming from checkpoints').length).toBeGreaterThanOrEqual(1);
    // Draft + five reviews + final: seven calls in all, plus at most the one in flight at the kill.
    expect(h.fake.stats.requests).toBeLessThanOrEqual(8);
    expect(h.fake.stats.requests - paidBefore).toBeLessThanOrEqual(4);
    expect(keys(last)).toEqual(keys(straight));
    const outcome = (l: Last) => Object.fromEntries(Object.entries(l.task_results).map(([k, r]) => [k, [r.status, r.output?.text ?? null, r.metadata.control ?? null]]));
    expect(outcome(last)).toEqual(outcome(straight));
    expect(last.task_results.review_loop.metadata.control).toEqual({ construct: 'loop', iterations: 5 });
  });
});

describe('altlas validate gives the worker\'s verdict', () => {
  const run = async (argv: string[]) => {
    const out: string[] = [];
    const code = await main(argv, { out: (l) => out.push(l), err: (l) => out.push(l) });
    return { code, out: out.join('\n') };
  };

  it('refuses what the worker refuses, with the same code', async () => {
    const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'altlas-verdict-'));
    try {
      const forbidden = join(dir, 'forbidden.json');
      writeFileSync(forbidden, JSON.stringify({ id: 'f', version: '1.0', created_at: '2025-01-01T00:00:00Z', title: 't', tasks: [{ id: 'a', description: 'x', task_type: '', parameters: { task_type: ' System_Command\n' } }] }));
      const structural = join(dir, 'structural.yaml');
      writeFileSync(structural, yaml('cf-cond.alt.yaml').replace('if_body: [translate]', 'if_body: [translate, polish]'));
      const v1 = await run(['validate', forbidden]);
      expect(v1).toMatchObject({ code: 1 });
      expect(v1.out).toMatch(/TASK_KIND_FORBIDDEN/);
      const v2 = await run(['validate', structural]);
      expect(v2.out).toMatch(/ALT_REFERENCE .*segment 'polish' is in two bodies/);
      for (const f of ['cf-cond.alt.yaml', 'cf-loops.alt.yaml', 'cf-func.alt.yaml']) expect((await run(['validate', join(CONTROL_FLOW, f)])).code).toBe(0);
      // The worker says the same.
      h = await Harness.start();
      await h.worker();
      await h.publish(readFileSync(forbidden));
      await h.publish(readFileSync(structural), { 'Content-Type': 'application/yaml' });
      const dlq = await eventually(() => h!.records('ALT_DLQ'), (r) => r.length === 2, 'both dead letters');
      expect(dlq.map((r) => r.headers?.get('Dlq-Code')).sort()).toEqual(['ALT_REFERENCE', 'TASK_KIND_FORBIDDEN']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
