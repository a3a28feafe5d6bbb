// Patrol points and routes, for who may change the configuration: plain lists with forms, and the way to the
// printable sheet of QR codes (views/patrol/print.js) or its HTML file (GET /patrol/qr-sheet).
import { h, replace } from '../../dom.js';
import { t } from '../../i18n.js';
import { api, asList, getToken } from '../../api.js';
import { toast } from '../../toast.js';
import { mountCrud } from '../../components/crud.js';
import { siteOptions, teamOptions, gridOptions } from '../../lookups.js';

const pointOptions = () => api('/patrol/points', { quiet: true }).then(asList)
  .then((l) => l.map((p) => ({ value: p.id, label: p.name && p.name !== p.id ? `${p.name} (${p.id})` : p.id })));

export function mountManage(root, { navigate }) {
  const sites = h('select', { testid: 'print-site' });
  const printBtn = h('button', { type: 'button', class: 'btn primary', testid: 'print-open' }, t('rounds.print'));
  const fileBtn = h('button', { type: 'button', class: 'btn', testid: 'print-download' }, t('rounds.print_file'));
  const pointsBox = h('div', {});
  const routesBox = h('div', {});
  replace(root,
    h('section', { class: 'panel' },
      h('div', { class: 'section-head' }, h('h2', {}, t('rounds.print_title'))),
      h('p', { class: 'muted small' }, t('rounds.print_help')),
      h('div', { class: 'inline-form' }, sites, printBtn, fileBtn)),
    h('section', { class: 'panel' }, pointsBox),
    h('section', { class: 'panel' }, routesBox));
  siteOptions().then((opts) => replace(sites, opts.map((o) => h('option', { value: o.value }, o.label)))).catch(() => {});
  printBtn.addEventListener('click', () => {
    if (sites.value) navigate(`print-${sites.value}`);
  });
  fileBtn.addEventListener('click', () => downloadSheet(sites.value));

  const stopPoints = mountCrud(pointsBox, {
    path: '/patrol/points',
    name: 'patrol_points',
    columns: [
      { key: 'id', label: 'field.id' }, { key: 'site', label: 'field.site' }, { key: 'name', label: 'field.name' },
      { key: 'grid', label: 'field.grid' }, { key: 'nfc_tag', label: 'field.nfc_tag' },
      { key: 'code', label: 'rounds.qr', render: (p) => qrLink(p) },
    ],
    fields: [
      { key: 'id', label: 'field.id', required: true },
      { key: 'site', label: 'field.site', type: 'select', options: siteOptions, required: true },
      { key: 'name', label: 'field.name', required: true },
      { key: 'grid', label: 'field.grid', type: 'select', options: gridOptions },
      { key: 'location', label: 'field.location', type: 'json', placeholder: '{"building": "3"}' },
      { key: 'nfc_tag', label: 'field.nfc_tag', hint: 'field.nfc_tag_hint' },
    ],
  });
  const stopRoutes = mountCrud(routesBox, {
    path: '/patrol/routes',
    name: 'patrol_routes',
    columns: [
      { key: 'id', label: 'field.id' }, { key: 'name', label: 'field.name' }, { key: 'team', label: 'field.team' },
      { key: 'points', label: 'field.points', render: (r) => (r.points || []).map((p) => `${p.point} (${p.within})`).join(' → ') },
      { key: 'schedule', label: 'field.schedule', render: (r) => scheduleText(r.schedule) },
      { key: 'duration', label: 'field.duration' },
    ],
    fields: [
      { key: 'id', label: 'field.id', required: true },
      { key: 'site', label: 'field.site', type: 'select', options: siteOptions, required: true },
      { key: 'name', label: 'field.name', required: true },
      { key: 'team', label: 'field.team', type: 'select', options: teamOptions },
      { key: 'points', label: 'field.points', type: 'rows', fields: [
        { key: 'point', label: 'field.point', type: 'select', options: pointOptions, required: true },
        { key: 'within', label: 'field.within', placeholder: '20m', required: true },
      ] },
      { key: 'schedule', label: 'field.schedule', type: 'json', placeholder: '{"times": ["22:00", "02:00"]}', hint: 'field.schedule_hint' },
      { key: 'duration', label: 'field.duration', placeholder: '1h' },
      { key: 'enabled', label: 'field.enabled', type: 'checkbox' },
    ],
  });
  return () => {
    stopPoints();
    stopRoutes();
  };
}

function scheduleText(schedule) {
  if (!schedule || !Array.isArray(schedule.times)) return null;
  const days = Array.isArray(schedule.days) && schedule.days.length ? ` (${schedule.days.map((d) => t(`day.${d}`)).join(' ')})` : '';
  return `${schedule.times.join(', ')}${days}`;
}

// The point's QR code, opened as an SVG in a new tab (fetched with the token, shown from a blob).
function qrLink(point) {
  if (!point.code) return null;
  const a = h('button', { type: 'button', class: 'btn small ghost', testid: 'point-qr' }, t('rounds.qr_show'));
  a.addEventListener('click', async () => {
    try {
      const res = await fetch(`/api/v1/patrol/points/${encodeURIComponent(point.id)}/qr.svg`, { headers: { Authorization: `Bearer ${getToken()}` } });
      if (!res.ok) throw new Error(`${res.status}`);
      window.open(URL.createObjectURL(await res.blob()), '_blank', 'noopener');
    } catch (err) {
      toast(err.message);
    }
  });
  return a;
}

async function downloadSheet(site) {
  if (!site) return;
  try {
    const res = await fetch(`/api/v1/patrol/qr-sheet?site=${encodeURIComponent(site)}`, { headers: { Authorization: `Bearer ${getToken()}` } });
    if (!res.ok) throw new Error(`${t('error.status', { status: res.status })}`);
    const url = URL.createObjectURL(await res.blob());
    const a = h('a', { href: url, download: `patrol-${site}.html` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    toast(err.message);
  }
}
