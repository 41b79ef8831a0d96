/**
 * The house's structure as a test: no import runs back up. Folders of src/ (and the files at its
 * top) are the layers; an import between two of them in both directions, directly or round a loop,
 * fails here, and so does a loop of imports between files.
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { ROOT } from '../helpers/paths.ts';

const SRC = join(ROOT, 'src');
const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? sources(join(dir, e.name)) : /\.(ts|js)$/.test(e.name) ? [join(dir, e.name)] : []);
}

/** file -> files it imports (relative imports inside src/ only). */
function importGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sources(SRC)) {
    const to = new Set<string>();
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = normalize(join(dirname(file), m[1] ?? m[2]));
      if (target.startsWith(SRC + sep)) to.add(relative(SRC, target));
    }
    graph.set(relative(SRC, file), to);
  }
  return graph;
}

/** Strongly connected components with more than one node (Tarjan). */
function loops(graph: Map<string, Set<string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1) out.push(c.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

const layerOf = (file: string) => file.split(sep)[0];

/** layer -> layers it imports. */
function layerGraph(files: Map<string, Set<string>>): Map<string, Set<string>> {
  const layers = new Map<string, Set<string>>();
  for (const [file, to] of files) {
    const from = layerOf(file);
    if (!layers.has(from)) layers.set(from, new Set());
    for (const t of to) if (layerOf(t) !== from) layers.get(from)!.add(layerOf(t));
  }
  return layers;
}

/** The layers in the order the README's Development section gives them, from the ground up. */
function readmeOrder(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const paragraph = readme.slice(readme.indexOf('Layout, from the ground up'), readme.indexOf('at the top.', readme.indexOf('Layout, from the ground up')));
  const names = [...paragraph.matchAll(/`src\/([A-Za-z0-9._-]+)/g)].map((m) => m[1]);
  return [...new Set(names)];
}

describe('the layers of src/', () => {
  const files = importGraph();

  it('every import between layers goes down the order the README gives, and the README names every layer', () => {
    const order = readmeOrder();
    const up: string[] = [];
    for (const [from, to] of layerGraph(files)) {
      for (const t of to) if (!(order.indexOf(t) >= 0 && order.indexOf(t) < order.indexOf(from))) up.push(`${from} -> ${t}`);
    }
    expect(up).toEqual([]);
    expect([...layerGraph(files).keys()].filter((l) => !order.includes(l))).toEqual([]);
  });

  it('no two layers import each other, directly or round a loop', () => {
    expect(loops(layerGraph(files))).toEqual([]);
  });

  it('no loop of imports between files', () => {
    expect(loops(files)).toEqual([]);
  });

  it('sees the imports it judges (a layer loop planted in the graph is found)', () => {
    const planted = new Map(files);
    planted.set('alt/decode.ts', new Set([...(files.get('alt/decode.ts') ?? []), 'cli/main.ts']));
    expect(files.get('cli/main.ts')?.size).toBeGreaterThan(0);
    expect(loops(layerGraph(planted)).length).toBeGreaterThan(0);
  });
});
