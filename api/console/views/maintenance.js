// Maintenance: device health at a glance, per-device telemetry, and the
// maintenance-audience alerts.
import { h, replace } from '../dom.js';
import { t, label } from '../i18n.js';
import { api, asList } from '../api.js';
import { putDevices } from '../store.js';
import { relTimeEl, absTime, isoAgo } from '../fmt.js';
import { mountAlertList } from '../components/alert-list.js';
import { openDeviceSheet, onlineKey } from '../components/device-sheet.js';
import { lineChart } from '../chart.js';

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
  if (s < 172800) return `${(s / 3600).toFixed(1)}h`;
  return `${(s / 86400).toFixed(1)}d`; // a water cut of 7 days
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

// Equipment per building (issue 19): lifts, water and heating from their latest readings, a 24 h chart of a
// device's main metrics on demand (the same line charts as the device sheet), and the outages with the
// households they affected. GET /equipment and /equipment/outages.
const EQUIP_REFRESH_MS = 15000;
const OUTAGE_MS = 30 * 86400000;
const CHART_METRICS = { elevator: ['in_service', 'floor'], water: ['pressure_mpa', 'level_pct'], heating: ['supply_c', 'return_c'] };
const num = (v, digits = 1, unit = '') => (typeof v === 'number' ? `${v.toFixed(digits)}${unit}` : '—');

function equipmentCharts(kind, deviceId) {
  const box = h('div', { class: 'charts equipment-charts', testid: 'equipment-charts' }, h('div', { class: 'muted' }, t('common.loading')));
  const since = isoAgo(86400000);
  const until = new Date().toISOString();
  Promise.all((CHART_METRICS[kind] || []).map(async (metric) => {
    try {
      const data = await api(`/devices/${encodeURIComponent(deviceId)}/readings`, { query: { metric, since, until, step: 300 }, quiet: true });
      const points = (Array.isArray(data && data.points) ? data.points : [])
        .map((p) => ({ t: Date.parse(p.ts), v: Number(p.value) })).filter((p) => !Number.isNaN(p.t) && Number.isFinite(p.v));
      return h('div', { class: 'chart-block', 'data-metric': metric }, h('h4', {}, t(`metric.${metric}`)),
        lineChart({ series: [{ name: '', points }], from: Date.parse(since), to: Date.parse(until), width: box.clientWidth || 560, height: 180, testid: `chart-${metric}` }));
    } catch (err) {
      return h('div', { class: 'error-box' }, `${t(`metric.${metric}`)}: ${err.message}`);
    }
  })).then((blocks) => replace(box, blocks));
  return box;
}

function equipmentLine(kind, d, body) {
  let charts = null;
  const toggle = h('button', { type: 'button', class: 'btn small ghost', testid: 'equipment-chart-toggle' }, t('equip.chart'));
  const li = h('li', { class: ['equipment-device', `is-${onlineKey(d)}`], testid: 'equipment-device', 'data-device-id': d.device_id, 'data-kind': kind },
    h('span', { class: `dot ${onlineKey(d)}`, title: label('online', onlineKey(d)) }),
    h('span', { class: 'equipment-name' }, d.name || d.device_id), ' ', body, ' ', toggle);
  toggle.addEventListener('click', () => {
    if (charts) { charts.remove(); charts = null; return; }
    charts = equipmentCharts(kind, d.device_id);
    li.append(charts);
  });
  return li;
}

function liftBody(d) {
  const state = d.in_service === null ? 'unknown' : d.in_service ? 'in_service' : 'stopped';
  return h('span', { class: 'equipment-values' },
    h('span', { class: ['badge', state === 'stopped' ? 'bad' : state === 'in_service' ? 'ok' : ''], testid: 'lift-state', 'data-state': state }, t(`equip.lift_${state}`)),
    ` ${t('equip.floor')} ${d.floor === null ? '—' : Math.round(d.floor)}`,
    d.running ? ` · ${t('equip.running')}` : '');
}

function waterBody(d) {
  return h('span', { class: 'equipment-values', testid: 'water-values' },
    `${t('equip.pressure')} ${num(d.pressure_mpa, 2, ' MPa')}`, d.level_pct === null ? '' : ` · ${t('equip.level')} ${num(d.level_pct, 0, '%')}`);
}

function heatingBody(d) {
  return h('span', { class: 'equipment-values', testid: 'heating-values' },
    `${t('equip.supply')} ${num(d.supply_c, 1, '°C')} · ${t('equip.return')} ${num(d.return_c, 1, '°C')} · ${t('equip.spread')} ${num(d.spread_c, 1, '°C')}`);
}

function buildingCard(b) {
  const groups = [['elevator', b.lifts, liftBody], ['water', b.water, waterBody], ['heating', b.heating, heatingBody]];
  const alerts = Array.isArray(b.alerts) ? b.alerts : [];
  return h('article', { class: ['equipment-card', alerts.length ? 'has-alerts' : ''], testid: 'equipment-building', 'data-building': b.id },
    h('div', { class: 'equipment-head' }, h('strong', {}, b.name),
      h('span', { class: 'muted small' }, ` ${[b.courtyard, t('affected.households_n', { n: b.households })].filter(Boolean).join(' · ')}`)),
    alerts.length ? h('div', { class: 'equipment-alerts' }, alerts.map((a) => h('span', { class: `badge sev-${a.severity}`, testid: 'equipment-alert', title: a.title }, a.title))) : null,
    groups.map(([kind, list, body]) => (Array.isArray(list) && list.length
      ? h('div', { class: 'equipment-group' }, h('h4', {}, label('kind', kind)), h('ul', {}, list.map((d) => equipmentLine(kind, d, body(d)))))
      : null)));
}

function mountEquipment(box) {
  const cards = h('div', { class: 'equipment-grid', testid: 'equipment-buildings' }, h('div', { class: 'muted' }, t('common.loading')));
  const outBody = h('tbody', {});
  replace(box,
    h('h2', {}, t('equip.title')),
    cards,
    h('h3', {}, t('equip.outages')),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid: 'outages-table' },
      h('thead', {}, h('tr', {}, h('th', {}, t('equip.start')), h('th', {}, t('equip.what')), h('th', {}, t('equip.duration')),
        h('th', {}, t('equip.affected')))),
      outBody)));
  let stopped = false;
  async function load() {
    try {
      const data = await api('/equipment', { quiet: true });
      if (stopped) return;
      const buildings = (Array.isArray(data && data.buildings) ? data.buildings : [])
        .filter((b) => ['lifts', 'water', 'heating'].some((k) => Array.isArray(b[k]) && b[k].length));
      replace(cards, buildings.length ? buildings.map(buildingCard) : h('div', { class: 'empty' }, t('equip.none')));
    } catch (err) {
      replace(cards, h('div', { class: 'error-box' }, err.message));
    }
    try {
      const data = await api('/equipment/outages', { query: { since: isoAgo(OUTAGE_MS) }, quiet: true });
      if (stopped) return;
      const rows = Array.isArray(data && data.outages) ? data.outages : [];
      replace(outBody, rows.length ? rows.map((o) => h('tr', { testid: 'outage-row', 'data-alert-id': String(o.alert_id), 'data-ongoing': String(o.ongoing) },
        h('td', {}, absTime(o.start)),
        h('td', {}, h('div', {}, o.title), h('div', { class: 'muted small' }, o.device_name || o.device_id || '')),
        h('td', {}, o.ongoing ? h('span', { class: 'badge bad' }, `${t('equip.ongoing')} ${duration(o.seconds)}`) : duration(o.seconds)),
        h('td', {}, `${(o.buildings || []).map((b) => b.name || b.id).join('、') || '—'} · ${t('affected.households_n', { n: o.households })}`,
          o.vulnerable ? h('span', { class: 'badge warn' }, ` ${t('equip.vulnerable_n', { n: o.vulnerable })}`) : null)))
        : h('tr', {}, h('td', { colspan: '4', class: 'empty' }, t('avail.none'))));
    } catch (err) {
      replace(outBody, h('tr', {}, h('td', { colspan: '4', class: 'error-box' }, err.message)));
    }
  }
  load();
  const timer = setInterval(load, EQUIP_REFRESH_MS);
  return () => { stopped = true; clearInterval(timer); };
}

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
  const equipBox = h('section', { class: 'panel equipment-panel', testid: 'equipment-panel' });
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
    equipBox,
    availBox);
  const stopEquipment = mountEquipment(equipBox);

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
    stopEquipment();
    clearInterval(timer);
    clearInterval(availTimer);
    clearTimeout(soon);
    offChange();
    offAlerts();
    if (sheet) sheet.close();
  };
}
