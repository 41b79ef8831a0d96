/**
 * Loaded into an `altlas worker` with `NODE_OPTIONS=--import <this file>` by bench:worker's start-up
 * part: counts the modules the process loads, and when the worker logs `worker started` (right
 * after its first pull request) writes one line to stderr, `startup-probe {...}`: the modules
 * loaded so far (in all, and the packages with the most), the CPU time of the process and the time
 * since it started, in ms.
 */
import { registerHooks } from 'node:module';

const loaded = new Set<string>();
registerHooks({
  load(url, context, next) {
    loaded.add(url);
    return next(url, context);
  },
});

/** The package of a module (`@scope/name`, `name`), or `ours` / `node:` for the rest. */
function packageOf(url: string): string {
  const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (m) return m[1];
  return url.startsWith('node:') ? 'node:' : 'ours';
}

const write = process.stdout.write.bind(process.stdout) as (chunk: unknown, ...rest: unknown[]) => boolean;
let done = false;
process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
  if (!done && String(chunk).includes('"worker started"')) {
    done = true;
    const cpu = process.cpuUsage();
    const byPackage = new Map<string, number>();
    for (const url of loaded) byPackage.set(packageOf(url), (byPackage.get(packageOf(url)) ?? 0) + 1);
    const top = Object.fromEntries([...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 8));
    process.stderr.write(`startup-probe ${JSON.stringify({ modules: loaded.size, cpu_ms: Math.round((cpu.user + cpu.system) / 1000), since_start_ms: Math.round(performance.now()), top })}\n`);
  }
  return write(chunk, ...rest);
}) as typeof process.stdout.write;
