import { describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeAlt } from '../../../src/alt/index.ts';
import { DecodePool } from '../../../src/alt/decode-pool.ts';
import { aiTaskBody } from '../../../src/tasks/ai-task-body.ts';
import { fakeAnswer } from '../../../src/ai/fake-orchestrator.ts';
import { runJob } from '../../../src/engine/run-job.ts';
import { buildFailureLast, buildLast, lastStatus } from '../../../src/last/index.ts';
import { LastSchema, type Last } from '../../../src/last/schema.ts';
import { compile } from '../../../src/alt/schema-check.ts';
import { AltlasError } from '../../../src/errors.ts';
import { ENGINE, makeJob, output } from '../../helpers/engine.ts';
import { normalizeLast } from '../../helpers/last.ts';
import { FIXTURES, ROOT } from '../../helpers/paths.ts';

const validLast = compile<Last>(LastSchema);
const ids = () => ({ id: randomUUID(), executionId: randomUUID(), uuid: randomUUID, now: Date.now() });
const expectValid = (last: Last) => expect(validLast.problems(last)).toEqual([]);

/** An in-process provider answering as the fake orchestrator does. */
const instantClient = { complete: async (req: { prompt: { system: string; user: string }; model: string }) => ({ text: fakeAnswer(req.model, `${req.prompt.system}\n\n${req.prompt.user}`), model: req.model, tokens: 10, providerMs: 1, streamed: false,
  usage: { input: 7, output: 3, cached_input: null, reasoning: null, attempt: 1 },
}) };

describe('buildLast', () => {
  it('builds the .last of the real runner example as reviewed', async () => {
    const decoded = decodeAlt(readFileSync(join(FIXTURES, 'runner-example.alt.json')));
    if (!decoded.ok) throw decoded.error;
    const run = await runJob(decoded.job, aiTaskBody(instantClient, { defaultModel: 'default' }), ENGINE);
    const last = buildLast({ job: decoded.job, run, warnings: decoded.warnings }, ids());
    expectValid(last);
    const expected = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'runner-example.last.json'), 'utf8'));
    expect(normalizeLast(last)).toEqual(expected);
  });

  it('spells the status success, partialsuccess or failure', () => {
    expect([lastStatus(3, 3), lastStatus(1, 3), lastStatus(0, 3), lastStatus(0, 0)]).toEqual(['success', 'partialsuccess', 'failure', 'failure']);
  });

  it('counts every outcome, keeps a result per task and the real dependency edges', async () => {
    const job = makeJob([{ id: 'a' }, { id: 'b', deps: ['a'] }, { id: 'c' }]);
    const run = await runJob(job, async (t) => {
      if (t.id === 'a') throw new AltlasError('AI_REJECTED', 'HTTP 400: no');
      return output(`out ${t.id}`);
    }, ENGINE);
    const last = buildLast({ job, run }, ids());
    expectValid(last);
    expect(last.status).toBe('partialsuccess');
    expect(last.success_rate).toBeCloseTo(1 / 3);
    expect(Object.keys(last.task_results)).toEqual(['a', 'b', 'c']);
    expect(last.task_results.b).toMatchObject({ status: 'cancelled', error: 'Cancelled due to dependency failure: a' });
    const graph = last.execution_graph!;
    const nodeOf = Object.fromEntries(graph.nodes.map((n) => [n.task_id, n.id]));
    expect(graph.edges).toEqual([{ source: nodeOf.a, target: nodeOf.b, dependency_type: 'required' }]);
    expect(last.artifacts).toHaveLength(1);
    expect(last.artifacts?.[0]).toMatchObject({ name: 'c_output.txt', task_id: 'c', artifact_type: 'text', size_bytes: 5, mime_type: 'text/plain' });
    expect(last.artifacts?.[0].path).toBe(`altlas+last://LAST/last.job-1/${last.execution_id}#c`);
    expect(last.summary.split('\n')).toEqual(expect.arrayContaining(['- Status: PartialSuccess', '- Success Rate: 33.33%', '- Total Tasks: 3', '- Successful Tasks: 1', '- Failed Tasks: 1', '- Timed Out Tasks: 0', '- Cancelled Tasks: 1', '- Artifacts: 1', '- Mode: Normal', '- Persona: N/A']));
    // Every task result has its own execution id and a start time, the cancelled one too.
    expect(new Set(Object.values(last.task_results).map((r) => r.execution_id)).size).toBe(3);
    expect(last.task_results.b.start_time).toBe(last.task_results.b.end_time);
  });

  it('gives failure with success rate 0 for a job without tasks', async () => {
    const job = makeJob([]);
    const last = buildLast({ job, run: await runJob(job, async () => output('x'), ENGINE) }, ids());
    expectValid(last);
    expect([last.status, last.success_rate]).toEqual(['failure', 0]);
  });

  it('builds the failure form with the error code and problems in metadata.error', () => {
    const decoded = decodeAlt('{"id":"bad-1","version":"1.0","tasks":[{"id":"a","description":"x","dependencies":["a"]}],"title":"t","created_at":"2025-01-01T00:00:00Z"}');
    if (decoded.ok) throw new Error('expected an error');
    const last = buildFailureLast({ altId: 'bad-1', error: decoded.error, startMs: 0, endMs: 5 }, ids());
    expectValid(last);
    expect(last).toMatchObject({ status: 'failure', alt_file_id: 'bad-1', task_results: {}, artifacts: [], execution_graph: null, execution_time_ms: 5 });
    expect(typeof last.metadata.error).toBe('string');
    expect(last.metadata.error).toMatch(/^ALT_SELF_DEPENDENCY: /);
    expect(last.metadata).toMatchObject({ error_code: 'ALT_SELF_DEPENDENCY', error_problems: [{ pointer: '/tasks/0/dependencies/0' }] });
    const lines = last.summary.split('\n');
    expect(lines[0]).toBe('Execution Failed:');
    expect(lines.slice(1).map((l) => l.split(':')[0])).toEqual(['- ALT File', '- Execution ID', '- Error', '- Time']);
  });

  it('keeps the title, persona, tags and alt_ metadata of a file that parses but fails its checks (also decoded in a thread)', async () => {
    const runner = JSON.stringify({ id: 'cyc-1', version: '1.0', created_at: '2025-01-01T00:00:00Z', title: 'Quarterly report', persona: 'analyst', mode: 'dream', tags: ['q3'], metadata: { team: 'finance', api_key: 'sk-live-abcdefghijklmnop' },
      tasks: [{ id: 'a', description: 'x', dependencies: ['b'] }, { id: 'b', description: 'y', dependencies: ['a'] }] });
    const segmentation = 'id: seg-1\nversion: "1.0"\ntimestamp: "2025-01-01T00:00:00"\ncommand: "Summarise the news"\npersona: editor\nmode: Chaos\nmetadata: {tags: [news], priority: high, source: cli}\nsegments:\n  - {id: s1, task_type: search, content: x, dependencies: [s9]}\n';
    const pool = new DecodePool({ threadBytes: 0 });
    try {
      for (const [bytes, hint] of [[runner, 'a.json'], [segmentation, 'a.yaml']] as const) {
        const local = decodeAlt(bytes, { hint });
        const threaded = await pool.decode(Buffer.from(bytes), hint);
        if (local.ok || threaded.ok) throw new Error('expected errors');
        expect(threaded.header).toEqual(local.header);
      }
    } finally {
      await pool.close();
    }
    const r = decodeAlt(runner);
    if (r.ok) throw new Error('expected an error');
    const last = buildFailureLast({ altId: 'cyc-1', error: r.error, job: r.header, startMs: 0, endMs: 5 }, ids());
    expectValid(last);
    expect(last).toMatchObject({ title: 'Quarterly report', persona: 'analyst', mode: 'dream', tags: ['q3'], metadata: { alt_team: 'finance', alt_api_key: '[REDACTED]', error_code: 'ALT_CYCLE' } });
    expect(last.summary.split('\n')[1]).toBe('- ALT File: Quarterly report');
    const s = decodeAlt(segmentation, { hint: 'a.yaml' });
    if (s.ok) throw new Error('expected an error');
    expect(s.header).toEqual({ title: 'Summarise the news', persona: 'editor', mode: 'chaos', priority: 'high', tags: ['news'], metadata: { tags: ['news'], priority: 'high', source: 'cli' } });
    // Nothing to say for bytes that never parsed.
    const broken = decodeAlt('{"title": ');
    expect(broken.ok ? null : broken.header).toBeUndefined();
  });
});
