// Hand-written SVG line charts (no libraries: the console must work offline
// and under a strict CSP). Series colours come from CSS classes.
import { h } from './dom.js';
import { t, getLang } from './i18n.js';

const PAD = { left: 44, right: 12, top: 12, bottom: 26 };

// 1, 2 or 5 times a power of ten, giving about `count` ticks.
export function niceTicks(min, max, count = 5) {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) {
    const d = Math.abs(min) * 0.1 || 1;
    min -= d;
    max += d;
  }
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => raw <= s) || raw;
  const ticks = [];
  for (let v = Math.floor(min / step) * step; v <= max + step * 0.5; v += step) {
    ticks.push(Number(v.toFixed(10)));
    if (ticks.length > 20) break;
  }
  return ticks;
}

function timeLabel(ms, spanMs) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  if (spanMs <= 2 * 86400000) return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return getLang() === 'zh' ? `${d.getMonth() + 1}/${d.getDate()}` : `${pad(d.getDate())}/${pad(d.getMonth() + 1)}`;
}

// Split a series where readings stop (device offline) instead of drawing a
// misleading straight line across the gap.
function segments(points) {
  if (points.length < 2) return [points];
  const gaps = points.slice(1).map((p, i) => p.t - points[i].t).sort((a, b) => a - b);
  const typical = gaps[Math.floor(gaps.length / 2)] || 1;
  const out = [[points[0]]];
  for (let i = 1; i < points.length; i += 1) {
    if (points[i].t - points[i - 1].t > typical * 4) out.push([]);
    out[out.length - 1].push(points[i]);
  }
  return out;
}

// width: the pixel width it will be shown at, so labels keep their size on phones.
export function lineChart({ series, from, to, unit = '', width = 640, height = 220, yMin, yMax, testid = 'chart' }) {
  const all = series.flatMap((s) => s.points);
  if (!all.length) return h('div', { class: 'chart-empty', testid: `${testid}-empty` }, t('chart.empty'));
  const H = height;
  const W = Math.max(280, Math.round(width));
  const x0 = from ?? Math.min(...all.map((p) => p.t));
  const x1 = to ?? Math.max(...all.map((p) => p.t));
  const values = all.map((p) => p.v);
  const ticks = niceTicks(yMin ?? Math.min(...values), yMax ?? Math.max(...values));
  const y0 = ticks[0];
  const y1 = ticks[ticks.length - 1];
  const sx = (v) => PAD.left + ((v - x0) / (x1 - x0 || 1)) * (W - PAD.left - PAD.right);
  const sy = (v) => H - PAD.bottom - ((v - y0) / (y1 - y0 || 1)) * (H - PAD.top - PAD.bottom);

  const svg = h('svg:svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': unit, testid });
  for (const v of ticks) {
    svg.append(h('svg:line', { class: 'grid-line', x1: PAD.left, x2: W - PAD.right, y1: sy(v), y2: sy(v) }));
    svg.append(h('svg:text', { class: 'tick', x: PAD.left - 6, y: sy(v) + 4, 'text-anchor': 'end' }, formatValue(v)));
  }
  const span = x1 - x0;
  for (let i = 0; i <= 4; i += 1) {
    if (W < 420 && i % 2) continue; // fewer time labels on narrow screens
    const tx = x0 + (span * i) / 4;
    svg.append(h('svg:text', { class: 'tick', x: sx(tx), y: H - 8, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle' }, timeLabel(tx, span)));
  }
  if (unit) svg.append(h('svg:text', { class: 'tick unit', x: PAD.left + 4, y: PAD.top + 4 }, unit));

  series.forEach((s, i) => {
    for (const seg of segments(s.points)) {
      if (seg.length === 1) {
        svg.append(h('svg:circle', { class: `series s${i % 6}`, cx: sx(seg[0].t), cy: sy(seg[0].v), r: 2.5 }));
      } else {
        const d = seg.map((p, j) => `${j ? 'L' : 'M'}${sx(p.t).toFixed(1)},${sy(p.v).toFixed(1)}`).join('');
        svg.append(h('svg:path', { class: `series s${i % 6}`, d }));
      }
    }
  });

  // Crosshair with the nearest readings: a phone has no hover, so it follows touch too.
  const cursor = h('svg:line', { class: 'cursor', y1: PAD.top, y2: H - PAD.bottom, visibility: 'hidden' });
  const readout = h('svg:text', { class: 'readout', y: PAD.top + 4, visibility: 'hidden' });
  svg.append(cursor, readout);
  svg.addEventListener('pointermove', (ev) => {
    const box = svg.getBoundingClientRect();
    const px = ((ev.clientX - box.left) / box.width) * W;
    if (px < PAD.left || px > W - PAD.right) return;
    const tx = x0 + ((px - PAD.left) / (W - PAD.left - PAD.right)) * span;
    const parts = series.map((s) => {
      let best = null;
      for (const p of s.points) if (!best || Math.abs(p.t - tx) < Math.abs(best.t - tx)) best = p;
      return best ? `${series.length > 1 ? `${s.name} ` : ''}${formatValue(best.v)}` : null;
    }).filter(Boolean);
    cursor.setAttribute('x1', px);
    cursor.setAttribute('x2', px);
    cursor.setAttribute('visibility', 'visible');
    readout.textContent = `${timeLabel(tx, 0)} ${parts.join(' · ')} ${unit}`;
    readout.setAttribute('x', px > W / 2 ? px - 6 : px + 6);
    readout.setAttribute('text-anchor', px > W / 2 ? 'end' : 'start');
    readout.setAttribute('visibility', 'visible');
  });
  svg.addEventListener('pointerleave', () => {
    cursor.setAttribute('visibility', 'hidden');
    readout.setAttribute('visibility', 'hidden');
  });

  const legend = series.length > 1
    ? h('div', { class: 'legend' }, series.map((s, i) => h('span', { class: 'legend-item' }, h('span', { class: `swatch s${i % 6}` }), s.name)))
    : null;
  return h('div', { class: 'chart-box' }, svg, legend);
}

function formatValue(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(a >= 10 ? 1 : 2);
}

// Roughly how wide a label is at `size` px: CJK characters a full em, the rest about half.
function textWidth(text, size) {
  let w = 0;
  for (const ch of String(text)) w += /[\u2e80-\uffff]/.test(ch) ? size : size * 0.58;
  return w;
}

function clip(text, maxWidth, size) {
  const s = String(text);
  if (textWidth(s, size) <= maxWidth) return s;
  let out = '';
  for (const ch of s) {
    if (textWidth(`${out}${ch}…`, size) > maxWidth) break;
    out += ch;
  }
  return `${out}…`;
}

// Vertical bars, one per label (alerts raised per day). `labels` and `values` line up; a bar's
// title (shown on hover) says its label and value; on a narrow chart only every n-th label is written.
export function barChart({ labels, values, width = 640, height = 200, testid = 'chart', title = (l, v) => `${l}: ${v}` }) {
  if (!values.length) return h('div', { class: 'chart-empty', testid: `${testid}-empty` }, t('chart.empty'));
  const W = Math.max(280, Math.round(width));
  const H = height;
  const pad = { left: 34, right: 8, top: 10, bottom: 24 };
  const top = Math.max(...values, 0);
  const ticks = niceTicks(0, Math.max(top, 1), 4).filter((v) => v >= 0 && Number.isInteger(v));
  const y1 = ticks[ticks.length - 1] || 1;
  const plotW = W - pad.left - pad.right;
  const slot = plotW / values.length;
  const barW = Math.max(1, Math.min(28, slot * 0.72));
  const sy = (v) => H - pad.bottom - (v / y1) * (H - pad.top - pad.bottom);
  const svg = h('svg:svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart bars', role: 'img', 'aria-label': testid, testid });
  for (const v of ticks) {
    svg.append(h('svg:line', { class: 'grid-line', x1: pad.left, x2: W - pad.right, y1: sy(v), y2: sy(v) }));
    svg.append(h('svg:text', { class: 'tick', x: pad.left - 6, y: sy(v) + 4, 'text-anchor': 'end' }, String(v)));
  }
  const every = Math.max(1, Math.ceil(values.length / Math.max(1, Math.floor(plotW / 34))));
  values.forEach((v, i) => {
    const cx = pad.left + slot * (i + 0.5);
    if (v > 0) {
      svg.append(h('svg:rect', { class: 'bar', x: (cx - barW / 2).toFixed(1), y: sy(v).toFixed(1), width: barW.toFixed(1),
        height: (sy(0) - sy(v)).toFixed(1), rx: Math.min(3, barW / 3), 'data-label': labels[i], 'data-value': String(v) },
      h('svg:title', {}, title(labels[i], v))));
    }
    if (i % every === 0) svg.append(h('svg:text', { class: 'tick', x: cx, y: H - 8, 'text-anchor': 'middle' }, labels[i]));
  });
  return h('div', { class: 'chart-box' }, svg);
}

// Horizontal bars, one row per item: `{label, value, text, cls, key}`; `max` is the full length (100 for
// shares). A row without a value (nothing counted) shows its text and no bar.
export function hBarChart({ rows, max, width = 640, testid = 'chart', rowHeight = 26 }) {
  if (!rows.length) return h('div', { class: 'chart-empty', testid: `${testid}-empty` }, t('chart.empty'));
  const W = Math.max(280, Math.round(width));
  const size = 12;
  const longest = Math.max(...rows.map((r) => textWidth(r.label, size)));
  const labelW = Math.min(Math.round(W * 0.38), Math.ceil(longest) + 10);
  const valueW = Math.min(Math.round(W * 0.3), Math.ceil(Math.max(...rows.map((r) => textWidth(r.text ?? '', size)))) + 10);
  const plotX = labelW + 4;
  const plotW = Math.max(40, W - plotX - valueW - 4);
  const full = max ?? Math.max(1, ...rows.map((r) => (typeof r.value === 'number' ? r.value : 0)));
  const H = rows.length * rowHeight + 4;
  const svg = h('svg:svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart hbars', role: 'img', 'aria-label': testid, testid });
  rows.forEach((r, i) => {
    const y = 2 + i * rowHeight;
    const mid = y + rowHeight / 2;
    const g = h('svg:g', { class: 'hbar-row', 'data-key': r.key ?? r.label, 'data-value': r.value === null || r.value === undefined ? '' : String(r.value) },
      h('svg:title', {}, `${r.label}: ${r.text ?? r.value ?? '—'}`));
    g.append(h('svg:text', { class: 'tick label', x: labelW, y: mid + 4, 'text-anchor': 'end' }, clip(r.label, labelW - 4, size)));
    g.append(h('svg:rect', { class: 'track', x: plotX, y: mid - 7, width: plotW, height: 14, rx: 3 }));
    const len = typeof r.value === 'number' && full > 0 ? Math.max(0, Math.min(1, r.value / full)) * plotW : 0;
    if (len > 0) g.append(h('svg:rect', { class: ['bar', r.cls], x: plotX, y: mid - 7, width: Math.max(2, len).toFixed(1), height: 14, rx: 3 }));
    g.append(h('svg:text', { class: 'tick value', x: plotX + plotW + 6, y: mid + 4 }, r.text ?? (typeof r.value === 'number' ? formatValue(r.value) : '—')));
    svg.append(g);
  });
  return h('div', { class: 'chart-box' }, svg);
}
