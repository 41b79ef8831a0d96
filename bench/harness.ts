/** A tiny benchmark harness: runs functions for a fixed time after a warm-up and reports ops/s. */

export interface Measure {
  name: string;
  opsPerSec: number;
}

/** Runs `fn` repeatedly for `ms` milliseconds (after a warm-up of a quarter of that) and returns ops/s. */
export function measure(name: string, fn: () => unknown, ms = 1500): Measure {
  const run = (budget: number) => {
    let n = 0;
    const start = process.hrtime.bigint();
    const end = start + BigInt(budget) * 1_000_000n;
    let now = start;
    while (now < end) {
      for (let i = 0; i < 100; i++) fn();
      n += 100;
      now = process.hrtime.bigint();
    }
    return n / (Number(now - start) / 1e9);
  };
  run(ms / 4);
  return { name, opsPerSec: run(ms) };
}

/** Prints a measure and its ratio to a baseline. */
export function report(subject: Measure, baseline: Measure, target?: number): void {
  const ratio = subject.opsPerSec / baseline.opsPerSec;
  const verdict = target === undefined ? '' : ratio >= target ? `  (target >= ${target}: met)` : `  (target >= ${target}: NOT met)`;
  console.log(`${subject.name.padEnd(34)} ${Math.round(subject.opsPerSec).toLocaleString('en').padStart(10)} ops/s`);
  console.log(`${baseline.name.padEnd(34)} ${Math.round(baseline.opsPerSec).toLocaleString('en').padStart(10)} ops/s`);
  console.log(`ratio ${subject.name} / ${baseline.name}: ${ratio.toFixed(3)}${verdict}\n`);
}
