// One job's task graph: nodes from the status entry's tasks, dependency edges, and for 2.0
// programs the construct → member edges. A construct with many instances (a long loop) is drawn
// collapsed: its first iterations and its last, and one node standing for the rest, which expands
// on a click. Laid out by dagre; every text is set with textContent.
import { Graph, layout } from '/assets/dagre.js';

const SVG = 'http://www.w3.org/2000/svg';
/** A construct with more instances than this is collapsed. */
export const COLLAPSE_OVER = 24;
const KEEP_FIRST = 3;

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/**
 * The tasks to draw: every task, except the instances of a large construct that is not
 * expanded, which become one node `<owner>…` counting them (by iteration for a loop).
 */
export function visibleTasks(tasks, expanded) {
  const byOwner = new Map();
  for (const [id, t] of Object.entries(tasks)) if (t.owner) (byOwner.get(t.owner) ?? byOwner.set(t.owner, []).get(t.owner)).push(id);
  const hidden = new Map();
  for (const [owner, ids] of byOwner) {
    if (ids.length <= COLLAPSE_OVER || expanded.has(owner)) continue;
    // Loops: keep whole iterations (the first ones and the last); calls and branches: the first instances and the last.
    const iterations = [...new Set(ids.map((id) => tasks[id].iteration).filter((k) => k !== undefined))].sort((a, b) => a - b);
    const keep = iterations.length > KEEP_FIRST + 1
      ? new Set(ids.filter((id) => { const k = tasks[id].iteration; return k === undefined || k < iterations[KEEP_FIRST] || k === iterations.at(-1); }))
      : new Set([...ids.slice(0, KEEP_FIRST * 2), ids.at(-1)]);
    const rest = ids.filter((id) => !keep.has(id));
    if (rest.length) hidden.set(owner, { ids: rest, iterations: iterations.length > KEEP_FIRST + 1 ? [iterations[KEEP_FIRST], iterations.at(-2)] : null });
  }
  return hidden;
}

/** Draws the graph of `job` into `box`; a click on a collapsed node calls `onExpand(owner)`. */
export function drawGraph(box, job, expanded, onExpand) {
  const tasks = job.tasks;
  const hidden = visibleTasks(tasks, expanded);
  const gone = new Set([...hidden.values()].flatMap((h) => h.ids));
  const g = new Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 42, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  const width = (label) => Math.min(220, Math.max(70, label.length * 7 + 20));
  for (const id of Object.keys(tasks)) if (!gone.has(id)) g.setNode(id, { width: width(id), height: 30, label: id, state: tasks[id].state, task: tasks[id] });
  for (const [owner, h] of hidden) {
    const label = `… ${h.ids.length} more${h.iterations ? ` (iterations ${h.iterations[0]}–${h.iterations[1]})` : ''}`;
    const states = h.ids.map((id) => tasks[id].state);
    const state = states.every((s) => s === states[0]) ? states[0] : states.includes('failed') ? 'failed' : states.includes('running') ? 'running' : 'pending';
    g.setNode(`${owner}…`, { width: width(label), height: 30, label, state, collapsed: owner, count: h.ids.length });
    if (tasks[owner]) g.setEdge(owner, `${owner}…`, { kind: tasks[owner].kind === 'call' ? 'required' : 'conditional' });
  }
  for (const [id, t] of Object.entries(tasks)) {
    if (gone.has(id)) continue;
    for (const d of t.deps ?? []) if (tasks[d] && !gone.has(d)) g.setEdge(d, id, { kind: 'required' });
    if (t.owner && tasks[t.owner]) g.setEdge(t.owner, id, { kind: tasks[t.owner].kind === 'call' ? 'required' : 'conditional' });
  }
  layout(g);
  const { width: w = 100, height: h = 60 } = g.graph();
  const root = svg('svg', { width: Math.ceil(w), height: Math.ceil(h) });
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '10', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#9aa3b5' }));
  defs.append(marker);
  root.append(defs);
  for (const e of g.edges()) {
    const path = svg('path', { d: g.edge(e).points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' '), class: `edge ${g.edge(e).kind}`, 'marker-end': 'url(#arrow)' });
    path.dataset.from = e.v;
    path.dataset.to = e.w;
    root.append(path);
  }
  for (const id of g.nodes()) {
    const n = g.node(id);
    const group = svg('g', { class: `node state-${n.state}${n.collapsed ? ' collapsed' : ''}` });
    if (n.collapsed) {
      group.dataset.collapsed = n.collapsed;
      group.dataset.count = String(n.count);
      group.addEventListener('click', () => onExpand(n.collapsed));
    } else group.dataset.task = id;
    const rect = svg('rect', { x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height, fill: `var(--${n.state})` });
    const title = svg('title');
    title.textContent = n.collapsed ? `${n.label}: click to show them` : `${id}: ${n.state}${n.task.error_code ? ` (${n.task.error_code})` : ''}`;
    const text = svg('text', { x: n.x, y: n.y });
    text.textContent = n.label.length > 28 ? `${n.label.slice(0, 27)}…` : n.label;
    group.append(rect, title, text);
    root.append(group);
  }
  box.replaceChildren(root);
}
