// One group of the report looked into: its figures, then its alerts of the period (GET /alerts with the group's
// grid, site, rule or severity and the period's bounds, newest first); a click opens the alert's detail.
import { h, replace } from '../../dom.js';
import { t, label } from '../../i18n.js';
import { api, asList } from '../../api.js';
import { absTime, humanDuration } from '../../fmt.js';
import { compactFigures } from './figures.js';
import { groupLabel } from './groups.js';
import { openAlertSheet } from './alert-sheet.js';

const LIMIT = 500;
const SYSTEM = 'system'; // who resolves an outage that ended by itself (alerting/outages.py)

// Raised → the first person's step (the acknowledgement, or a resolution without one), as the report counts it.
export function timeToAck(a) {
  const created = Date.parse(a.created_at);
  const first = a.acknowledged_at || (a.resolved_at && a.resolved_by !== SYSTEM ? a.resolved_at : null);
  if (!first || Number.isNaN(created)) return null;
  return (Date.parse(first) - created) / 1000;
}

export function renderDrill(host, { report, group, back }) {
  const by = report.group_by;
  const name = groupLabel(by, group);
  const backBtn = h('button', { type: 'button', class: 'linkish', testid: 'office-back' }, `← ${t('office.back')}`);
  backBtn.addEventListener('click', back);
  const count = h('span', { class: 'badge count', testid: 'drill-count' }, '…');
  const list = h('div', { class: 'drill-list', testid: 'drill-list' }, h('div', { class: 'muted' }, t('common.loading')));
  replace(host,
    h('div', { class: 'drill-head' }, backBtn),
    h('section', { class: 'panel', testid: 'office-drill', 'data-group-by': by, 'data-key': group.key ?? '' },
      h('div', { class: 'section-head' }, h('h2', { testid: 'drill-title' }, t('office.drill_title', { group: name })), count),
      compactFigures(group)),
    h('section', { class: 'panel' }, list));

  const query = { since: report.since, until: report.until, limit: LIMIT, ...report.filters };
  if (group.key !== null && group.key !== undefined) query[by] = group.key;
  api('/alerts', { query, quiet: true }).then((data) => {
    if (!host.isConnected) return;
    let alerts = asList(data).filter((a) => !a.parent_id); // folded under an outage: counted as the outage
    if (group.key === null || group.key === undefined) alerts = alerts.filter((a) => !a[by]);
    count.textContent = String(alerts.length);
    count.dataset.value = String(alerts.length);
    const rows = alerts.map((a) => {
      const ack = timeToAck(a);
      const tr = h('tr', { class: ['clickable', a.silenced_by ? 'dim' : ''], testid: 'drill-row', tabindex: '0', 'data-alert-id': String(a.id),
        'data-severity': a.severity, 'data-state': a.state, 'data-disposition': a.disposition || '' },
      h('td', { class: 'small nowrap muted-phone' }, absTime(a.created_at)),
      h('td', { class: 'title-cell' }, a.title || a.rule, a.silenced_by ? h('span', { class: 'badge muted' }, ` ${t('alert.silenced')}`) : null,
        by !== 'grid' && a.grid ? h('div', { class: 'muted small' }, t('alert.grid_fmt', { v: a.grid })) : null),
      h('td', {}, h('span', { class: `badge sev sev-${a.severity}` }, label('sev', a.severity))),
      h('td', {}, h('span', { class: `badge state state-${a.state}` }, label('state', a.state))),
      h('td', { class: 'nowrap', 'data-seconds': ack === null ? '' : String(ack), 'data-label': t('office.ack_after') }, ack === null ? '—' : humanDuration(ack)),
      h('td', { 'data-label': t('alert.disposition') }, a.state === 'resolved' ? label('disposition', a.disposition || 'unspecified') : '—'));
      const open = () => openAlertSheet(a.id, (updated) => {
        tr.dataset.disposition = updated.disposition || '';
      });
      tr.addEventListener('click', open);
      tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') open(); });
      return tr;
    });
    replace(list,
      rows.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'table drill-table stack-table', testid: 'drill-table' },
        h('thead', {}, h('tr', {}, ['office.raised_at', 'office.alert', 'alert.severity', 'dl.state', 'office.ack_after', 'alert.disposition'].map((k) => h('th', {}, t(k))))),
        h('tbody', {}, rows))) : h('div', { class: 'empty' }, t('office.no_alerts')),
      alerts.length >= LIMIT ? h('p', { class: 'muted small' }, t('office.drill_limit', { n: LIMIT })) : null);
  }).catch((err) => replace(list, h('div', { class: 'error-box' }, err.message)));
}
