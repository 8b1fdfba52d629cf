// Alpa dashboard: a hash-routed single page over the silo's JSON API (/api/...). No libraries.
'use strict';
const main = document.getElementById('main');
let timer = null;

async function api(path, options) {
  const r = await fetch('/api' + path, options);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error ? body.error.message : `HTTP ${r.status}`);
  return body;
}
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) e.setAttribute(k, v);
  for (const c of children.flat()) e.append(c instanceof Node ? c : document.createTextNode(c == null ? '' : String(c)));
  return e;
}
function table(headers, rows, attrs) {
  return h('table', attrs, h('thead', {}, h('tr', {}, headers.map(x => h('th', {}, x)))),
    h('tbody', {}, rows.map(r => h('tr', {}, r.map(c => c instanceof Node ? h('td', {}, c) : h('td', {}, c))))));
}
const fmt = {
  bytes: b => b == null ? '—' : b < 1024 ** 2 ? (b / 1024).toFixed(1) + ' KiB' : b < 1024 ** 3 ? (b / 1024 ** 2).toFixed(1) + ' MiB' : (b / 1024 ** 3).toFixed(2) + ' GiB',
  num: (x, d = 1) => x == null ? '—' : Number(x).toFixed(d),
  dur: s => s < 120 ? s.toFixed(0) + ' s' : s < 7200 ? (s / 60).toFixed(1) + ' min' : (s / 3600).toFixed(1) + ' h',
  loss: x => x == null ? '—' : Number(x).toFixed(4),
  us: x => x == null ? '—' : x < 1000 ? x.toFixed(0) + ' µs' : x < 1e6 ? (x / 1e3).toFixed(1) + ' ms' : (x / 1e6).toFixed(2) + ' s',
};
const stateCell = s => h('span', { class: 'state-' + s }, s);
const jobLink = j => h('a', { href: `#/job/${j.id}`, class: 'job-link' }, j.id);

function card(label, value, id) { return h('div', { class: 'card', id }, h('div', { class: 'value' }, value), h('div', { class: 'label' }, label)); }

async function overview() {
  const [o, jobs] = await Promise.all([api('/overview'), api('/jobs')]);
  return [h('h1', {}, 'Overview'),
    h('div', { class: 'cards' },
      card('silos active', `${o.silos.active}`, 'card-silos'), card('devices', `${o.devices}`, 'card-devices'),
      card('jobs running / total', `${o.jobs.running} / ${o.jobs.total}`, 'card-jobs'),
      card('grain calls / s', fmt.num(o.callsPerSecond), 'card-calls'), card('error rate', (100 * o.errorRate).toFixed(2) + ' %', 'card-errors')),
    h('h2', {}, 'Recent jobs'), jobsTable(jobs.jobs.slice(0, 5))];
}

async function silos() {
  const [membership, stats] = await Promise.all([api('/membership'), api('/silos')]);
  const byAddress = Object.fromEntries(stats.filter(s => s.stats).map(s => [s.stats.address, s.stats]));
  const rows = membership.silos.map(m => {
    const s = m.status === 'active' ? byAddress[m.address] : null;
    return [m.address, h('span', { class: m.status === 'active' ? 'ok' : 'error' }, m.status), m.epoch,
      s ? fmt.dur(s.uptimeSeconds) : '—', s ? fmt.num(s.cpuPercent) + ' %' : '—', s ? fmt.bytes(s.workingSetBytes) : '—',
      s ? h('div', {}, s.devices.map(d => h('div', { class: 'device', 'data-device': d.name }, `${d.name}: ${fmt.bytes(d.memoryInUseBytes)}${d.job ? ' (' + d.job + ')' : ''}`))) : m.devices.join(', ')];
  });
  return [h('h1', {}, 'Silos'), table(['address', 'status', 'epoch', 'uptime', 'CPU', 'memory', 'devices (memory in use)'], rows, { id: 'silos-table' })];
}

// A mesh worker's loaded jobs and a driver's stages as rows, each with its instruction schedule (F/B = forward/backward
// of microbatch N, S/R = send/receive, C = collective, U = update); the whole state follows as JSON.
function stateSummary(s) {
  const schedule = text => h('span', { class: 'schedule' }, text.split(' ').map(t => h('span', { class: 'op op-' + t[0] }, t)));
  const rows = [];
  for (const j of s.jobs || []) if (j.instructions) {
    rows.push([j.job, `worker of stage ${j.stage} / ${j.stages}`, `${j.stepsRun} run`,
      j.devices.map(d => `${d.device}: ${fmt.bytes(d.liveBytes)} live, ${fmt.bytes(d.peakLiveBytes)} peak`).join('; '), schedule(j.instructions.schedule)]);
  }
  if (s.status && s.schedules) {
    const last = (s.recent_steps || []).slice(-1)[0] || {};
    (s.stages || []).forEach((silo, i) => rows.push([s.status.jobId, `driver: stage ${i} on ${silo}`, `${s.status.step} / ${s.status.steps} (${s.status.state})`,
      last.stagePeakBytes ? fmt.bytes(last.stagePeakBytes[i]) + ' peak' : '—', schedule(s.schedules[i] || '')]));
  }
  return rows.length ? [table(['job', 'role', 'steps', 'device memory', 'schedule'], rows, { id: 'grain-jobs' })] : [];
}

async function grains() {
  const stats = (await api('/silos')).filter(s => s.stats).map(s => s.stats);
  const types = stats.flatMap(s => s.grains.map(g => ({ silo: s.address, ...g })));
  const methods = stats.flatMap(s => s.methods.map(m => ({ silo: s.address, ...m })));
  const state = h('pre', { id: 'grain-state' }, 'click an activation to see its state');
  const summary = h('div', { id: 'grain-summary' });
  const keyLinks = t => h('div', {}, t.keys.map(k => h('a', { href: 'javascript:void 0', class: 'activation', 'data-grain': t.grain, 'data-key': k, 'data-silo': t.silo,
    onclick: '' }, k + ' ')));
  const typeTable = table(['grain', 'silo', 'activations', 'calls', 'calls/s', 'mean latency', 'errors'],
    types.map(t => [t.grain, t.silo, keyLinks(t), t.calls, fmt.num(t.callsPerSecond), fmt.us(t.meanMicroseconds), t.errors]), { id: 'grains-table' });
  typeTable.addEventListener('click', async ev => {
    const a = ev.target.closest('a.activation');
    if (!a) return;
    const silo = a.dataset.silo;
    const r = await api(`/grains/state?silo=${encodeURIComponent(silo)}&grain=${encodeURIComponent(a.dataset.grain)}&key=${encodeURIComponent(a.dataset.key)}`);
    const parsed = JSON.parse(r.stateJson);
    summary.replaceChildren(...stateSummary(parsed));
    // A long job's state grows without bound; rendering megabytes froze the page, so show the start.
    const full = JSON.stringify(parsed, null, 2);
    state.dataset.json = r.stateJson;
    state.textContent = `${r.grain}/${r.key} on ${r.silo}\n` + (full.length > 20000 ? full.slice(0, 20000) + `\n… ${full.length - 20000} more characters` : full);
  });
  const slow = [...methods].sort((a, b) => b.p99Microseconds - a.p99Microseconds).slice(0, 8);
  const failing = methods.filter(m => m.errors > 0).sort((a, b) => b.errors - a.errors).slice(0, 8);
  const methodRow = m => [`${m.grain}.${m.method}`, m.silo, m.calls, fmt.num(m.callsPerSecond), fmt.us(m.p50Microseconds), fmt.us(m.p99Microseconds), m.errors];
  const heads = ['method', 'silo', 'calls', 'calls/s', 'p50', 'p99', 'errors'];
  return [h('h1', {}, 'Grains'), typeTable, h('h2', {}, 'Activation state'), summary, state,
    h('h2', {}, 'Slowest methods (p99)'), table(heads, slow.map(methodRow), { id: 'slow-methods' }),
    h('h2', {}, 'Failing methods'), failing.length ? table(heads, failing.map(methodRow), { id: 'failing-methods' }) : h('p', { class: 'muted' }, 'no failed calls')];
}

function jobsTable(jobs) {
  return table(['job', 'name', 'state', 'step', 'loss', 'throughput', 'silo', 'submitted'],
    jobs.map(j => [jobLink(j), j.name, stateCell(j.state), `${j.step}/${j.spec.steps}`, fmt.loss(j.lastLoss),
      j.itemsPerSecond ? `${fmt.num(j.itemsPerSecond, 0)} ${j.itemUnit}/s` : '—', j.silo, new Date(j.submittedAt).toLocaleString()]), { class: 'jobs-table' });
}

async function jobs() {
  const list = await api('/jobs');
  const model = h('input', { id: 'submit-model', value: 'mlp', size: 12 }), steps = h('input', { id: 'submit-steps', value: '20', size: 5 });
  const devices = h('input', { id: 'submit-devices', value: '1', size: 3 }), result = h('span', { id: 'submit-result' });
  const button = h('button', { id: 'submit-button' }, 'Submit');
  button.onclick = async () => {
    try {
      const j = await api('/jobs', { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: model.value, steps: Number(steps.value), cluster: { silos: 1, devices: Number(devices.value) } }) });
      location.hash = `#/job/${j.id}`;
    } catch (e) { result.textContent = e.message; result.className = 'error'; }
  };
  return [h('h1', {}, 'Jobs'), h('p', {}, 'model ', model, ' steps ', steps, ' devices ', devices, ' ', button, ' ', result), jobsTable(list.jobs)];
}

async function job(id) {
  const [j, m] = await Promise.all([api(`/jobs/${id}`), api(`/jobs/${id}/metrics`)]);
  const cancel = h('button', { id: 'cancel-button' }, 'Cancel');
  cancel.onclick = async () => { try { await api(`/jobs/${id}/cancel`, { method: 'POST' }); route(); } catch (e) { alert(e.message); } };
  const last = m.steps[m.steps.length - 1];
  return [h('h1', {}, `Job ${j.id} — ${j.name}`),
    h('p', {}, 'state ', stateCell(j.state), j.error ? h('span', { class: 'error' }, ' — ' + j.error) : '', ' ',
      ['queued', 'planning', 'running'].includes(j.state) ? cancel : ''),
    h('div', { class: 'cards' }, card('step', `${j.step}/${j.spec.steps}`, 'card-step'), card('last loss', fmt.loss(j.lastLoss), 'card-loss'),
      card(`${j.itemUnit}/s (mean)`, fmt.num(j.itemsPerSecond, 0), 'card-throughput'),
      card('last step', last ? (last.seconds * 1e3).toFixed(1) + ' ms' : '—', 'card-step-time')),
    h('p', {}, h('a', { href: `#/plan/${id}`, id: 'plan-link' }, 'plan'), ' · ', h('a', { href: `#/timeline/${id}`, id: 'timeline-link' }, 'timeline of the last step'),
      ` · silo ${j.silo} · devices ${j.devices.join(', ')}`),
    h('h2', {}, 'Loss'), lossChart(m.steps),
    h('h2', {}, 'Throughput per step'), table(['step', 'loss', 'seconds', `${j.itemUnit}/s`],
      m.steps.slice(-10).map(s => [s.step, fmt.loss(s.loss), fmt.num(s.seconds, 4), fmt.num(s.itemsPerSecond, 0)]), { id: 'steps-table' }),
    // Checkpoints and recovery (jobs across silos with checkpoints): died, waiting, restored, skipped, resumed, checkpoint.
    h('h2', {}, 'Checkpoints and recovery'), (m.notes || []).length
      ? table(['after step', 'event', 'what happened'], m.notes.map(n => [n.step, n.kind, n.message]), { id: 'notes-table' })
      : h('p', { class: 'muted', id: 'notes-none' }, 'no checkpoint or recovery events')];
}

async function plan(id) {
  const m = await api(`/jobs/${id}/metrics`);
  if (!m.plan) return [h('h1', {}, `Plan of ${id}`), h('p', { class: 'muted' }, 'not planned yet')];
  const p = m.plan;
  return [h('h1', {}, `Plan of ${id}: ${p.method}, ${p.stages.length} stage(s), ${p.microbatches} microbatch(es)`),
    h('p', {}, h('a', { href: `#/job/${id}` }, '← job')),
    planChart(p), h('h2', {}, 'Predicted vs measured time per step'), stageTimesChart(p.stages),
    h('h2', {}, 'Parameter shardings'), table(['parameter', 'spec per dim'], Object.entries(p.parameterSpecs).map(([k, v]) => [k, '[' + v.join(', ') + ']']), { id: 'param-specs' }),
    h('h2', {}, 'Heavy-op strategies'), Object.keys(p.strategies).length
      ? table(['op', 'strategy'], Object.entries(p.strategies).map(([k, v]) => [k, v]), { id: 'strategies' }) : h('p', { class: 'muted' }, 'one device: no choices')];
}

async function timeline(id) {
  const m = await api(`/jobs/${id}/metrics`);
  const last = m.steps[m.steps.length - 1];
  const byKind = {};
  for (const e of m.timeline.filter(e => e.device === (m.timeline[0] || {}).device)) byKind[e.kind] = (byKind[e.kind] || 0) + e.endSeconds - e.startSeconds;
  return [h('h1', {}, `Timeline of ${id}, step ${last ? last.step : '—'}`), h('p', {}, h('a', { href: `#/job/${id}` }, '← job'),
      ' — measured events of the last step per device (pipelines: one per instruction; F/B mbN = forward/backward of microbatch N; hover for times)'),
    h('div', { class: 'legend' }, Object.entries(KIND_COLORS).map(([k, c]) => h('span', {}, h('i', { style: `background:${c}` }), k))),
    timelineChart(m.timeline),
    h('h2', {}, 'Time by kind (first device)'), table(['kind', 'seconds'], Object.entries(byKind).map(([k, s]) => [k, fmtSeconds(s)]), { id: 'kind-table' })];
}

// The live log is pushed by the silo (server-sent events, /api/logs/stream); EventSource reconnects by itself.
const LOG_LINES_KEPT = 2000;
function logs() {
  const box = h('div', { id: 'log', 'data-state': 'connecting' });
  const source = new EventSource('/api/logs/stream');
  source.onopen = () => { box.dataset.state = 'open'; };
  source.onerror = () => { box.dataset.state = 'reconnecting'; };
  source.onmessage = ev => {
    const l = JSON.parse(ev.data);
    box.append(h('div', { class: l.level, 'data-sequence': l.sequence }, `${new Date(l.at).toLocaleTimeString()} ${l.level.slice(0, 3).toUpperCase()} ${l.job ? '[' + l.job + '] ' : ''}${l.message}`));
    while (box.childElementCount > LOG_LINES_KEPT) box.firstElementChild.remove();
    box.scrollTop = box.scrollHeight;
  };
  return { nodes: [h('h1', {}, 'Live log'), h('p', { class: 'muted' }, 'pushed by the silo as it logs (server-sent events)'), box], close: () => source.close() };
}

const routes = { overview, silos, grains, jobs, job, plan, timeline, logs };
let closePage = null;
async function route() {
  clearInterval(timer);
  if (closePage) { closePage(); closePage = null; }
  const [name, arg] = (location.hash.replace(/^#\//, '') || 'overview').split('/');
  const page = routes[name] || overview;
  document.querySelectorAll('nav a').forEach(a => a.classList.toggle('active', a.id === 'nav-' + (name === 'job' || name === 'plan' || name === 'timeline' ? 'jobs' : name)));
  const render = async () => {
    try {
      const out = await page(arg);
      const nodes = Array.isArray(out) ? out : out.nodes;
      main.replaceChildren(...nodes);
      main.dataset.page = name;
      document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
      return out;
    } catch (e) { main.replaceChildren(h('p', { class: 'error', id: 'page-error' }, e.message)); return null; }
  };
  const out = await render();
  if (out && out.close) closePage = out.close;
  if (out && out.tick) timer = setInterval(out.tick, 1000);
  else if (name === 'overview' || name === 'silos') timer = setInterval(render, 3000);
  else if (name === 'job' && !['done', 'failed', 'cancelled'].includes((document.querySelector('[class^=state-]') || {}).textContent)) {
    timer = setInterval(async () => { const o = await render(); const s = (document.querySelector('[class^=state-]') || {}).textContent;
      if (!o || ['done', 'failed', 'cancelled'].includes(s)) clearInterval(timer); }, 1500);
  }
}
window.addEventListener('hashchange', route);
route();
