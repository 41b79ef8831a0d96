/**
 * The BullMQ side of `bench:peer`, in its own process: a Worker on REDIS_URL whose processor
 * makes the job's three chained AI calls over HTTP (got with a keep-alive agent, as the runner;
 * PEER_HTTP=fetch uses fetch) to the same fake AI and
 * returns the answers, which BullMQ stores as the job's return value.
 */
import { Agent } from 'node:http';
import { Worker } from 'bullmq';
import got from 'got';

const redis = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const connection = { host: redis.hostname, port: Number(redis.port || 6379) };
const aiUrl = `${process.env.AI_URL}/api/inference/`;
const concurrency = Number(process.env.CONCURRENCY ?? 64);

const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
/** One AI call: got (as the runner uses) or fetch (PEER_HTTP=fetch). */
const call = process.env.PEER_HTTP === 'fetch'
  ? async (body: string) => {
    const res = await fetch(aiUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    if (!res.ok) throw new Error(`AI answered ${res.status}`);
    return (await res.json()) as { outputs: string };
  }
  : (body: string) => got.post(aiUrl, { body, headers: { 'content-type': 'application/json' }, agent: { http: agent } }).json<{ outputs: string }>();

const worker = new Worker(process.env.QUEUE!, async (job) => {
  const answers: string[] = [];
  for (const prompt of job.data.prompts as string[]) {
    const body = await call(JSON.stringify({ model_id: 'default', inputs: `${prompt}\n\n${answers.at(-1) ?? ''}`, parameters: { temperature: 0.2 } }));
    answers.push(body.outputs);
  }
  return { answers };
}, { connection, concurrency });
await worker.waitUntilReady();
process.stdout.write('bullmq worker ready\n');
const stop = async () => {
  await worker.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
