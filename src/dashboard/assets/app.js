// The altlas-runner dashboard page: plain modules, no framework. Data comes from the JSON API and
// live events (Server-Sent Events); every text is set with textContent, never parsed as HTML.
// Each view has its URL (#/jobs?state=…&q=…, #/job/<id>, #/dlq, #/fleet, #/usage?since=…&by=…, #/limits): links work, Back goes
// back, a reload keeps the view.
import { drawGraph } from '/assets/graph.js';

const $ = (sel) => document.querySelector(sel);
const STATES = ['running', 'waiting', 'retrying', 'completed', 'failed', 'cancelled'];
const FINAL = ['completed', 'failed', 'cancelled'];
const SVG = 'http://www.w3.org/2000/svg';

const ui = {
  config: { actions: false, trace_url: null },
  jobs: new Map(),
  /** True once /api/jobs answered (the jobs table shows the fleet, not an empty start). */
  jobsLoaded: false,
  stats: null,
  current: null,
  expanded: new Set(),
  workers: [],
  /** The fleet's intake as its pause record says ({paused, by, at}; null: never paused). */
  intake: null,
  /** Concurrencies typed in the workers table and not set yet, by worker (the table is redrawn at each heartbeat). */
  drafts: new Map(),
  tab: 'jobs',
  started: false,
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

/** A job's state as the page shows it: a completed job whose .last is partialsuccess says so. */
const shownState = (j) => (j.state === 'completed' && j.last_status === 'partialsuccess' ? 'partialsuccess' : j.state);
const stateBadge = (s) => el('span', { class: `state state-${s}`, dataset: { state: s } }, s);
const ms = (a, b) => (a ? Math.max(0, (b ? Date.parse(b) : Date.now()) - Date.parse(a)) : null);
function duration(v) {
  if (v === null || v === undefined) return '';
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 60_000) return `${(v / 1000).toFixed(1)} s`;
  return `${Math.floor(v / 60_000)} min ${Math.round((v % 60_000) / 1000)} s`;
}
// Local date and time, sortable (2025-05-01 14:03:07).
const DATE_TIME = new Intl.DateTimeFormat('sv-SE', { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
const when = (iso) => (iso ? DATE_TIME.format(new Date(iso)) : '');
/** Task attempts after the first: what "retries" means to a reader. */
const retries = (job) => Object.values(job.tasks).reduce((a, t) => a + Math.max(0, (t.attempts ?? 0) - 1), 0);
/** A count, or "unknown" (a provider that did not report it); never shown as 0 when unknown. */
const count = (n) => (n === null || n === undefined ? 'unknown' : Number(n).toLocaleString('en'));
/** A cost in its currency, or "unknown" (an unpriced model). */
const money = (v, currency) => (v === null || v === undefined ? 'unknown' : `${Number(v.toPrecision(6))}${currency ? ` ${currency}` : ''}`);
/** What a job's completed tasks spent, from its status entry: "1,234 tok · 0.0021 USD". */
function spent(job) {
  const u = job.usage;
  if (!u || u.calls === 0) return '';
  const t = u.tokens.input === null || u.tokens.output === null ? 'unknown' : count(u.tokens.input + u.tokens.output);
  return `${t} tok · ${money(u.cost, u.currency)}`;
}

/** The first characters of a text, never cutting a character in two. */
const preview = (text, n = 160) => (text ? Array.from(text).slice(0, n).join('') : '');

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

// ---- routes -------------------------------------------------------------------------------------

/** The view of a URL hash: #/jobs?state=x&q=y, #/job/<id>, #/dlq?code=x, #/fleet, #/usage?since=24h&by=model. */
function parseRoute(hash) {
  const [path, query = ''] = hash.replace(/^#\/?/, '').split('?');
  const params = new URLSearchParams(query);
  const task = /^job\/([^/]+)\/task\/([^/]+)$/.exec(path);
  if (task) return { tab: 'task', id: decodeURIComponent(task[1]), task: decodeURIComponent(task[2]), params };
  if (path.startsWith('job/')) return { tab: 'job', id: decodeURIComponent(path.slice(4)), params };
  return { tab: ['dlq', 'fleet', 'usage', 'limits', 'finished'].includes(path) ? path : 'jobs', params };
}
const jobHref = (id) => `#/job/${encodeURIComponent(id)}`;
const taskHref = (id, task) => `#/job/${encodeURIComponent(id)}/task/${encodeURIComponent(task)}`;

function go(hash, replace = false) {
  if (location.hash === hash) return route();
  if (replace) history.replaceState(null, '', hash);
  else location.hash = hash;
  if (replace) route();
}

function route() {
  const r = parseRoute(location.hash);
  if (r.tab === 'jobs') {
    $('#state-filter').value = r.params.get('state') ?? '';
    $('#q').value = r.params.get('q') ?? '';
  }
  if (r.tab === 'dlq') $('#dlq-code').value = r.params.get('code') ?? '';
  if (r.tab === 'usage') {
    $('#usage-since').value = r.params.get('since') ?? '24h';
    $('#usage-by').value = r.params.get('by') ?? 'model';
  }
  if (r.tab === 'finished') {
    $('#fin-since').value = r.params.get('since') ?? '24h';
    $('#fin-state').value = r.params.get('state') ?? '';
    $('#fin-code').value = r.params.get('code') ?? '';
    $('#fin-q').value = r.params.get('q') ?? '';
    $('#fin-tenant').value = r.params.get('tenant') ?? '';
  }
  showTab(r.tab);
  if (r.tab === 'finished') void loadFinished(r.params.get('page') ?? '').catch((e) => toast(e.message));
  if (r.tab === 'task') void openTask(r.id, r.task).catch((e) => toast(e.message));
  if (r.tab === 'job') void openJob(r.id);
  else if (r.tab === 'jobs') void loadJobs().catch((e) => toast(e.message));
}

/** The jobs view's URL for its filters (replacing the history entry: typing is not navigation). */
function filtersChanged() {
  const params = new URLSearchParams();
  if ($('#state-filter').value) params.set('state', $('#state-filter').value);
  if ($('#q').value.trim()) params.set('q', $('#q').value.trim());
  const query = params.toString();
  history.replaceState(null, '', `#/jobs${query ? `?${query}` : ''}`);
  void loadJobs().catch((e) => toast(e.message));
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
  const unreadable = ui.stats?.unreadable ? [el('span', { class: 'count', dataset: { count: 'unreadable' }, title: 'values of the status bucket that are not status entries (skipped)' }, 'unreadable ', el('b', {}, String(ui.stats.unreadable)))] : [];
  box.replaceChildren(...STATES.map((s) => el('a', { class: 'count', href: `#/jobs?state=${s}`, dataset: { count: s } }, stateBadge(s), el('b', {}, String(ui.stats?.counts?.[s] ?? 0)))), ...unreadable);
  $('#dlq-count').textContent = String(ui.stats?.dlq ?? 0);
}

function renderJobs() {
  const state = $('#state-filter').value;
  const q = $('#q').value.trim().toLowerCase();
  const rows = [...ui.jobs.values()]
    .filter((j) => (!state || j.state === state) && (!q || j.alt_id.toLowerCase().includes(q) || j.title.toLowerCase().includes(q) || j.worker_id.toLowerCase().includes(q)))
    .sort((a, b) => (b.started_at ?? b.received_at).localeCompare(a.started_at ?? a.received_at))
    .slice(0, 200);
  $('#jobs-table tbody').replaceChildren(...rows.map((j) => {
    const r = retries(j);
    return el('tr', { class: 'clickable', dataset: { jobId: j.alt_id }, onclick: (e) => e.target.closest('a') || go(jobHref(j.alt_id)) },
      el('td', { class: 'id', title: j.alt_id }, el('a', { href: jobHref(j.alt_id) }, j.alt_id)), el('td', { class: 'title', title: j.title }, j.title), el('td', {}, stateBadge(shownState(j))),
      el('td', {}, `${j.tasks_done}/${j.tasks_total}`),
      el('td', { title: 'task attempts after the first; deliveries of the message' }, `${r}${j.deliveries > 1 ? ` · ${j.deliveries} deliveries` : ''}`),
      el('td', {}, j.worker_id), el('td', {}, when(j.started_at)), el('td', {}, duration(ms(j.started_at, j.finished_at))), el('td', { dataset: { spent: '' } }, spent(j)));
  }));
  $('#jobs-total').textContent = `${rows.length} shown`;
  // The first paint of the loaded list (a frame drawn before /api/jobs answered shows nothing yet).
  if (window.__dashboard.firstPaint === null && ui.jobsLoaded) window.__dashboard.firstPaint = performance.now();
}

async function loadJobs() {
  const state = $('#state-filter').value;
  const q = $('#q').value.trim();
  const r = await api(`/api/jobs?limit=200${state ? `&state=${encodeURIComponent(state)}` : ''}${q ? `&q=${encodeURIComponent(q)}` : ''}`);
  for (const j of r.jobs) ui.jobs.set(j.alt_id, j);
  ui.stats = r.stats;
  ui.jobsLoaded = true;
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
  if (ui.current === job.alt_id) void openJob(job.alt_id);
}

// ---- one job ----------------------------------------------------------------------------------

async function openJob(id) {
  if (ui.current !== id) ui.expanded = new Set();
  // The view is this job's from now on: when its entry is not there yet, its first event opens it.
  ui.current = id;
  let r;
  try {
    r = await api(`/api/jobs/${encodeURIComponent(id)}`);
  } catch (e) {
    $('#job-title').replaceChildren(el('span', {}, `${id}: ${e.message}`));
    return;
  }
  if (ui.current !== id) return;
  void loadHistory(id);
  $('#alt-text').textContent = '';
  $('#alt-details').open = false;
  // No status entry (expired): the job as its .last has it.
  const job = r.job ?? jobFromLast(r.last);
  $('#job-title').replaceChildren(el('span', {}, `${job.alt_id} `), stateBadge(shownState(job)));
  const trace = job.trace_id && ui.config.trace_url ? el('a', { href: ui.config.trace_url.replace('{trace_id}', job.trace_id), target: '_blank', rel: 'noopener' }, job.trace_id) : (job.trace_id ?? '—');
  const meta = [['Title', job.title], ['Worker', job.worker_id], ['Deliveries', String(job.deliveries)], ['Task retries', String(retries(job))], ['Started', when(job.started_at) || '—'],
    ['Duration', duration(ms(job.started_at, job.finished_at))], ['Error', job.error ? `${job.error.code}: ${job.error.message}` : '—'], ['.last', job.last_status ?? '—'], ['Trace', trace],
    ['Spent', spent(job) || '—'], ['Budget', job.budget ? [job.budget.tokens !== null ? `${count(job.budget.tokens)} tokens` : '', job.budget.cost !== null ? money(job.budget.cost, job.usage?.currency) : ''].filter(Boolean).join(' · ') : 'none']];
  $('#job-meta').replaceChildren(...meta.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  const running = !FINAL.includes(job.state);
  // A parked job (an approval task): approve or reject it, with a comment (the token's actions).
  const parkedAt = job.state === 'waiting' && job.error?.code === 'JOB_PARKED' ? /^task (\S+) waits for a person/.exec(job.error.message)?.[1] : null;
  const decide = (reject) => el('button', { type: 'button', class: reject ? 'action danger' : 'action', id: reject ? 'reject-job' : 'approve-job', disabled: ui.config.actions ? null : 'disabled', onclick: async () => {
    const comment = window.prompt(`${reject ? 'Reject' : 'Approve'} task ${parkedAt}: a comment (optional)`, '');
    if (comment === null) return;
    const out = await act('approve', { alt_id: job.alt_id, task: parkedAt, reject, ...(comment ? { comment } : {}) });
    if (out) toast(`${job.alt_id}: task ${parkedAt} ${out.decision}; the job resumes`);
  } }, reject ? 'Reject' : 'Approve');
  // A finished job: run it again from one of its tasks (the other tasks keep their outputs); its .alt is chosen here, as a .alt is not kept.
  const replay = el('button', { type: 'button', class: 'action', id: 'replay-job', disabled: ui.config.actions && FINAL.includes(job.state) && r.last ? null : 'disabled', onclick: () => {
    const from = window.prompt(`Replay ${job.alt_id} from which task? (${Object.keys(job.tasks).join(', ')})`, Object.keys(job.tasks).at(-1) ?? '');
    if (!from) return;
    const done = (out) => out && toast(`${job.alt_id}: replay from ${from} published; ${out.kept.length} task(s) kept`);
    const withFile = () => {
      const input = el('input', { type: 'file', accept: '.json,.yaml,.yml,.alt' });
      input.onchange = async () => {
        const file = input.files?.[0];
        if (file) done(await act('replay_from', { alt_id: job.alt_id, from, alt: await file.text(), name: file.name }));
      };
      input.click();
    };
    // The .alt the workers kept (RUNNER_KEEP_ALT) when there is one, else the file chosen here.
    void (async () => {
      const res = await fetch('/api/actions/replay_from', { method: 'POST', headers: { 'content-type': 'application/json', ...($('#token').value ? { authorization: `Bearer ${$('#token').value}` } : {}) }, body: JSON.stringify({ alt_id: job.alt_id, from }) });
      const out = await res.json();
      if (res.ok) done(out);
      else if (/RUNNER_KEEP_ALT/.test(out.error ?? '')) withFile();
      else toast(`replay refused: ${out.error}`);
    })();
  } }, 'Replay from…');
  $('#job-actions').replaceChildren(...(parkedAt ? [decide(false), decide(true)] : []), replay, el('button', { type: 'button', class: 'action danger', id: 'cancel-job', disabled: ui.config.actions && running ? null : 'disabled', onclick: async () => {
    const out = await act('cancel', { alt_id: job.alt_id });
    if (out) toast(`cancel requested for ${job.alt_id}`);
  } }, 'Cancel'));
  drawGraph($('#graph'), job, ui.expanded, (owner) => {
    ui.expanded.add(owner);
    void openJob(id);
  });
  followLive(job.alt_id);
  // Outputs: the .last's once it exists; while the job runs, the previews its status entry keeps.
  const results = r.last?.task_results ?? {};
  $('#tasks-table tbody').replaceChildren(...Object.entries(job.tasks).map(([tid, t]) => {
    const text = preview(results[tid]?.output?.text ?? t.preview ?? '');
    // A completed task's call: from the .last once it exists, else the status entry.
    const out = results[tid]?.output;
    const usage = out?.usage ?? t.usage;
    const cost = out ? out.cost : t.cost;
    return el('tr', { dataset: { task: tid } }, el('td', {}, results[tid] ? el('a', { href: taskHref(job.alt_id, tid), title: 'prompt and full output' }, tid) : tid), el('td', {}, stateBadge(t.state)), el('td', { title: 'attempts of this task' }, String(t.attempts)),
      el('td', {}, when(t.started_at)), el('td', {}, duration(ms(t.started_at, t.finished_at))), el('td', {}, t.error_code ?? ''),
      el('td', { dataset: { tokens: '' } }, usage ? `${count(usage.input)} / ${count(usage.output)}` : ''), el('td', {}, usage ? money(cost, r.last?.metadata?.usage?.currency ?? job.usage?.currency) : ''),
      el('td', { class: 'output', title: text }, text));
  }));
  $('#last-json').textContent = r.last ? JSON.stringify(r.last, null, 2) : 'not stored yet';
}

/** A job whose status entry is gone, from its .last: what the job view needs. */
function jobFromLast(last) {
  const tasks = Object.fromEntries(Object.entries(last.task_results).map(([tid, t]) => [tid, {
    state: t.status, attempts: t.metadata?.attempts ?? 1, started_at: t.start_time, finished_at: t.end_time, error_code: t.metadata?.error_code ?? null, dependencies: [],
  }]));
  return {
    alt_id: last.alt_file_id, title: last.title, state: last.status === 'failure' ? 'failed' : 'completed', last_status: last.status, worker_id: '—', deliveries: '—',
    started_at: last.start_time, finished_at: last.end_time, error: last.metadata?.error_code ? { code: last.metadata.error_code, message: String(last.metadata.error ?? '') } : null,
    tasks, tasks_total: Object.keys(tasks).length, tasks_done: Object.values(tasks).filter((t) => t.state === 'completed').length, segments: [],
  };
}

/** The job's timeline from the history stream. */
async function loadHistory(id) {
  const list = $('#history-list');
  list.replaceChildren(el('li', { class: 'muted' }, 'loading…'));
  const r = await api(`/api/jobs/${encodeURIComponent(id)}/history`).catch((e) => ({ events: [], error: e.message }));
  if (ui.current !== id) return;
  list.replaceChildren(...(r.events.length ? r.events.map((e) => el('li', { dataset: { event: e.type } }, el('span', { class: 'muted' }, `${when(e.at)} `), historyText(e))) : [el('li', { class: 'muted' }, r.error ?? 'no event stored')]));
}

/** One event in words (as altlas history prints it). */
function historyText(e) {
  const on = e.worker_id ? ` on ${e.worker_id}` : '';
  const by = e.by ? ` by ${e.by}` : '';
  const code = e.code ? ` (${e.code})` : '';
  const d = e.detail ?? {};
  switch (e.type) {
    case 'delivered': return `delivered (delivery ${e.deliveries}, message ${e.alt_stream_seq}) to ${e.worker_id}`;
    case 'attempt_failed': return `task ${e.task_id} attempt ${e.attempt} failed${code}${on}`;
    case 'task_finished': return `task ${e.task_id} ${e.status}${code}${on}`;
    case 'last_stored': return `.last stored (${e.status})${on}`;
    case 'checkpointed': return `checkpointed ${d.tasks} task(s)${on}`;
    case 'replayed': return `replay from task ${d.from} published${by}`;
    case 'approved': case 'rejected': return `task ${e.task_id} ${e.type}${by}`;
    default: return `${e.type.replace(/_/g, ' ')}${code}${on}${by}`;
  }
}

/** One task: its prompt and full output, fetched when the view opens. */
async function openTask(id, task) {
  $('#task-back').setAttribute('href', jobHref(id));
  $('#task-title').textContent = `${id} · ${task}`;
  $('#task-prompt').textContent = 'loading…';
  $('#task-output').textContent = '';
  const t = await api(`/api/jobs/${encodeURIComponent(id)}/tasks/${encodeURIComponent(task)}`);
  $('#task-meta').replaceChildren(...[['Status', t.status], ['Attempts', String(t.attempts ?? '—')], ['Error', t.error ?? '—'], ['Artifact', t.artifact ?? '—']].flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  $('#task-prompt').textContent = t.prompt ? `system: ${t.prompt.system}\n\nuser:\n${t.prompt.user}` : t.prompt_note;
  $('#task-output').textContent = t.output ? `${t.output.text}${t.output.truncated ? `\n… (${t.output.chars} characters)` : ''}` : '(no output)';
}

/** The finished-jobs search (LAST), a page at a time; `page` is the token of the page to show. */
async function loadFinished(page) {
  const params = new URLSearchParams();
  for (const [k, sel] of [['since', '#fin-since'], ['state', '#fin-state'], ['code', '#fin-code'], ['q', '#fin-q'], ['tenant', '#fin-tenant']]) if ($(sel).value.trim()) params.set(k, $(sel).value.trim());
  if (page) params.set('page', page);
  const r = await api(`/api/finished?${params}`);
  $('#finished-table tbody').replaceChildren(...r.jobs.map((j) => el('tr', { dataset: { job: j.alt_id } },
    el('td', {}, el('a', { href: jobHref(j.alt_id) }, j.alt_id)), el('td', {}, stateBadge(j.status)), el('td', {}, `${j.tasks_done}/${j.tasks_total}`), el('td', {}, j.code ?? ''),
    el('td', {}, j.tenant ?? ''), el('td', {}, duration(j.duration_ms)), el('td', {}, when(j.stored_at)), el('td', {}, preview(j.title, 80)))));
  const next = $('#fin-next');
  next.disabled = r.next === null;
  next.onclick = () => {
    const p = new URLSearchParams(params);
    p.set('page', String(r.next));
    go(`#/finished?${p}`);
  };
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
  const codes = new Set([...$('#dlq-code').options].map((o) => o.value));
  for (const rec of r.records) if (rec.code && !codes.has(rec.code)) $('#dlq-code').append(el('option', {}, rec.code));
  $('#dlq-table tbody').replaceChildren(...r.records.map((rec) => el('tr', { dataset: { seq: String(rec.seq), code: rec.code ?? '' } },
    el('td', {}, String(rec.seq)), el('td', {}, rec.code ?? ''), el('td', {}, rec.alt_id ?? '—'), el('td', { class: 'title', title: rec.error ?? '' }, rec.error ?? ''),
    el('td', {}, String(rec.deliveries)), el('td', { title: when(rec.time) }, `${when(rec.time)} (${duration(ms(rec.time))} ago)`),
    el('td', {}, el('button', { type: 'button', onclick: () => showPayload(rec.seq) }, 'Original'), ' ',
      el('button', { type: 'button', class: 'action replay', disabled: ui.config.actions ? null : 'disabled', onclick: () => replay({ seq: rec.seq }) }, 'Replay')))));
}

async function showPayload(seq) {
  const r = await api(`/api/dlq/${seq}`);
  const pre = $('#dlq-payload');
  pre.hidden = false;
  pre.textContent = typeof r.payload === 'string' ? r.payload : JSON.stringify(r.payload, null, 2);
}

async function replay(body) {
  const out = await act('replay', body);
  if (out) {
    toast(`replayed ${out.replayed.length} dead letter${out.replayed.length === 1 ? '' : 's'}`);
    await loadDlq();
  }
}

// ---- usage ------------------------------------------------------------------------------------

async function loadUsage() {
  const since = $('#usage-since').value;
  const by = $('#usage-by').value;
  const r = await api(`/api/usage?since=${encodeURIComponent(since)}&by=${encodeURIComponent(by)}`);
  const row = (name, t, total) => el('tr', { class: total ? 'total' : '', dataset: { group: name } },
    el('td', {}, name), el('td', {}, count(t.jobs)), el('td', {}, count(t.calls)), el('td', {}, count(t.calls_failed)),
    el('td', {}, count(t.tokens.input)), el('td', {}, count(t.tokens.output)), el('td', {}, count(t.tokens.cached_input)), el('td', {}, count(t.tokens.reasoning)),
    el('td', {}, money(t.cost, t.currency)));
  $('#usage-table tbody').replaceChildren(row('total', r, true), ...Object.entries(r.groups).map(([k, t]) => row(k, t, false)));
}

// ---- limits -----------------------------------------------------------------------------------

async function loadLimits() {
  const r = await api('/api/limits');
  const n = (v) => (v === null ? '—' : count(v));
  $('#limits-table tbody').replaceChildren(...(r.limits.length ? r.limits.map((l) => el('tr', { dataset: { limit: `${l.provider}/${l.model}/${l.unit}` } },
    el('td', {}, l.provider), el('td', {}, l.model), el('td', {}, l.unit), el('td', { dataset: { cell: 'limit' } }, n(l.limit)), el('td', {}, n(l.learned)),
    el('td', { dataset: { cell: 'slices' } }, l.slices.map((s) => `${s.worker}: ${count(s.amount)}`).join(', ') || '—'), el('td', {}, count(l.held_by_gone)),
    el('td', { dataset: { cell: 'free' } }, n(l.free))))
    : [el('tr', {}, el('td', { colspan: '8', class: 'muted' }, 'no model limits in use yet'))]));
}

// ---- fleet ------------------------------------------------------------------------------------

function renderFleet() {
  const c = ui.stats?.consumer;
  $('#consumer').replaceChildren(...(c ? [['pending', c.pending], ['ack pending', c.ack_pending], ['redelivered', c.redelivered], ['pull requests waiting', c.waiting]] : [['consumer', 'missing']])
    .map(([k, v]) => el('div', { dataset: { consumer: k } }, el('span', { class: 'muted' }, `${k} `), el('b', {}, String(v)))));
  // Priority lanes: messages stored per lane (waiting or running), with the tenants that have the most.
  $('#lanes').replaceChildren(...(ui.stats?.lanes ?? []).map((l) => el('div', { dataset: { lane: l.lane }, title: l.tenants.map((t) => `${t.tenant}: ${t.stored}`).join('\n') },
    el('span', { class: 'muted' }, `${l.lane} lane `), el('b', {}, String(l.stored)),
    ...(l.tenants.length ? [el('span', { class: 'muted' }, ` (${l.tenants.slice(0, 3).map((t) => `${t.tenant} ${t.stored}`).join(', ')}${l.tenants.length > 3 ? ', …' : ''})`)] : []))));
  renderIntake();
  $('#workers-table tbody').replaceChildren(...ui.workers.map((w) => el('tr', { dataset: { worker: w.worker_id } },
    el('td', {}, w.worker_id), el('td', {}, w.host), el('td', {}, w.version), el('td', { dataset: { cell: 'in-flight' } }, `${w.in_flight}/${w.concurrency}${w.paused ? ' (paused)' : ''}`), el('td', {}, String(w.processed)),
    el('td', {}, String(w.waiting_for_ai)), el('td', {}, w.breaker), el('td', { title: when(w.seen_at) }, `${duration(ms(w.seen_at))} ago`),
    el('td', {}, ...workerControls(w)))));
  drawChart();
}

/** The fleet's intake (running, or paused by whom since when) and its two buttons. */
function renderIntake() {
  const paused = ui.intake?.paused === true;
  $('#intake-state').textContent = ui.intake === null ? 'running' : paused ? 'paused' : 'running';
  $('#intake-state').className = paused ? 'paused' : '';
  $('#intake-by').textContent = ui.intake ? `(${paused ? 'paused' : 'resumed'} by ${ui.intake.by}, ${when(ui.intake.at)})` : '';
  $('#pause-intake').disabled = !ui.config.controls || paused;
  $('#resume-intake').disabled = !ui.config.controls || !paused;
}

/** A worker's controls: its concurrency (a number and Set) and Drain; the operator's token only. */
function workerControls(w) {
  const off = ui.config.controls ? null : 'disabled';
  const input = el('input', { type: 'number', min: '1', step: '1', class: 'concurrency', 'aria-label': `concurrency of ${w.worker_id}`, value: ui.drafts.get(w.worker_id) ?? String(w.concurrency), disabled: off,
    oninput: () => ui.drafts.set(w.worker_id, input.value) });
  const set = el('button', { type: 'button', class: 'action set-concurrency', disabled: off, onclick: async () => {
    const out = await act('concurrency', { worker_id: w.worker_id, concurrency: Number(input.value) });
    if (!out) return;
    ui.drafts.delete(w.worker_id);
    toast(`${w.worker_id}: concurrency ${out.was} → ${out.concurrency}`);
  } }, 'Set');
  const drain = el('button', { type: 'button', class: 'action danger drain', disabled: off, onclick: async () => {
    if (!confirm(`Drain ${w.worker_id}? It finishes the ${w.in_flight} job(s) it runs, then exits.`)) return;
    const out = await act('drain', { worker_id: w.worker_id });
    if (out) toast(`${w.worker_id} drains: ${out.in_flight} job(s) running there finish, then it exits`);
  } }, 'Drain');
  return [input, set, drain];
}

async function setIntake(paused) {
  const out = await act(paused ? 'pause' : 'resume', {});
  if (!out) return;
  ui.intake = { paused: out.paused, by: out.by, at: new Date().toISOString() };
  renderIntake();
  toast(paused ? 'intake paused on every worker' : 'intake resumed on every worker');
}

async function loadIntake() {
  ui.intake = (await api('/api/fleet')).intake;
  if (ui.tab === 'fleet') renderIntake();
}

/** Jobs and failures per second over the last 15 minutes, with a time axis, drawn at the chart's own size. */
function drawChart() {
  const rates = ui.stats?.rates;
  const chart = $('#chart');
  if (!rates) return;
  const width = Math.max(300, chart.clientWidth || 900);
  const height = 170;
  const pad = { left: 44, right: 10, top: 10, bottom: 22 };
  chart.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const per = rates.bucket_ms / 1000;
  const max = Math.max(1, ...rates.done.map((v) => v / per));
  const x = (i) => pad.left + (i / (rates.done.length - 1)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - (v / per / max) * (height - pad.top - pad.bottom);
  const line = (series, cls) => {
    const p = document.createElementNS(SVG, 'polyline');
    p.setAttribute('class', cls);
    p.setAttribute('points', series.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' '));
    return p;
  };
  const text = (tx, ty, content, anchor = 'middle') => {
    const t = document.createElementNS(SVG, 'text');
    t.setAttribute('x', String(tx));
    t.setAttribute('y', String(ty));
    t.setAttribute('text-anchor', anchor);
    t.setAttribute('class', 'axis');
    t.textContent = content;
    return t;
  };
  const axis = document.createElementNS(SVG, 'path');
  axis.setAttribute('class', 'axis-line');
  axis.setAttribute('d', `M${pad.left},${pad.top} V${height - pad.bottom} H${width - pad.right}`);
  const minutes = (rates.done.length * rates.bucket_ms) / 60_000;
  const ticks = [];
  for (let m = minutes; m >= 0; m -= 5) {
    const i = rates.done.length - 1 - Math.round((m * 60_000) / rates.bucket_ms);
    ticks.push(text(x(Math.max(0, i)), height - 6, m === 0 ? 'now' : `−${m} min`));
  }
  chart.replaceChildren(axis, line(rates.done, 'done'), line(rates.failed, 'failed'), text(pad.left - 4, pad.top + 8, `${max.toFixed(1)}/s`, 'end'), text(pad.left - 4, height - pad.bottom, '0', 'end'), ...ticks);
}

// ---- wiring -----------------------------------------------------------------------------------

function showTab(name) {
  ui.tab = name;
  for (const s of document.querySelectorAll('.tab')) s.classList.toggle('active', s.id === `tab-${name}`);
  for (const b of document.querySelectorAll('nav a')) b.classList.toggle('active', b.dataset.tab === name || ((name === 'job' || name === 'task') && b.dataset.tab === 'jobs'));
  if (name !== 'job') {
    ui.current = null;
    stopLive();
  }
  if (name === 'jobs') scheduleRender();
  if (name === 'dlq') void loadDlq().catch((e) => toast(e.message));
  if (name === 'fleet') renderFleet();
  if (name === 'usage') void loadUsage().catch((e) => toast(e.message));
  if (name === 'limits') void loadLimits().catch((e) => toast(e.message));
}

function showWaiting(what) {
  const banner = $('#waiting');
  banner.hidden = !what;
  banner.textContent = what ? `Waiting for ${what}…` : '';
}

function connect() {
  const events = new EventSource('/api/events');
  events.addEventListener('waiting', (e) => showWaiting(JSON.parse(e.data).waiting_for));
  events.addEventListener('ready', () => void start());
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

/** Loads the data once the dashboard has it (at once, or when its "ready" event comes). */
async function start() {
  ui.config = await api('/api/config');
  $('#mode').textContent = ui.config.actions ? `actions need the token${ui.config.controls ? ' (fleet controls: the operator\'s)' : ''}` : 'read-only';
  $('#token').hidden = !ui.config.actions;
  for (const b of document.querySelectorAll('#tab-dlq .action')) b.disabled = !ui.config.actions;
  if (!ui.config.ready) return showWaiting(ui.config.waiting_for);
  if (ui.started) return;
  ui.started = true;
  showWaiting('');
  route();
  const fleet = await api('/api/fleet');
  ui.workers = fleet.workers;
  ui.intake = fleet.intake;
  ui.stats ??= fleet.stats;
  renderCounts();
  if (ui.tab === 'fleet') renderFleet();
}

function wire() {
  $('#token').value = sessionStorage.getItem('altlas-token') ?? '';
  $('#token').addEventListener('change', () => sessionStorage.setItem('altlas-token', $('#token').value));
  addEventListener('hashchange', () => ui.started && route());
  addEventListener('resize', () => ui.tab === 'fleet' && drawChart());
  $('#back').addEventListener('click', () => (history.length > 1 ? history.back() : go('#/jobs')));
  $('#state-filter').addEventListener('change', filtersChanged);
  $('#q').addEventListener('input', filtersChanged);
  const usageChanged = () => {
    history.replaceState(null, '', `#/usage?since=${encodeURIComponent($('#usage-since').value)}&by=${encodeURIComponent($('#usage-by').value)}`);
    void loadUsage().catch((e) => toast(e.message));
  };
  // The Limits view follows the fleet's slices while it is shown; the Fleet view the intake (paused by the command too).
  setInterval(() => ui.tab === 'limits' && ui.started && void loadLimits().catch(() => {}), 5_000);
  setInterval(() => ui.tab === 'fleet' && ui.started && void loadIntake().catch(() => {}), 5_000);
  $('#pause-intake').addEventListener('click', () => void setIntake(true));
  $('#resume-intake').addEventListener('click', () => void setIntake(false));
  $('#usage-since').addEventListener('change', usageChanged);
  $('#fin-search').addEventListener('click', () => {
    const p = new URLSearchParams();
    for (const [k, sel] of [['since', '#fin-since'], ['state', '#fin-state'], ['code', '#fin-code'], ['q', '#fin-q'], ['tenant', '#fin-tenant']]) if ($(sel).value.trim()) p.set(k, $(sel).value.trim());
    go(`#/finished?${p}`);
  });
  $('#alt-details').addEventListener('toggle', async () => {
    if (!$('#alt-details').open || !ui.current || $('#alt-text').textContent) return;
    const r = await api(`/api/jobs/${encodeURIComponent(ui.current)}/alt`).catch((e) => ({ kept: false, error: e.message }));
    $('#alt-text').textContent = r.kept ? (r.document !== undefined ? JSON.stringify(r.document, null, 2) : r.text) : (r.error ?? 'not kept (RUNNER_KEEP_ALT=false, or older than RUNNER_OBJECT_TTL_MS)');
  });
  $('#usage-by').addEventListener('change', usageChanged);
  $('#dlq-code').addEventListener('change', () => {
    history.replaceState(null, '', `#/dlq${$('#dlq-code').value ? `?code=${encodeURIComponent($('#dlq-code').value)}` : ''}`);
    void loadDlq();
  });
  $('#replay-code').addEventListener('click', () => {
    const code = $('#dlq-code').value;
    if (!code) return toast('choose a code first');
    return replay({ code });
  });
  $('#purge-code').addEventListener('click', async () => {
    const code = $('#dlq-code').value;
    if (!confirm(`Remove ${code ? `every dead letter of ${code}` : 'every dead letter'} for good?`)) return;
    // Every dead letter only when asked for in so many words (all: true), never by an empty filter.
    const out = await act('purge', code ? { code } : { all: true });
    if (out) {
      toast(`removed ${out.removed.length}`);
      await loadDlq();
    }
  });
  connect();
}

wire();
void start().catch((e) => toast(`the dashboard could not start: ${e.message}`));
