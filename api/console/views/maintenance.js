// Maintenance: device health at a glance, per-device telemetry, and the
// maintenance-audience alerts.
import { h, replace } from '../dom.js';
import { t, label } from '../i18n.js';
import { api, asList } from '../api.js';
import { putDevices } from '../store.js';
import { relTimeEl, absTime, isoAgo } from '../fmt.js';
import { mountAlertList } from '../components/alert-list.js';
import { openDeviceSheet, onlineKey } from '../components/device-sheet.js';

const REFRESH_MS = 10000;
const LOW_KV = 5; // a pulse fence well under its 8-10 kV is cut, shorted or unpowered
// data-online mirrors the API's online field: true / false / null → unknown.
const ONLINE_ATTR = { online: 'true', offline: 'false', unknown: 'unknown' };
const LOW_BATTERY = 20;
const AVAIL_MS = 7 * 86400000;
const AVAIL_REFRESH_MS = 60000;

const pct = (v) => (typeof v === 'number' ? `${v.toFixed(v >= 99.95 || v === 0 ? 0 : 2)}%` : '—');

function duration(seconds) {
  const s = Math.round(seconds);
  if (s < 90) return `${s}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  return `${(s / 3600).toFixed(1)}h`;
}

// One device's availability, for its sheet: uptime and the latest outages.
function deviceAvailability(device) {
  const box = h('div', { class: 'availability', testid: 'device-availability' }, h('div', { class: 'muted' }, t('common.loading')));
  const since = isoAgo(AVAIL_MS);
  api(`/devices/${encodeURIComponent(device.id)}/availability`, { query: { since }, quiet: true }).then((data) => {
    const outages = Array.isArray(data && data.outages) ? data.outages : [];
    replace(box,
      h('h3', {}, t('avail.title')),
      h('div', { testid: 'device-uptime', 'data-uptime': data && data.uptime_pct !== null ? String(data.uptime_pct) : '' },
        t('avail.summary', { pct: pct(data && data.uptime_pct), n: outages.length })),
      outages.length ? h('ul', { class: 'outages' }, outages.slice(-5).reverse().map((o) => h('li', { testid: 'device-outage' },
        `${absTime(o.start)} · ${duration(o.seconds)}${o.end ? '' : ` (${t('avail.ongoing')})`}`))) : null);
  }).catch((err) => replace(box, h('div', { class: 'error-box' }, err.message)));
  return box;
}

const FLAGS = {
  online: (d) => onlineKey(d) === 'online',
  offline: (d) => onlineKey(d) === 'offline',
  unknown: (d) => onlineKey(d) === 'unknown',
  low_battery: (d) => typeof d.battery === 'number' && d.battery < LOW_BATTERY,
  tamper: (d) => !!d.tamper,
  fault: (d) => !!d.fault,
};

export function mount(root, { stream, focusAlert }) {
  let devices = [];
  const filter = { kind: '', grid: '', flag: '', q: '' };
  let sheet = null;
  let loadedAt = null;
  let stopped = false;

  const counters = h('div', { class: 'counters', testid: 'device-counters' });
  const kindSel = h('select', { testid: 'filter-kind', 'aria-label': t('device.kind') });
  const gridSel = h('select', { testid: 'filter-grid', 'aria-label': t('device.grid') });
  const stateSel = h('select', { testid: 'filter-state', 'aria-label': t('device.state') });
  const search = h('input', { type: 'search', testid: 'filter-q', placeholder: t('device.search'), 'aria-label': t('device.search') });
  const updated = h('span', { class: 'muted small', testid: 'devices-updated' });
  const tbody = h('tbody', {});
  const table = h('table', { class: 'table device-table', testid: 'device-table' },
    h('thead', {}, h('tr', {},
      h('th', {}, t('device.device')), h('th', {}, t('device.last_seen')),
      h('th', {}, t('device.battery')), h('th', {}, t('device.flags')))),
    tbody);
  const alertsBox = h('section', { class: 'panel' });
  const availBody = h('tbody', {});
  const availBox = h('section', { class: 'panel', testid: 'availability-panel' },
    h('h2', {}, t('avail.title')),
    h('table', { class: 'table', testid: 'availability-table' },
      h('thead', {}, h('tr', {}, h('th', {}, t('avail.kind')), h('th', {}, t('avail.devices')),
        h('th', {}, t('avail.uptime')), h('th', {}, t('avail.outages')))),
      availBody));

  replace(root,
    h('div', { class: 'view-head' }, h('h1', {}, t('nav.maintenance')), updated),
    counters,
    h('div', { class: 'split' },
      h('section', { class: 'panel' },
        h('div', { class: 'filters' }, kindSel, gridSel, stateSel, search),
        h('div', { class: 'table-wrap' }, table)),
      alertsBox),
    availBox);

  kindSel.addEventListener('change', () => { filter.kind = kindSel.value; renderTable(); });
  gridSel.addEventListener('change', () => { filter.grid = gridSel.value; renderTable(); });
  stateSel.addEventListener('change', () => { filter.flag = stateSel.value; render(); });
  search.addEventListener('input', () => { filter.q = search.value.trim().toLowerCase(); renderTable(); });

  function options(sel, values, allLabel, labelFn) {
    const current = sel.value;
    replace(sel, h('option', { value: '' }, allLabel), values.map((v) => h('option', { value: v }, labelFn(v))));
    sel.value = values.includes(current) ? current : '';
  }

  function render() {
    const count = (f) => devices.filter(FLAGS[f]).length;
    replace(counters, Object.keys(FLAGS).map((f) => {
      const n = count(f);
      const b = h('button', {
        type: 'button',
        class: ['counter', `counter-${f}`, n && f !== 'online' ? 'hot' : '', filter.flag === f ? 'active' : ''],
        testid: `counter-${f}`,
        'data-count': n,
        'aria-pressed': String(filter.flag === f),
      }, h('span', { class: 'counter-n' }, String(n)), h('span', { class: 'counter-label' }, t(`health.${f}`)));
      b.addEventListener('click', () => {
        filter.flag = filter.flag === f ? '' : f;
        stateSel.value = filter.flag;
        render();
      });
      return b;
    }));
    const uniq = (key) => [...new Set(devices.map((d) => d[key]).filter(Boolean))].sort();
    options(kindSel, uniq('kind'), t('device.all_kinds'), (k) => label('kind', k));
    options(gridSel, uniq('grid'), t('device.all_grids'), (g) => g);
    if (!stateSel.options.length) {
      options(stateSel, Object.keys(FLAGS), t('device.all_states'), (f) => t(`health.${f}`));
    }
    stateSel.value = filter.flag;
    renderTable();
  }

  function renderTable() {
    const shown = devices.filter((d) => (!filter.kind || d.kind === filter.kind)
      && (!filter.grid || d.grid === filter.grid)
      && (!filter.flag || FLAGS[filter.flag](d))
      && (!filter.q || [d.id, d.name, d.zone, JSON.stringify(d.location || '')].join(' ').toLowerCase().includes(filter.q)));
    replace(tbody, shown.length ? shown.map(row) : h('tr', {}, h('td', { colspan: '4', class: 'empty', testid: 'device-empty' }, loadedAt ? t('device.empty') : t('common.loading'))));
  }

  // A fence's latest voltage per zone (`voltage_kv:E1` in the device's readings): a dead zone shows at a glance.
  function voltages(d) {
    const zones = Object.entries(d.readings || {}).filter(([k]) => k.startsWith('voltage_kv:'));
    if (!zones.length) return null;
    return h('div', { class: 'small', testid: 'device-voltages' },
      zones.map(([k, v]) => h('span', { class: ['badge', v < LOW_KV ? 'bad' : ''], 'data-zone': k.slice(11) },
        `${k.slice(11)} ${Number(v).toFixed(1)}kV`)));
  }

  function row(d) {
    const state = onlineKey(d);
    const battery = typeof d.battery === 'number'
      ? h('div', { class: ['battery', d.battery < LOW_BATTERY ? 'low' : ''], title: `${Math.round(d.battery)}%` },
        h('div', { class: 'battery-fill' }), h('span', { class: 'battery-n' }, `${Math.round(d.battery)}%`))
      : h('span', { class: 'muted' }, '—');
    if (typeof d.battery === 'number') battery.firstChild.style.width = `${Math.max(0, Math.min(100, d.battery))}%`;
    const tr = h('tr', { class: ['device-row', `is-${state}`], testid: 'device-row', 'data-device-id': d.id, 'data-online': ONLINE_ATTR[state], tabindex: '0' },
      h('td', {},
        h('div', { class: 'device-cell' },
          h('span', { class: `dot ${state}`, title: label('online', state), 'aria-label': label('online', state) }),
          h('div', {},
            h('div', { class: 'device-title' }, d.name || d.id),
            h('div', { class: 'muted small' }, [d.id, label('kind', d.kind), d.grid, d.zone].filter(Boolean).join(' · ')),
            voltages(d)))),
      h('td', {}, relTimeEl(d.last_seen)),
      h('td', {}, battery),
      h('td', {}, h('div', { class: 'flags-box' },
        d.tamper ? h('span', { class: 'badge bad', testid: 'flag-tamper' }, t('health.tamper')) : null,
        d.fault ? h('span', { class: 'badge bad', testid: 'flag-fault', title: String(d.fault) }, `${t('health.fault')}: ${d.fault}`) : null)));
    const open = () => {
      if (sheet) sheet.close();
      sheet = openDeviceSheet(root, d, { onClose: () => { sheet = null; }, extra: deviceAvailability });
    };
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') open(); });
    return tr;
  }

  async function load(quiet = false) {
    try {
      const data = asList(await api('/devices', { query: { limit: 500 }, quiet }));
      if (stopped) return;
      devices = data.filter((d) => d && d.id).sort((a, b) => String(a.id).localeCompare(String(b.id)));
      loadedAt = new Date();
      replace(updated, t('device.updated'), ' ', relTimeEl(loadedAt.toISOString()));
      putDevices(devices);
      if (sheet) sheet.update(devices.find((d) => d.id === sheet.id));
      render();
    } catch (err) {
      if (!loadedAt) replace(tbody, h('tr', {}, h('td', { colspan: '4', class: 'error-box' }, err.message)));
      replace(updated, h('span', { class: 'bad-text' }, t('device.stale')));
    }
  }

  async function loadAvailability() {
    try {
      const data = await api('/availability', { query: { since: isoAgo(AVAIL_MS) }, quiet: true });
      if (stopped) return;
      const kinds = Array.isArray(data && data.kinds) ? data.kinds : [];
      replace(availBody, kinds.length ? kinds.map((k) => h('tr', { testid: 'availability-row', 'data-kind': k.kind, 'data-uptime': k.uptime_pct === null ? '' : String(k.uptime_pct) },
        h('td', {}, label('kind', k.kind)), h('td', {}, String(k.devices)), h('td', {}, pct(k.uptime_pct)),
        h('td', {}, String(k.outages))))
        : h('tr', {}, h('td', { colspan: '4', class: 'empty' }, t('avail.none'))));
    } catch (err) {
      replace(availBody, h('tr', {}, h('td', { colspan: '4', class: 'error-box' }, err.message)));
    }
  }

  // An alert about a device usually means its health just changed.
  let soon = null;
  const offChange = stream.on('change', (msg) => {
    if (msg.alert && msg.alert.device_id) {
      clearTimeout(soon);
      soon = setTimeout(() => load(true), 800);
    }
  });
  const timer = setInterval(() => load(true), REFRESH_MS);
  const availTimer = setInterval(loadAvailability, AVAIL_REFRESH_MS);
  const offAlerts = mountAlertList(alertsBox, { stream, audience: 'maintenance', title: t('alerts.maintenance'), focus: focusAlert });
  render();
  load();
  loadAvailability();

  return () => {
    stopped = true;
    clearInterval(timer);
    clearInterval(availTimer);
    clearTimeout(soon);
    offChange();
    offAlerts();
    if (sheet) sheet.close();
  };
}
