/**
 * The AI side of `bench:peer`'s reference workers (BullMQ and the bare JetStream loop): a job's
 * three chained AI calls over HTTP to AI_URL, each through got on a keep-alive agent, as the
 * runner sends them (PEER_HTTP=fetch uses fetch).
 */
import { Agent } from 'node:http';
import got from 'got';

const aiUrl = `${process.env.AI_URL}/api/inference/`;
const agent = new Agent({ keepAlive: true, maxSockets: Number(process.env.CONCURRENCY ?? 64) });

/** One AI call: got (as the runner uses) or fetch (PEER_HTTP=fetch). */
const call = process.env.PEER_HTTP === 'fetch'
  ? async (body: string) => {
    const res = await fetch(aiUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    if (!res.ok) throw new Error(`AI answered ${res.status}`);
    return (await res.json()) as { outputs: string };
  }
  : (body: string) => got.post(aiUrl, { body, headers: { 'content-type': 'application/json' }, agent: { http: agent } }).json<{ outputs: string }>();

/** The answers of a job's chained calls: each prompt is sent with the previous answer appended. */
export async function chainedCalls(prompts: string[]): Promise<string[]> {
  const answers: string[] = [];
  for (const prompt of prompts) {
    const body = await call(JSON.stringify({ model_id: 'default', inputs: `${prompt}\n\n${answers.at(-1) ?? ''}`, parameters: { temperature: 0.2 } }));
    answers.push(body.outputs);
  }
  return answers;
}
