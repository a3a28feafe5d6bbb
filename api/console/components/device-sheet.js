// Per-device panel: health summary and telemetry charts for 24 h or 7 days.
import { closesOn, h, replace } from '../dom.js';
import { t, label } from '../i18n.js';
import { api } from '../api.js';
import { lineChart } from '../chart.js';
import { relTimeEl, absTime, formatLocation, isoAgo } from '../fmt.js';
import { deviceCommands } from './commands.js';
import { liveViewLink } from '../liveview.js';

// step keeps a chart around 300 points whatever the range.
const RANGES = { '24h': { ms: 86400000, step: 300 }, '7d': { ms: 7 * 86400000, step: 1800 } };

function metricsFor(device) {
  const out = [];
  if (device.kind === 'fence') out.push('voltage_kv');
  if (device.kind === 'elder_button' || (device.battery !== null && device.battery !== undefined)) out.push('battery');
  return out;
}

// `extra(device)`: more sections for the view that opens the sheet (maintenance: availability).
export function openDeviceSheet(host, device, { onClose, extra } = {}) {
  let range = '24h';
  let current = device;
  const body = h('div', { class: 'sheet-body' });
  const close = h('button', { type: 'button', class: 'btn ghost', testid: 'device-close', 'aria-label': t('common.close') }, '✕');
  const title = h('h2', {});
  const info = h('div', {});
  const rangeBar = h('div', { class: 'seg' }, Object.keys(RANGES).map((r) => {
    const b = h('button', { type: 'button', class: 'btn small', testid: `range-${r}`, 'aria-pressed': String(r === range) }, t(`chart.range_${r}`));
    b.addEventListener('click', () => {
      range = r;
      rangeBar.querySelectorAll('button').forEach((x) => x.setAttribute('aria-pressed', String(x === b)));
      loadCharts();
    });
    return b;
  }));
  const charts = h('div', { class: 'charts', testid: 'device-charts' });
  replace(body, info, deviceCommands(device), extra ? extra(device) : null,
    h('div', { class: 'section-head' }, h('h3', {}, t('chart.telemetry')), rangeBar), charts);
  const panel = h('div', { class: 'sheet-panel', role: 'dialog', 'aria-modal': 'true', testid: 'device-sheet' },
    h('div', { class: 'sheet-head' }, title, close), body);
  const sheet = h('div', { class: 'sheet' }, panel);
  host.append(sheet);

  function done() {
    sheet.remove();
    stopListening();
    if (onClose) onClose();
  }
  const stopListening = closesOn(sheet, close, done);

  function renderInfo() {
    const d = current;
    sheet.dataset.deviceId = d.id;
    title.textContent = d.name || d.id;
    replace(info, h('dl', { class: 'kv' },
      kv(t('device.id'), d.id),
      kv(t('device.kind'), label('kind', d.kind)),
      kv(t('device.site'), d.site),
      kv(t('device.grid'), d.grid),
      kv(t('device.zone'), d.zone),
      kv(t('device.where'), formatLocation(d.location)),
      kv(t('device.state'), label('online', onlineKey(d))),
      kv(t('device.online_changed'), d.online_changed_at ? absTime(d.online_changed_at) : null),
      [h('dt', {}, t('device.last_seen')), h('dd', {}, relTimeEl(d.last_seen))],
      kv(t('device.battery'), d.battery === null || d.battery === undefined ? null : `${Math.round(d.battery)}%`),
      kv(t('device.tamper'), d.tamper ? t('common.yes') : t('common.no')),
      kv(t('device.fault'), d.fault)), liveView(d));
  }

  async function loadCharts() {
    const metrics = metricsFor(current);
    if (!metrics.length) {
      replace(charts, h('div', { class: 'chart-empty' }, t('chart.no_metrics')));
      return;
    }
    replace(charts, h('div', { class: 'muted' }, t('common.loading')));
    const { ms, step } = RANGES[range];
    const until = new Date().toISOString();
    const since = isoAgo(ms);
    const blocks = await Promise.all(metrics.map(async (metric) => {
      try {
        const data = await api(`/devices/${encodeURIComponent(current.id)}/readings`, { query: { metric, since, until, step }, quiet: true });
        const points = Array.isArray(data && data.points) ? data.points : [];
        return h('div', { class: 'chart-block', 'data-metric': metric },
          h('h4', {}, t(`metric.${metric}`)),
          lineChart({
            series: toSeries(points, metric === 'voltage_kv'),
            from: Date.parse(since),
            to: Date.parse(until),
            unit: metric === 'battery' ? '%' : 'kV',
            yMin: metric === 'battery' ? 0 : undefined,
            yMax: metric === 'battery' ? 100 : undefined,
            width: charts.clientWidth || 640,
            height: charts.clientWidth < 500 ? 180 : 220,
            testid: `chart-${metric}`,
          }));
      } catch (err) {
        return h('div', { class: 'error-box' }, `${t(`metric.${metric}`)}: ${err.message}`);
      }
    }));
    replace(charts, blocks);
  }

  renderInfo();
  loadCharts();
  return {
    update(next) {
      if (next && next.id === current.id) {
        current = next;
        renderInfo();
      }
    },
    close: done,
    get id() {
      return current.id;
    },
  };
}

// Fence readings carry a zone per point: one line per zone.
function toSeries(points, byZone) {
  const groups = new Map();
  for (const p of points) {
    const tms = Date.parse(p.ts);
    const v = Number(p.value);
    if (Number.isNaN(tms) || !Number.isFinite(v)) continue;
    const key = byZone ? (p.zone ?? '—') : '';
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push({ t: tms, v });
  }
  return [...groups.entries()]
    .sort(([a], [b]) => String(a).localeCompare(String(b)))
    .map(([name, pts]) => ({ name: byZone ? t('loc.zone_fmt', { v: name }) : '', points: pts.sort((a, b) => a.t - b.t) }));
}

// Video patrol: the camera's live view, when its attributes carry one (liveview.js checks the address).
function liveView(d) {
  return liveViewLink(d && d.attributes ? d.attributes.live_url : null);
}

export function onlineKey(d) {
  if (d.online === true) return 'online';
  if (d.online === false) return 'offline';
  return 'unknown';
}

function kv(k, v) {
  return [h('dt', {}, k), h('dd', {}, v === null || v === undefined || v === '' ? '—' : String(v))];
}
