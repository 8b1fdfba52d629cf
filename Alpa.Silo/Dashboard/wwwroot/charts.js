// SVG pictures of the dashboard: loss curve, plan (stages → submeshes → devices), pipeline timeline.
// Plain DOM + SVG, no libraries. Every mark carries data-* attributes with the numbers it draws.
'use strict';
const SVGNS = 'http://www.w3.org/2000/svg';
const KIND_COLORS = { forward: '#4c8bf5', backward: '#f5a623', update: '#7ed321', collective: '#bd10e0', send: '#50e3c2', recv: '#2bb1a0', free: '#9b9b9b' };

function svgEl(name, attrs, parent) {
  const e = document.createElementNS(SVGNS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}
function svgText(parent, x, y, text, attrs) {
  const t = svgEl('text', Object.assign({ x, y }, attrs || {}), parent);
  t.textContent = text;
  return t;
}
function fmtSeconds(s) {
  if (s == null) return '—';
  if (s < 1e-3) return (s * 1e6).toFixed(0) + ' µs';
  if (s < 1) return (s * 1e3).toFixed(2) + ' ms';
  return s.toFixed(2) + ' s';
}

// steps: [{step, loss, seconds, itemsPerSecond}] → <svg id="loss-chart">
function lossChart(steps, width = 640, height = 260) {
  const svg = svgEl('svg', { id: 'loss-chart', width, height, viewBox: `0 0 ${width} ${height}`, 'data-points': steps.length });
  const m = { l: 56, r: 16, t: 16, b: 34 };
  if (steps.length === 0) { svgText(svg, 20, 30, 'no steps yet'); return svg; }
  const losses = steps.map(s => s.loss);
  let lo = Math.min(...losses), hi = Math.max(...losses);
  if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
  const maxStep = Math.max(...steps.map(s => s.step), 2);
  const x = s => m.l + (s - 1) / Math.max(1, maxStep - 1) * (width - m.l - m.r);
  const y = v => m.t + (hi - v) / (hi - lo) * (height - m.t - m.b);
  svgEl('line', { x1: m.l, y1: height - m.b, x2: width - m.r, y2: height - m.b, stroke: '#999' }, svg);
  svgEl('line', { x1: m.l, y1: m.t, x2: m.l, y2: height - m.b, stroke: '#999' }, svg);
  for (let i = 0; i <= 4; i++) {
    const v = lo + (hi - lo) * i / 4;
    svgText(svg, m.l - 6, y(v) + 4, v.toFixed(3), { 'text-anchor': 'end' });
  }
  svgText(svg, m.l, height - 12, 'step 1');
  svgText(svg, width - m.r, height - 12, `step ${maxStep}`, { 'text-anchor': 'end' });
  svgEl('polyline', { points: steps.map(s => `${x(s.step).toFixed(1)},${y(s.loss).toFixed(1)}`).join(' '), fill: 'none', stroke: '#2f6fdb', 'stroke-width': 2 }, svg);
  for (const s of steps) {
    const c = svgEl('circle', { class: 'loss-point', cx: x(s.step).toFixed(1), cy: y(s.loss).toFixed(1), r: 2.5, fill: '#2f6fdb', 'data-step': s.step, 'data-loss': s.loss }, svg);
    svgEl('title', {}, c).textContent = `step ${s.step}: loss ${s.loss.toFixed(4)}`;
  }
  return svg;
}

// events: [{device, worker, stage, kind, microbatch, startSeconds, endSeconds}] → <svg id="timeline">
function timelineChart(events, width = 1000) {
  const devices = [...new Set(events.map(e => e.device))];
  // the label column fits the longest device name (jobs across silos name devices SILO/cpu:N)
  const row = 28, m = { l: Math.max(90, 16 + 7 * Math.max(0, ...devices.map(d => d.length))), r: 16, t: 10, b: 30 };
  const height = m.t + m.b + Math.max(1, devices.length) * row;
  const svg = svgEl('svg', { id: 'timeline', width, height, viewBox: `0 0 ${width} ${height}`, 'data-events': events.length });
  if (events.length === 0) { svgText(svg, 20, 30, 'no measured step yet'); return svg; }
  const end = Math.max(...events.map(e => e.endSeconds));
  const x = t => m.l + t / end * (width - m.l - m.r);
  devices.forEach((d, i) => svgText(svg, 8, m.t + i * row + row / 2 + 4, d));
  for (const e of events) {
    const i = devices.indexOf(e.device);
    const r = svgEl('rect', {
      class: 'timeline-event', x: x(e.startSeconds).toFixed(2), y: m.t + i * row + 3, height: row - 6,
      width: Math.max(0.5, x(e.endSeconds) - x(e.startSeconds)).toFixed(2), fill: KIND_COLORS[e.kind] || '#888',
      'data-device': e.device, 'data-kind': e.kind, 'data-stage': e.stage, 'data-microbatch': e.microbatch,
      'data-start': e.startSeconds, 'data-end': e.endSeconds,
    }, svg);
    svgEl('title', {}, r).textContent = `${e.device} stage ${e.stage} mb ${e.microbatch} ${e.kind}: ${fmtSeconds(e.startSeconds)} → ${fmtSeconds(e.endSeconds)} (${fmtSeconds(e.endSeconds - e.startSeconds)})`;
    if (x(e.endSeconds) - x(e.startSeconds) > 44 && (e.kind === 'forward' || e.kind === 'backward'))
      svgText(svg, x(e.startSeconds) + 4, m.t + i * row + row / 2 + 4, `${e.kind[0].toUpperCase()} mb${e.microbatch}`, { fill: '#fff', 'pointer-events': 'none' });
  }
  for (let i = 0; i <= 5; i++) {
    const t = end * i / 5;
    svgEl('line', { x1: x(t), x2: x(t), y1: height - m.b, y2: height - m.b + 4, stroke: '#999' }, svg);
    svgText(svg, x(t), height - 10, fmtSeconds(t), { 'text-anchor': i === 0 ? 'start' : i === 5 ? 'end' : 'middle' });
  }
  return svg;
}

// plan: JobPlan → <svg id="plan-view">: one box per stage holding its submesh box, a cell per device.
function planChart(plan, width = 1000) {
  const stageW = Math.min(560, (width - 20) / Math.max(1, plan.stages.length));
  const perRow = 4, cellW = (stageW - 52) / perRow;
  const maxDevices = Math.max(...plan.stages.map(s => s.devices.length));
  const rows = Math.ceil(maxDevices / perRow);
  const height = 150 + rows * 44;
  const svg = svgEl('svg', { id: 'plan-view', width, height, viewBox: `0 0 ${width} ${height}` });
  plan.stages.forEach((s, k) => {
    const x0 = 10 + k * stageW;
    const g = svgEl('g', { class: 'plan-stage', 'data-stage': s.index }, svg);
    svgEl('rect', { x: x0, y: 8, width: stageW - 12, height: height - 16, rx: 6, fill: '#eef3fd', stroke: '#2f6fdb' }, g);
    svgText(g, x0 + 10, 28, `stage ${s.index}: layers ${s.layers[0]}–${s.layers[1]}`, { 'font-weight': 600 });
    svgText(g, x0 + 10, 46, `predicted ${fmtSeconds(s.predictedSeconds)} · measured ${fmtSeconds(s.measuredSeconds)} per step`, { class: 'stage-times' });
    svgEl('rect', { class: 'plan-submesh', x: x0 + 14, y: 58, width: stageW - 40, height: height - 82, rx: 5, fill: '#fff', stroke: '#6b7385', 'stroke-dasharray': '4 3' }, g);
    svgText(g, x0 + 24, 76, `submesh ${s.submesh[0]}×${s.submesh[1]} on ${s.worker}`);
    svgText(g, x0 + 24, 92, `logical mesh (${s.logicalMesh.join(', ')})`, { fill: '#6b7385' });
    s.devices.forEach((d, i) => {
      const cx = x0 + 24 + (i % perRow) * cellW, cy = 104 + Math.floor(i / perRow) * 44;
      svgEl('rect', { class: 'plan-device', x: cx, y: cy, width: cellW - 8, height: 34, rx: 4, fill: '#f3f5f8', stroke: '#6b7385', 'data-device': d }, g);
      svgText(g, cx + 8, cy + 21, d);
    });
  });
  return svg;
}

// Predicted vs measured seconds per stage, as paired bars → <svg id="stage-times">.
function stageTimesChart(stages, width = 640) {
  const row = 34, height = 30 + stages.length * row;
  const svg = svgEl('svg', { id: 'stage-times', width, height, viewBox: `0 0 ${width} ${height}` });
  const max = Math.max(1e-9, ...stages.flatMap(s => [s.predictedSeconds || 0, s.measuredSeconds || 0]));
  const x = v => (v || 0) / max * (width - 200);
  stages.forEach((s, i) => {
    const y = 10 + i * row;
    svgText(svg, 6, y + 16, `stage ${s.index}`);
    svgEl('rect', { x: 70, y, width: x(s.predictedSeconds), height: 12, fill: '#9bb8ef', 'data-predicted': s.predictedSeconds ?? '' }, svg);
    svgEl('rect', { x: 70, y: y + 14, width: x(s.measuredSeconds), height: 12, fill: '#2f6fdb', 'data-measured': s.measuredSeconds ?? '' }, svg);
    svgText(svg, 76 + x(s.predictedSeconds), y + 10, `predicted ${fmtSeconds(s.predictedSeconds)}`);
    svgText(svg, 76 + x(s.measuredSeconds), y + 24, `measured ${fmtSeconds(s.measuredSeconds)}`);
  });
  return svg;
}
