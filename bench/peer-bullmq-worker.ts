/**
 * The BullMQ side of `bench:peer`, in its own process: a Worker on REDIS_URL whose processor
 * makes the job's three chained AI calls (./peer-ai.ts) and returns the answers, which BullMQ
 * stores as the job's return value.
 */
import { Worker } from 'bullmq';
import { chainedCalls } from './peer-ai.ts';

const redis = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const connection = { host: redis.hostname, port: Number(redis.port || 6379) };
const concurrency = Number(process.env.CONCURRENCY ?? 64);

const worker = new Worker(process.env.QUEUE!, async (job) => ({ answers: await chainedCalls(job.data.prompts as string[]) }), { connection, concurrency });
await worker.waitUntilReady();
process.stdout.write('bullmq worker ready\n');
const stop = async () => {
  await worker.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
