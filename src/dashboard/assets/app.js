// The altlas-runner dashboard page: plain modules, no framework. Data comes from the JSON API and
// live events (Server-Sent Events); every text is set with textContent, never parsed as HTML.
import { Graph, layout } from '/assets/dagre.js';

const $ = (sel) => document.querySelector(sel);
const STATES = ['running', 'waiting', 'retrying', 'completed', 'failed', 'cancelled'];
const FINAL = ['completed', 'failed', 'cancelled'];
const SVG = 'http://www.w3.org/2000/svg';

const ui = {
  config: { actions: false, trace_url: null },
  jobs: new Map(),
  stats: null,
  current: null,
  currentLast: null,
  dlq: [],
  workers: [],
  tab: 'jobs',
};
// Figures the browser test reads: first paint of the jobs table, live updates applied.
window.__dashboard = { firstPaint: null, updates: 0 };

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c ?? ''));
  return node;
}

const stateBadge = (s) => el('span', { class: `state state-${s}`, dataset: { state: s } }, s);
const ms = (a, b) => (a ? Math.max(0, (b ? Date.parse(b) : Date.now()) - Date.parse(a)) : null);
function duration(v) {
  if (v === null || v === undefined) return '';
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 60_000) return `${(v / 1000).toFixed(1)} s`;
  return `${Math.floor(v / 60_000)} min ${Math.round((v % 60_000) / 1000)} s`;
}
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '');

function toast(text) {
  const t = $('#toast');
  t.textContent = text;
  t.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove('show'), 5000);
}

async function api(path) {
  const res = await fetch(path);
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ?? res.statusText);
  return body;
}

async function act(name, body) {
  const token = $('#token').value;
  const res = await fetch(`/api/actions/${name}`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body),
  });
  const out = await res.json();
  if (!res.ok) {
    toast(`${name} refused: ${out.error}`);
    return null;
  }
  return out;
}

// ---- jobs -------------------------------------------------------------------------------------

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderCounts();
    if (ui.tab === 'jobs') renderJobs();
  });
}

function renderCounts() {
  const box = $('#counts');
  box.replaceChildren(...STATES.map((s) => el('span', { class: 'count', dataset: { count: s } }, stateBadge(s), el('b', {}, String(ui.stats?.counts?.[s] ?? 0)))));
  $('#dlq-count').textContent = String(ui.stats?.dlq ?? 0);
}

function attempts(job) {
  return Object.values(job.tasks).reduce((a, t) => a + (t.attempts ?? 0), 0);
}

function renderJobs() {
  const state = $('#state-filter').value;
  const q = $('#q').value.trim().toLowerCase();
  const rows = [...ui.jobs.values()]
    .filter((j) => (!state || j.state === state) && (!q || j.alt_id.toLowerCase().includes(q) || j.title.toLowerCase().includes(q) || j.worker_id.toLowerCase().includes(q)))
    .sort((a, b) => (b.started_at ?? b.received_at).localeCompare(a.started_at ?? a.received_at))
    .slice(0, 200);
  $('#jobs-table tbody').replaceChildren(...rows.map((j) => el('tr', { class: 'clickable', dataset: { jobId: j.alt_id }, onclick: () => openJob(j.alt_id) },
    el('td', {}, j.alt_id), el('td', { title: j.title }, j.title), el('td', {}, stateBadge(j.state)),
    el('td', {}, `${j.tasks_done}/${j.tasks_total}`), el('td', {}, String(attempts(j))), el('td', {}, j.worker_id),
    el('td', {}, time(j.started_at)), el('td', {}, duration(ms(j.started_at, j.finished_at))))));
  $('#jobs-total').textContent = `${rows.length} shown`;
  if (window.__dashboard.firstPaint === null) window.__dashboard.firstPaint = performance.now();
}

async function loadJobs() {
  const state = $('#state-filter').value;
  const q = $('#q').value.trim();
  const r = await api(`/api/jobs?limit=200${state ? `&state=${encodeURIComponent(state)}` : ''}${q ? `&q=${encodeURIComponent(q)}` : ''}`);
  for (const j of r.jobs) ui.jobs.set(j.alt_id, j);
  ui.stats = r.stats;
  scheduleRender();
}

function onJobEvent(job) {
  window.__dashboard.updates++;
  const old = ui.jobs.get(job.alt_id);
  // The counters move with each event; the server's figures replace them every two seconds.
  if (ui.stats && old?.state !== job.state) {
    if (old) ui.stats.counts[old.state] = Math.max(0, (ui.stats.counts[old.state] ?? 0) - 1);
    ui.stats.counts[job.state] = (ui.stats.counts[job.state] ?? 0) + 1;
  }
  ui.jobs.set(job.alt_id, job);
  // Keep the page's memory bounded: the oldest finished jobs go first.
  if (ui.jobs.size > 2000) {
    const drop = [...ui.jobs.values()].filter((j) => FINAL.includes(j.state)).sort((a, b) => (a.finished_at ?? '').localeCompare(b.finished_at ?? '')).slice(0, ui.jobs.size - 2000);
    for (const j of drop) ui.jobs.delete(j.alt_id);
  }
  scheduleRender();
  if (ui.current === job.alt_id) void openJob(job.alt_id, false);
}

// ---- one job ----------------------------------------------------------------------------------

function graphOf(job) {
  const g = new Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 42, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = Object.keys(job.tasks);
  for (const id of ids) g.setNode(id, { width: Math.min(220, Math.max(70, id.length * 7 + 20)), height: 30 });
  const edges = [];
  for (const [id, t] of Object.entries(job.tasks)) {
    for (const d of t.deps ?? []) if (job.tasks[d]) edges.push({ from: d, to: id, kind: 'required' });
    if (t.owner && job.tasks[t.owner]) edges.push({ from: t.owner, to: id, kind: job.tasks[t.owner].kind === 'call' ? 'required' : 'conditional' });
  }
  for (const e of edges) g.setEdge(e.from, e.to, { kind: e.kind });
  layout(g);
  return { g, edges };
}

function drawGraph(job) {
  const box = $('#graph');
  const { g } = graphOf(job);
  const { width = 100, height = 60 } = g.graph();
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('width', String(Math.ceil(width)));
  svg.setAttribute('height', String(Math.ceil(height)));
  // An arrowhead at the dependent's end of each edge.
  const defs = document.createElementNS(SVG, 'defs');
  const marker = document.createElementNS(SVG, 'marker');
  for (const [k, v] of Object.entries({ id: 'arrow', viewBox: '0 0 10 10', refX: '10', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse' })) marker.setAttribute(k, v);
  const tip = document.createElementNS(SVG, 'path');
  tip.setAttribute('d', 'M0,0 L10,5 L0,10 z');
  tip.setAttribute('fill', '#9aa3b5');
  marker.append(tip);
  defs.append(marker);
  svg.append(defs);
  for (const e of g.edges()) {
    const points = g.edge(e).points;
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' '));
    path.setAttribute('class', `edge ${g.edge(e).kind}`);
    path.setAttribute('marker-end', 'url(#arrow)');
    path.dataset.from = e.v;
    path.dataset.to = e.w;
    svg.append(path);
  }
  for (const id of g.nodes()) {
    const n = g.node(id);
    const t = job.tasks[id];
    const group = document.createElementNS(SVG, 'g');
    group.setAttribute('class', `node state-${t.state}`);
    group.dataset.task = id;
    const rect = document.createElementNS(SVG, 'rect');
    rect.setAttribute('x', String(n.x - n.width / 2));
    rect.setAttribute('y', String(n.y - n.height / 2));
    rect.setAttribute('width', String(n.width));
    rect.setAttribute('height', String(n.height));
    rect.setAttribute('fill', `var(--${t.state})`);
    const title = document.createElementNS(SVG, 'title');
    title.textContent = `${id}: ${t.state}${t.error_code ? ` (${t.error_code})` : ''}`;
    const text = document.createElementNS(SVG, 'text');
    text.setAttribute('x', String(n.x));
    text.setAttribute('y', String(n.y));
    text.textContent = id.length > 28 ? `${id.slice(0, 27)}…` : id;
    group.append(rect, title, text);
    svg.append(group);
  }
  box.replaceChildren(svg);
}

async function openJob(id, navigate = true) {
  let r;
  try {
    r = await api(`/api/jobs/${encodeURIComponent(id)}`);
  } catch (e) {
    toast(String(e.message));
    return;
  }
  ui.current = id;
  ui.currentLast = r.last;
  const job = r.job;
  if (navigate) showTab('job');
  $('#job-title').replaceChildren(el('span', {}, `${job.alt_id} `), stateBadge(job.state));
  const trace = job.trace_id && ui.config.trace_url ? el('a', { href: ui.config.trace_url.replace('{trace_id}', job.trace_id), target: '_blank', rel: 'noopener' }, job.trace_id) : (job.trace_id ?? '—');
  const meta = [['Title', job.title], ['Worker', job.worker_id], ['Deliveries', String(job.deliveries)], ['Started', job.started_at ?? '—'], ['Duration', duration(ms(job.started_at, job.finished_at))],
    ['Error', job.error ? `${job.error.code}: ${job.error.message}` : '—'], ['.last', job.last_status ?? '—'], ['Trace', trace]];
  $('#job-meta').replaceChildren(...meta.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  const running = !FINAL.includes(job.state);
  $('#job-actions').replaceChildren(el('button', { type: 'button', class: 'action danger', id: 'cancel-job', disabled: ui.config.actions && running ? null : 'disabled', onclick: async () => {
    const out = await act('cancel', { alt_id: job.alt_id });
    if (out) toast(`cancel requested for ${job.alt_id}`);
  } }, 'Cancel'));
  drawGraph(job);
  followLive(job.alt_id);
  const results = r.last?.task_results ?? {};
  $('#tasks-table tbody').replaceChildren(...Object.entries(job.tasks).map(([tid, t]) => {
    const res = results[tid];
    const preview = res?.output?.text ? res.output.text.slice(0, 160) : '';
    return el('tr', { dataset: { task: tid } }, el('td', {}, tid), el('td', {}, stateBadge(t.state)), el('td', {}, String(t.attempts)),
      el('td', {}, time(t.started_at)), el('td', {}, duration(ms(t.started_at, t.finished_at))), el('td', {}, t.error_code ?? ''), el('td', { title: preview }, preview));
  }));
  $('#last-json').textContent = r.last ? JSON.stringify(r.last, null, 2) : 'not stored yet';
}

// ---- live text --------------------------------------------------------------------------------

// The answers of the open job's tasks as they come: its own event stream, closed when the view is left.
const live = { job: null, events: null };

function attemptNote(ref, end, previous) {
  const parts = [`attempt ${ref.task_attempt ?? '?'}`];
  if (ref.http_attempt > 1) parts.push(`request ${ref.http_attempt}`);
  if (ref.deliveries > 1) parts.push(`delivery ${ref.deliveries}`);
  let note = parts.join(', ');
  if (previous) note += ` — the attempt before ${previous.end ? `ended ${previous.end.outcome}` : 'stopped without its end'}`;
  if (end) note += end.outcome === 'ok' ? ' — complete' : ` — ended ${end.outcome}${end.failure ? ` (${end.failure})` : ''}`;
  return note;
}

function liveTask(task) {
  const box = $('#live-text');
  let section = [...box.children].find((c) => c.dataset.liveTask === task);
  if (!section) {
    section = el('div', { class: 'live-task', dataset: { liveTask: task } }, el('h3', {}, task, el('span', { class: 'muted live-note' })), el('pre', {}));
    box.append(section);
  }
  return { note: section.querySelector('.live-note'), text: section.querySelector('pre') };
}

function onLive(e) {
  if (e.type === 'run') $('#live-text').replaceChildren();
  else if (e.type === 'attempt') {
    const t = liveTask(e.task);
    t.note.textContent = attemptNote(e.ref, null, e.previous);
    t.note.dataset.attempt = e.ref.attempt;
    t.text.textContent = '';
  } else if (e.type === 'text') liveTask(e.task).text.append(e.text);
  else if (e.type === 'gap') liveTask(e.task).text.append(` [${e.to - e.from + 1} missing] `);
  else if (e.type === 'end') {
    const t = liveTask(e.task);
    t.note.textContent += e.end.outcome === 'ok' ? ' — complete' : ` — ended ${e.end.outcome}${e.end.failure ? ` (${e.end.failure})` : ''}`;
  }
}

function followLive(id) {
  if (live.job === id) return;
  stopLive();
  live.job = id;
  $('#live-text').replaceChildren();
  live.events = new EventSource(`/api/jobs/${encodeURIComponent(id)}/progress`);
  live.events.addEventListener('snapshot', (m) => {
    $('#live-text').replaceChildren();
    for (const t of JSON.parse(m.data).tasks) {
      const box = liveTask(t.task);
      box.note.textContent = attemptNote(t.ref, t.end, null);
      box.note.dataset.attempt = t.ref.attempt;
      box.text.textContent = t.text;
    }
  });
  live.events.addEventListener('progress', (m) => onLive(JSON.parse(m.data)));
}

function stopLive() {
  live.events?.close();
  live.events = null;
  live.job = null;
}

// ---- dead letters -----------------------------------------------------------------------------

async function loadDlq() {
  const code = $('#dlq-code').value;
  const r = await api(`/api/dlq${code ? `?code=${encodeURIComponent(code)}` : ''}`);
  ui.dlq = r.records;
  const codes = new Set([...$('#dlq-code').options].map((o) => o.value));
  for (const rec of r.records) if (rec.code && !codes.has(rec.code)) $('#dlq-code').append(el('option', {}, rec.code));
  $('#dlq-table tbody').replaceChildren(...r.records.map((rec) => el('tr', { dataset: { seq: String(rec.seq), code: rec.code ?? '' } },
    el('td', {}, String(rec.seq)), el('td', {}, rec.code ?? ''), el('td', {}, rec.alt_id ?? '—'), el('td', { title: rec.error ?? '' }, rec.error ?? ''),
    el('td', {}, String(rec.deliveries)), el('td', {}, duration(ms(rec.time))),
    el('td', {}, el('button', { type: 'button', onclick: () => showPayload(rec.seq) }, 'Original'), ' ',
      el('button', { type: 'button', class: 'action replay', disabled: ui.config.actions ? null : 'disabled', onclick: () => replay({ seq: rec.seq }) }, 'Replay')))));
}

async function showPayload(seq) {
  const r = await api(`/api/dlq/${seq}`);
  const pre = $('#dlq-payload');
  pre.hidden = false;
  pre.textContent = r.payload;
}

async function replay(body) {
  const out = await act('replay', body);
  if (out) {
    toast(`replayed ${out.replayed.length} dead letter${out.replayed.length === 1 ? '' : 's'}`);
    await loadDlq();
  }
}

// ---- fleet ------------------------------------------------------------------------------------

function renderFleet() {
  const c = ui.stats?.consumer;
  $('#consumer').replaceChildren(...(c ? [['pending', c.pending], ['ack pending', c.ack_pending], ['redelivered', c.redelivered], ['pull requests waiting', c.waiting]] : [['consumer', 'missing']])
    .map(([k, v]) => el('div', { dataset: { consumer: k } }, el('span', { class: 'muted' }, `${k} `), el('b', {}, String(v)))));
  $('#workers-table tbody').replaceChildren(...ui.workers.map((w) => el('tr', { dataset: { worker: w.worker_id } },
    el('td', {}, w.worker_id), el('td', {}, w.host), el('td', {}, w.version), el('td', {}, `${w.in_flight}/${w.concurrency}`), el('td', {}, String(w.processed)),
    el('td', {}, String(w.waiting_for_ai)), el('td', {}, w.breaker), el('td', {}, `${duration(ms(w.seen_at))} ago`))));
  const rates = ui.stats?.rates;
  const svg = $('#chart');
  if (!rates) return;
  const per = rates.bucket_ms / 1000;
  const max = Math.max(1, ...rates.done.map((v) => v / per));
  const line = (series, cls) => {
    const p = document.createElementNS(SVG, 'polyline');
    p.setAttribute('class', cls);
    p.setAttribute('points', series.map((v, i) => `${(i / (series.length - 1)) * 900},${150 - (v / per / max) * 140}`).join(' '));
    return p;
  };
  const label = document.createElementNS(SVG, 'text');
  label.setAttribute('x', '6');
  label.setAttribute('y', '14');
  label.setAttribute('font-size', '12');
  label.textContent = `${max.toFixed(1)} jobs/s`;
  svg.replaceChildren(line(rates.done, 'done'), line(rates.failed, 'failed'), label);
}

// ---- wiring -----------------------------------------------------------------------------------

function showTab(name) {
  ui.tab = name;
  for (const s of document.querySelectorAll('.tab')) s.classList.toggle('active', s.id === `tab-${name}`);
  for (const b of document.querySelectorAll('nav button')) b.classList.toggle('active', b.dataset.tab === name || (name === 'job' && b.dataset.tab === 'jobs'));
  if (name !== 'job') {
    ui.current = null;
    stopLive();
  }
  if (name === 'jobs') scheduleRender();
  if (name === 'dlq') void loadDlq().catch((e) => toast(e.message));
  if (name === 'fleet') renderFleet();
}

function connect() {
  const events = new EventSource('/api/events');
  events.addEventListener('job', (e) => onJobEvent(JSON.parse(e.data)));
  events.addEventListener('job-removed', (e) => {
    ui.jobs.delete(JSON.parse(e.data).alt_id);
    scheduleRender();
  });
  events.addEventListener('stats', (e) => {
    const before = ui.stats?.dlq;
    ui.stats = JSON.parse(e.data);
    renderCounts();
    if (ui.tab === 'fleet') renderFleet();
    if (ui.tab === 'dlq' && before !== ui.stats.dlq) void loadDlq();
  });
  events.addEventListener('workers', (e) => {
    ui.workers = JSON.parse(e.data);
    if (ui.tab === 'fleet') renderFleet();
  });
}

async function start() {
  ui.config = await api('/api/config');
  $('#mode').textContent = ui.config.actions ? 'actions need the token' : 'read-only';
  $('#token').hidden = !ui.config.actions;
  $('#token').value = sessionStorage.getItem('altlas-token') ?? '';
  $('#token').addEventListener('change', () => sessionStorage.setItem('altlas-token', $('#token').value));
  for (const b of document.querySelectorAll('nav button')) b.addEventListener('click', () => showTab(b.dataset.tab));
  $('#back').addEventListener('click', () => showTab('jobs'));
  $('#state-filter').addEventListener('change', () => void loadJobs());
  $('#q').addEventListener('input', () => void loadJobs());
  $('#dlq-code').addEventListener('change', () => void loadDlq());
  $('#replay-code').addEventListener('click', () => {
    const code = $('#dlq-code').value;
    if (!code) return toast('choose a code first');
    return replay({ code });
  });
  $('#purge-code').addEventListener('click', async () => {
    const code = $('#dlq-code').value;
    if (!confirm(`Remove ${code ? `every dead letter of ${code}` : 'every dead letter'} for good?`)) return;
    const out = await act('purge', code ? { code } : {});
    if (out) {
      toast(`removed ${out.removed.length}`);
      await loadDlq();
    }
  });
  for (const b of document.querySelectorAll('#tab-dlq .action')) b.disabled = !ui.config.actions;
  connect();
  await loadJobs();
  const fleet = await api('/api/fleet');
  ui.workers = fleet.workers;
}

void start().catch((e) => toast(`the dashboard could not start: ${e.message}`));
