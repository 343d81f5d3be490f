// Hand-written SVG charts: a multi-series line chart over time buckets and
// a horizontal bar chart. They scale to their container (viewBox).

import { h, s } from './dom.js';

// Drawn at the container's width (one SVG unit = one pixel), so text
// stays legible on a phone.
const W0 = 640;
const H = 220;
const PAD = { top: 12, right: 12, bottom: 28, left: 44 };

function niceMax(v) {
  if (v <= 0) return 1;
  const mag = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= v) return m * mag;
  return 10 * mag;
}

/** A top of the y axis whose quarters are round (whole numbers for counts). */
function niceTop(v, whole) {
  const raw = Math.max(v, whole ? 4 : 1e-9) / 4;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  let step = [1, 2, 5, 10].map((m) => m * mag).find((m) => m >= raw);
  if (whole) step = Math.max(1, Math.ceil(step));
  return step * 4;
}

function hhmm(d) {
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/**
 * series: [{ name, cls, values: [number|null] }], times: [Date] (bucket starts).
 * opts: { max, format(v) for the y axis, title }
 */
export function lineChart(series, times, opts = {}) {
  const W = opts.width || W0;
  const n = times.length;
  const all = series.flatMap((x) => x.values).filter((v) => v !== null && v !== undefined);
  const max = opts.max ?? niceTop(Math.max(0, ...all), opts.whole);
  const fmt = opts.format || ((v) => String(Math.round(v * 100) / 100));
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (n <= 1 ? iw / 2 : (i * iw) / (n - 1));
  const y = (v) => PAD.top + ih - (v / max) * ih;

  const grid = [];
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    grid.push(s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid' }));
    grid.push(s('text', { x: PAD.left - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, fmt(v)));
  }
  const labels = [];
  const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(W / 90))));
  for (let i = 0; i < n; i += every) {
    labels.push(s('text', { x: x(i), y: H - 8, class: 'tick', 'text-anchor': 'middle' }, hhmm(times[i])));
  }

  const lines = series.map((ser) => {
    // Gaps (null) split the line.
    let d = '';
    let pen = false;
    ser.values.forEach((v, i) => {
      if (v === null || v === undefined) {
        pen = false;
        return;
      }
      d += (pen ? 'L' : 'M') + x(i).toFixed(1) + ',' + y(v).toFixed(1);
      pen = true;
    });
    const dots = ser.values
      .map((v, i) =>
        v ? s('circle', { cx: x(i), cy: y(v), r: 2.5, class: 'dot ' + ser.cls }, s('title', {}, `${ser.name} ${hhmm(times[i])}: ${fmt(v)}`)) : null,
      )
      .filter(Boolean);
    return s('g', {}, s('path', { d, class: 'line ' + ser.cls }), dots);
  });

  const svg = s(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': opts.title || 'chart' },
    grid,
    labels,
    lines,
  );
  return h('figure.chart-box', opts.title ? h('figcaption', opts.title) : null, svg, legend(series));
}

function legend(series) {
  return h(
    'div.legend',
    series.map((x) => h('span', h('i.swatch', { class: x.cls }), x.name)),
  );
}

/** rows: [{ label, value }], horizontal bars with the value written out. */
export function barChart(rows, opts = {}) {
  const W = opts.width || W0;
  const fmt = opts.format || String;
  const max = niceMax(Math.max(0, ...rows.map((r) => r.value)));
  const rowH = 30;
  const height = rows.length * rowH + 8;
  const left = 56;
  const right = 64;
  const iw = W - left - right;
  const bars = rows.map((r, i) => {
    const y = 4 + i * rowH;
    const w = Math.max(1, (r.value / max) * iw);
    return s(
      'g',
      {},
      s('text', { x: left - 8, y: y + 19, class: 'tick', 'text-anchor': 'end' }, r.label),
      s('rect', { x: left, y: y + 4, width: w, height: rowH - 10, rx: 3, class: 'bar ' + (r.cls || '') }),
      s('text', { x: left + w + 6, y: y + 19, class: 'value' }, fmt(r.value)),
    );
  });
  const svg = s('svg', { viewBox: `0 0 ${W} ${height}`, class: 'chart', role: 'img', 'aria-label': opts.title || 'chart' }, bars);
  return h('figure.chart-box', opts.title ? h('figcaption', opts.title) : null, svg);
}
