/**
 * Checkpoints: each completed task's result, stored before the job moves on, keyed by the ALT
 * stream, its sequence and the task id. A redelivered message loads them and runs only the
 * tasks that did not complete. An output too large for one KV value goes to the object store,
 * referenced from the checkpoint. A finished job's checkpoints are removed (and expire anyway).
 */
import type { KV } from '@nats-io/kv';
import type { ObjectStore } from '@nats-io/obj';
import type { TaskResult } from '../engine/types.ts';
import { subjectToken } from '../messaging/subjects.ts';

interface Stored {
  result: TaskResult;
  /** Where the output text is when it did not fit. */
  output_ref?: { bucket: string; name: string; bytes: number };
}

export class Checkpoints {
  readonly #kv: KV;
  readonly #obj: ObjectStore;
  readonly #bucket: string;
  readonly #maxValue: number;

  /** `maxValue`: bytes above which the output text goes to the object store. */
  constructor(kv: KV, obj: ObjectStore, objectBucket: string, maxValue: number) {
    this.#kv = kv;
    this.#obj = obj;
    this.#bucket = objectBucket;
    this.#maxValue = maxValue;
  }

  #prefix(stream: string, seq: number): string {
    return `${subjectToken(stream)}.${seq}`;
  }

  #key(stream: string, seq: number, taskId: string): string {
    return `${this.#prefix(stream, seq)}.${subjectToken(taskId)}`;
  }

  /** Stores a completed task's result; returns true when its output went to the object store. */
  async save(stream: string, seq: number, result: TaskResult): Promise<boolean> {
    const key = this.#key(stream, seq, result.task_id);
    let value = JSON.stringify({ result } satisfies Stored);
    let external = false;
    if (Buffer.byteLength(value) > this.#maxValue && result.output) {
      const text = new TextEncoder().encode(result.output.text);
      await this.#obj.putBlob({ name: key }, text);
      value = JSON.stringify({ result: { ...result, output: { ...result.output, text: '' } }, output_ref: { bucket: this.#bucket, name: key, bytes: text.length } } satisfies Stored);
      external = true;
    }
    await this.#kv.put(key, value);
    return external;
  }

  /** Removes the checkpoints of the given tasks (known to the caller, so no listing is needed). */
  async remove(stream: string, seq: number, tasks: ReadonlyMap<string, boolean>): Promise<void> {
    await Promise.all([...tasks].map(async ([taskId, external]) => {
      const key = this.#key(stream, seq, taskId);
      if (external) await this.#obj.delete(key).catch(() => {});
      await this.#kv.purge(key);
    }));
  }

  /** The completed results of the tasks of ALT message `seq`, by task id. */
  async load(stream: string, seq: number): Promise<Map<string, TaskResult>> {
    const out = new Map<string, TaskResult>();
    const keys: string[] = [];
    for await (const k of await this.#kv.keys(`${this.#prefix(stream, seq)}.*`)) keys.push(k);
    for (const key of keys) {
      const e = await this.#kv.get(key);
      if (!e || e.operation !== 'PUT' || e.value.length === 0) continue;
      const stored = e.json<Stored>();
      const result = stored.result;
      if (stored.output_ref && result.output) {
        const blob = await this.#obj.getBlob(stored.output_ref.name);
        if (!blob) continue; // the output is gone: run the task again
        result.output = { ...result.output, text: new TextDecoder().decode(blob) };
      }
      out.set(result.task_id, result);
    }
    return out;
  }

  /** Removes the checkpoints (and stored outputs) of ALT message `seq`. */
  async clear(stream: string, seq: number): Promise<void> {
    const keys: string[] = [];
    for await (const k of await this.#kv.keys(`${this.#prefix(stream, seq)}.*`)) keys.push(k);
    for (const key of keys) {
      const e = await this.#kv.get(key);
      if (e && e.operation === 'PUT' && e.value.length > 0 && e.json<Stored>().output_ref) await this.#obj.delete(key).catch(() => {});
      await this.#kv.purge(key);
    }
  }
}
