/**
 * The `.last` as programs that read ALT_LAS results expect it (the original runner's model,
 * formats.md §4), artifacts that exist, and the archive hand-off (§6), through a real worker.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { main } from '../../src/cli/main.ts';
import type { Last } from '../../src/last/index.ts';
import { Harness, eventually, job } from '../helpers/runner.ts';
import { SAMPLES } from '../helpers/paths.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const TASK_STATUS = ['pending', 'running', 'completed', 'failed', 'cancelled', 'timeout'];
const DEBUG_STATUS: Record<string, string> = { success: 'Success', partialsuccess: 'PartialSuccess', failure: 'Failure' };
const MODES = ['normal', 'dream', 'explore', 'chaos'];

/**
 * The original runner model's rules (runner-service/src/last_file/models.rs, generator.rs), as a
 * list of violations: types, non-null fields, enum spellings, the summary layout, edges naming nodes.
 */
function violations(last: Last): string[] {
  const v: string[] = [];
  const need = (ok: boolean, what: string) => ok || v.push(what);
  need(UUID.test(last.id), 'id is a uuid');
  need(UUID.test(last.execution_id), 'execution_id is a uuid');
  need(typeof last.alt_file_id === 'string' && last.alt_file_id.length > 0, 'alt_file_id');
  need(typeof last.title === 'string', 'title is a string');
  need(MODES.includes(last.mode), `mode is a lowercase AltMode (${last.mode})`);
  need(last.persona === null || typeof last.persona === 'string', 'persona is a string or null');
  need(['success', 'partialsuccess', 'failure'].includes(last.status), 'status spelling');
  need(last.version === '1.0', 'version 1.0');
  need(RFC3339.test(last.start_time) && RFC3339.test(last.end_time), 'start_time and end_time are RFC 3339 UTC');
  need(last.execution_time_ms === Date.parse(last.end_time) - Date.parse(last.start_time), 'execution_time_ms = end - start');
  const results = Object.entries(last.task_results);
  const completed = results.filter(([, r]) => r.status === 'completed').length;
  need(last.success_rate === (results.length ? completed / results.length : 0), 'success_rate = completed / all');
  need(last.status === (results.length === 0 || completed === 0 ? 'failure' : completed === results.length ? 'success' : 'partialsuccess'), 'status follows the counts');
  const ids = new Set<string>();
  for (const [key, r] of results) {
    need(r.task_id === key, `${key}: keyed by task id`);
    need(UUID.test(r.execution_id) && !ids.has(r.execution_id), `${key}: its own execution_id`);
    ids.add(r.execution_id);
    need(TASK_STATUS.includes(r.status), `${key}: task status spelling`);
    need(RFC3339.test(r.start_time), `${key}: start_time always set`);
    need(r.status === 'pending' || r.status === 'running' || (r.end_time !== null && RFC3339.test(r.end_time)), `${key}: end_time set once it ended`);
    need(Number.isInteger(r.duration_ms) && r.duration_ms >= 0, `${key}: duration_ms`);
    if (r.output) {
      need(typeof r.output.text === 'string' && typeof r.output.model_used === 'string', `${key}: output text and model_used`);
      need(Number.isInteger(r.output.tokens_used) && r.output.tokens_used >= 0, `${key}: tokens_used an unsigned integer`);
      need(Number.isInteger(r.output.processing_time_ms) && r.output.processing_time_ms >= 0, `${key}: processing_time_ms`);
    }
    need(r.error === null || typeof r.error === 'string', `${key}: error is a string or null`);
    need(typeof r.metadata === 'object' && r.metadata !== null, `${key}: metadata object`);
  }
  for (const a of last.artifacts ?? []) {
    // The original's file name, one file in its layout: a 2.0 instance key's `/` written `__`.
    need(UUID.test(a.id) && a.name === `${a.task_id.replaceAll('/', '__')}_output.txt` && !a.name.includes('/') && a.mime_type === 'text/plain' && typeof a.task_id === 'string', `artifact ${a.name}: id, name, mime type, task_id`);
    need(['file', 'image', 'text', 'json', 'log', 'other'].includes(a.artifact_type) && RFC3339.test(a.created_at) && Number.isInteger(a.size_bytes), `artifact ${a.name}: type, created_at, size`);
  }
  need(typeof last.metadata.generated_at === 'string' && Number.isInteger(last.metadata.total_task_duration_ms), 'metadata.generated_at and total_task_duration_ms');
  need(Array.isArray(last.tags) && typeof last.priority === 'string', 'tags and priority copied');
  if (results.length) {
    const g = last.execution_graph!;
    const nodes = new Set(g.nodes.map((n) => n.id));
    need(g.nodes.length === results.length && g.nodes.every((n) => UUID.test(n.id) && last.task_results[n.task_id] !== undefined), 'a node per task result');
    need(g.edges.every((e) => nodes.has(e.source) && nodes.has(e.target)), 'every edge names nodes');
    need(g.edges.every((e) => ['required', 'optional', 'conditional'].includes(e.dependency_type)), 'edge dependency_type spelling');
    const lines = last.summary.split('\n');
    const counts = (s: string) => results.filter(([, r]) => r.status === s).length;
    const expected = [
      'Execution Summary:', `- Title: ${last.title}`, `- Execution ID: ${last.execution_id}`, `- ALT File ID: ${last.alt_file_id}`,
      `- Status: ${DEBUG_STATUS[last.status]}`, `- Success Rate: ${(last.success_rate * 100).toFixed(2)}%`, `- Total Time: ${last.execution_time_ms} ms`,
      `- Total Tasks: ${results.length}`, `- Successful Tasks: ${completed}`, `- Failed Tasks: ${counts('failed')}`, `- Timed Out Tasks: ${counts('timeout')}`,
      `- Cancelled Tasks: ${counts('cancelled')}`, `- Artifacts: ${(last.artifacts ?? []).length}`,
      `- Mode: ${last.mode[0].toUpperCase()}${last.mode.slice(1)}`, `- Persona: ${last.persona ?? 'N/A'}`,
    ];
    need(JSON.stringify(lines.slice(0, expected.length)) === JSON.stringify(expected), `summary layout:\n${lines.slice(0, expected.length).join('\n')}`);
  } else {
    need(last.execution_graph === null && Array.isArray(last.artifacts) && last.artifacts.length === 0, 'failure form: no graph, artifacts []');
    need(typeof last.metadata.error === 'string' && typeof last.metadata.error_code === 'string', 'failure form: metadata.error a string, error_code beside it');
    const lines = last.summary.split('\n');
    need(lines[0] === 'Execution Failed:' && lines[1].startsWith('- ALT File: ') && lines[2] === `- Execution ID: ${last.execution_id}` && lines[3].startsWith('- Error: ') && RFC3339.test(lines[4].slice('- Time: '.length)), 'failure summary layout');
  }
  return v;
}

let h: Harness;
let archive: NatsConnection;
let notes: { data: Record<string, unknown>; storedBefore: boolean }[] = [];
let sub: Subscription;
beforeAll(async () => {
  h = await Harness.start();
  archive = await connect({ servers: h.server.url });
  // The archive service: a core subscriber in queue group archive-service.
  sub = archive.subscribe('archive.last_files', { queue: 'archive-service' });
  void (async () => {
    for await (const m of sub) {
      const data = JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
      const meta = data.metadata as { alt_file_id: string };
      const stored = (await h.lasts()).some(({ last }) => last.alt_file_id === meta.alt_file_id);
      notes.push({ data, storedBefore: stored });
    }
  })();
  // The 5 MiB artifact below is past the default answer cap (4 MiB).
  await h.worker({ ARCHIVE_NOTIFY_SUBJECT: 'archive.last_files', RUNNER_OUTPUT_INLINE_MAX: '16384', AI_MAX_RESPONSE_BYTES: '16777216' });
});
afterAll(async () => {
  await archive?.close();
  await h?.close();
});

describe('the .last as the original model requires', () => {
  it('holds for the real runner example, every segmentation sample, a partial success and the failure form', async () => {
    const files = ['runner-example.alt.json', 'segmentation-0.alt.yaml', 'segmentation-1.alt.yaml', 'segmentation-2.alt.yaml', 'segmentation-3.alt.yaml', 'segmentation-4.alt.yaml', 'plain-2.0.alt.json', 'enhanced-2.0.alt.yaml'];
    for (const f of files) await h.publish(readFileSync(join(SAMPLES, f)), { 'Content-Type': f.endsWith('.json') ? 'application/json' : 'application/yaml' });
    // One task fails (4xx, not retried): its dependent is cancelled.
    h.fake.setFaults({ errorRules: [{ match: 'breaks here', status: 422 }] });
    const partial = JSON.parse(job('partial-1', 3)) as { tasks: { description: string; retry_count: number }[]; metadata: Record<string, unknown> };
    partial.tasks[1].description = 'this step breaks here';
    // A copied key that looks like one of ours keeps its value; ours live beside it.
    partial.metadata = { ...partial.metadata, source_form: 'mine' };
    await h.publish(JSON.stringify(partial));
    await h.publish(readFileSync(join(SAMPLES, 'invalid-cycle.alt.json')), { 'Content-Type': 'application/json' });
    const lasts = await h.waitForLasts(files.length + 2, 60_000);
    for (const { last } of lasts) expect({ id: last.alt_file_id, violations: violations(last) }).toEqual({ id: last.alt_file_id, violations: [] });
    expect(new Set(lasts.map(({ last }) => last.status))).toEqual(new Set(['success', 'partialsuccess', 'failure']));
    // Our keys never share the namespace of copied .alt metadata.
    const p = lasts.find(({ last }) => last.alt_file_id === 'partial-1')!.last;
    expect([p.status, p.metadata.alt_source_form, p.metadata.source_form]).toEqual(['partialsuccess', 'mine', 'runner']);
    expect(Object.values(p.task_results).map((r) => [r.status, r.error?.startsWith('Cancelled due to dependency failure') ?? false])).toEqual([['completed', false], ['failed', false], ['cancelled', true]]);
  });

  it('carries each call\'s usage after the original\'s output fields, as the fake AI reported it', async () => {
    const { last } = (await h.lasts()).find(({ last: l }) => l.alt_file_id === 'alt_example_001')!;
    for (const r of Object.values(last.task_results)) {
      const out = r.output!;
      expect(Object.keys(out)).toEqual(['text', 'model_used', 'tokens_used', 'processing_time_ms', 'usage', 'cost']);
      // No price table here: the cost is unknown, never 0.
      expect(out.cost).toBeNull();
      const usage = out.usage as Record<string, unknown>;
      expect(usage).toEqual({ input: expect.any(Number), output: Math.ceil(out.text.length / 4), cached_input: 0, reasoning: 0, attempt: 1 });
      expect(out.tokens_used).toBe((usage.input as number) + (usage.output as number));
    }
  });
});

describe('artifacts', () => {
  it('altlas artifact get returns the exact bytes of a 5 MiB output, and the .last stays under 64 KiB', async () => {
    const big = Array.from({ length: 5 * 1024 * 1024 / 64 }, (_, i) => `line ${String(i).padStart(8, '0')} of a long answer, with ünïcödé ✓..`.padEnd(63, '.') + '\n').join('');
    h.fake.setFaults({ script: [{ match: 'write a very long answer', answers: [big] }] });
    const spec = JSON.parse(job('big-1', 1)) as { tasks: { description: string }[] };
    spec.tasks[0].description = 'write a very long answer';
    await h.publish(JSON.stringify(spec));
    const found = await eventually(async () => {
      const found = (await h.records('LAST')).find((r) => JSON.parse(new TextDecoder().decode(r.data)).alt_file_id === 'big-1');
      return found ? { last: JSON.parse(new TextDecoder().decode(found.data)) as Last, bytes: found.data.length } : null;
    }, (x) => x !== null, 'the .last of the big job', 60_000);
    const { last, bytes } = found!;
    expect(bytes).toBeLessThan(64 * 1024);
    const artifact = last.artifacts!.find((a) => a.task_id === 't1')!;
    expect(artifact.path).toMatch(/^altlas\+obj:\/\/ALT_OUTPUTS\//);
    expect(artifact.size_bytes).toBe(Buffer.byteLength(big));
    expect(last.task_results.t1.output!.text.length).toBeLessThan(3_000);
    const chunks: Uint8Array[] = [];
    const code = await main(['artifact', 'get', artifact.path, '--server', h.server.url], { out: () => {}, err: (l) => chunks.push(Buffer.from(`ERR ${l}`)), write: (b) => chunks.push(b) });
    expect(code).toBe(0);
    expect(Buffer.concat(chunks).equals(Buffer.from(big))).toBe(true);
  });
});

describe('the archive hand-off', () => {
  it('notifies the archive service exactly once per .last, after it is stored', async () => {
    const lasts = await h.lasts();
    await eventually(async () => notes.length, (n) => n >= lasts.length, 'a notification per .last');
    await new Promise((r) => setTimeout(r, 300));
    const byId = new Map<string, number>();
    for (const n of notes) {
      const id = (n.data.metadata as { alt_file_id: string }).alt_file_id;
      byId.set(id, (byId.get(id) ?? 0) + 1);
      expect(n.storedBefore).toBe(true);
    }
    expect([...byId.values()].every((c) => c === 1)).toBe(true);
    expect(new Set(byId.keys())).toEqual(new Set(lasts.map(({ last }) => last.alt_file_id)));
    const one = notes.find((n) => (n.data.metadata as { alt_file_id: string }).alt_file_id === 'alt_example_001')!.data;
    const last = lasts.find(({ last: l }) => l.alt_file_id === 'alt_example_001')!.last;
    expect(one).toEqual({
      id: last.id, file_path: expect.stringMatching(/^altlas\+last:\/\/LAST\/last\.alt_example_001\//), success_rate: last.success_rate, timestamp: last.end_time,
      metadata: { tags: last.tags, status: last.status, alt_file_id: last.alt_file_id, execution_id: last.execution_id, success_rate: last.success_rate },
    });
  });

  it('sends nothing when ARCHIVE_NOTIFY_SUBJECT is unset, and refuses a subject the LAST stream would store', async () => {
    const other = await Harness.start();
    try {
      const seen: string[] = [];
      const s2 = other.nc.subscribe('>', { callback: (_e, m) => {
        if (!m.subject.startsWith('$') && !m.subject.startsWith('_INBOX') && !/^(alt|last|dlq|usage|progress|live\.progress|history)\./.test(m.subject)) seen.push(m.subject);
      } });
      await other.worker();
      await other.publish(job('quiet-1', 1));
      await other.waitForLasts(1);
      await new Promise((r) => setTimeout(r, 300));
      s2.unsubscribe();
      expect(seen).toEqual([]);
      const refused = await import('node:child_process').then((cp) => new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = cp.spawn(join(SAMPLES, '..', 'bin', 'altlas'), ['worker'], { env: { ...process.env, ...other.env({ ARCHIVE_NOTIFY_SUBJECT: 'last.files' }) } });
        let out = '';
        p.stdout.on('data', (c: Buffer) => (out += c.toString()));
        p.stderr.on('data', (c: Buffer) => (out += c.toString()));
        p.once('exit', (code) => resolve({ code, out }));
      }));
      expect(refused.code).toBe(2);
      expect(refused.out).toMatch(/ARCHIVE_NOTIFY_SUBJECT=last\.files falls inside the LAST stream's subjects/);
    } finally {
      await other.close();
    }
  });
});
