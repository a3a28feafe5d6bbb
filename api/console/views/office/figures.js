// The report's key figures (its `total`), three charts (alerts per day, the share acknowledged within target per
// group, how alerts ended), the alerts still open past their target, and device availability by kind.
import { h } from '../../dom.js';
import { t, label } from '../../i18n.js';
import { barChart, hBarChart } from '../../chart.js';
import { humanDuration, percent, absTime } from '../../fmt.js';
import { openAlertSheet } from './alert-sheet.js';
import { groupLabel } from './groups.js';

const num = (v) => (typeof v === 'number' ? String(v) : '—');

function figure(testid, name, value, sub, { hot = false, data = {} } = {}) {
  return h('div', { class: ['counter', 'office-figure', hot ? 'hot' : ''], testid, ...data },
    h('div', { class: 'counter-n' }, value),
    h('div', { class: 'counter-label' }, name),
    sub ? h('div', { class: 'figure-sub muted small' }, sub) : null);
}

function share(s) {
  return s && s.counted ? `${s.met}/${s.counted}` : t('office.not_judged');
}

export function keyFigures(total) {
  const ack = total.time_to_acknowledge;
  const res = total.time_to_resolve;
  const ackShare = total.acknowledged_within_target;
  const resShare = total.resolved_within_target;
  return h('div', { class: 'counters office-figures', testid: 'office-figures' },
    figure('fig-raised', t('office.raised'), num(total.raised),
      total.silenced ? t('office.silenced_n', { n: total.silenced }) : t('office.resolved_n', { n: total.resolved }),
      { data: { 'data-value': String(total.raised) } }),
    figure('fig-ack-share', t('office.ack_within'), percent(ackShare.pct), share(ackShare),
      { data: { 'data-value': ackShare.pct === null ? '' : String(ackShare.pct) } }),
    figure('fig-ack-time', t('office.ack_time'), humanDuration(ack.p50), t('office.p90', { v: humanDuration(ack.p90) }),
      { data: { 'data-p50': ack.p50 === null ? '' : String(ack.p50), 'data-p90': ack.p90 === null ? '' : String(ack.p90) } }),
    figure('fig-resolve-share', t('office.resolve_within'), percent(resShare.pct), share(resShare),
      { data: { 'data-value': resShare.pct === null ? '' : String(resShare.pct) } }),
    figure('fig-resolve-time', t('office.resolve_time'), humanDuration(res.p50), t('office.p90', { v: humanDuration(res.p90) }),
      { data: { 'data-p50': res.p50 === null ? '' : String(res.p50), 'data-p90': res.p90 === null ? '' : String(res.p90) } }),
    figure('fig-escalated', t('office.escalated'), num(total.escalated), t('office.beyond_n', { n: total.beyond_community }),
      { data: { 'data-value': String(total.escalated) } }),
    figure('fig-open', t('office.open'), num(total.open), t('office.overdue_n', { n: total.overdue_count }),
      { hot: total.overdue_count > 0, data: { 'data-value': String(total.open), 'data-overdue': String(total.overdue_count) } }));
}

// A group's figures in one line of chips (the drill-down: its alerts matter more than big numbers).
export function compactFigures(group) {
  const ack = group.acknowledged_within_target;
  const res = group.resolved_within_target;
  const chip = (testid, text, data = {}, hot = false) => h('span', { class: ['chip', 'figure-chip', hot ? 'hot' : ''], testid, ...data }, text);
  return h('div', { class: 'chips office-chips', testid: 'office-figures' },
    chip('fig-raised', t('office.chip_raised', { n: group.raised }), { 'data-value': String(group.raised) }),
    chip('fig-ack-share', `${t('office.ack_within')} ${percent(ack.pct)}`, { 'data-value': ack.pct === null ? '' : String(ack.pct) }),
    chip('fig-ack-time', `${t('office.col_ack_p50')} ${humanDuration(group.time_to_acknowledge.p50)}`),
    chip('fig-resolve-share', `${t('office.resolve_within')} ${percent(res.pct)}`, { 'data-value': res.pct === null ? '' : String(res.pct) }),
    chip('fig-resolve-time', `${t('office.col_resolve_p50')} ${humanDuration(group.time_to_resolve.p50)}`),
    group.escalated ? chip('fig-escalated', `${t('office.escalated')} ${group.escalated}`) : null,
    chip('fig-open', `${t('office.open')} ${group.open}`, { 'data-value': String(group.open) }),
    group.overdue_count ? chip('fig-overdue', t('office.overdue_n', { n: group.overdue_count }), {}, true) : null);
}

// A chart in its card, drawn once the card is on the page (its width is the chart's).
function chartCard(host, testid, title, draw, wide = false) {
  const box = h('div', { class: 'chart-slot' });
  const card = h('section', { class: ['card', 'office-chart', wide ? 'wide' : ''], testid }, h('h3', {}, title), box);
  host.append(card);
  box.append(draw(Math.max(280, box.clientWidth || card.clientWidth - 24)));
  return card;
}

const shortDay = (iso) => {
  const [, m, d] = String(iso).split('-').map(Number);
  return `${m}/${d}`;
};

function shareClass(pct) {
  if (typeof pct !== 'number') return '';
  return pct >= 90 ? 'good' : pct >= 70 ? 'fair' : 'poor';
}

export function renderCharts(host, report) {
  const grid = h('div', { class: 'office-charts' });
  host.append(grid);
  const days = Array.isArray(report.days) ? report.days : [];
  chartCard(grid, 'office-chart-daily', t('office.chart_daily'), (width) => barChart({
    labels: days.map(shortDay), values: report.total.daily, width, height: 190, testid: 'chart-daily',
    title: (l, v) => t('office.day_bar', { day: l, n: v }),
  }), true);
  const groups = report.groups || [];
  chartCard(grid, 'office-chart-share', t('office.chart_ack_share'), (width) => hBarChart({
    rows: groups.map((g) => {
      const s = g.acknowledged_within_target;
      return { key: g.key ?? '', label: groupLabel(report.group_by, g), value: s.pct, cls: shareClass(s.pct),
        text: s.counted ? `${percent(s.pct)} (${s.met}/${s.counted})` : t('office.not_judged') };
    }),
    max: 100, width, testid: 'chart-ack-share',
  }));
  const dispositions = Object.entries(report.total.dispositions || {});
  chartCard(grid, 'office-chart-dispositions', t('office.chart_dispositions'), (width) => hBarChart({
    rows: dispositions.map(([key, n]) => ({ key, label: label('disposition', key), value: n, text: String(n), cls: `disp-${key}` })),
    width, testid: 'chart-dispositions',
  }));
}

export function renderOverdue(host, report) {
  const total = report.total;
  const list = Array.isArray(total.overdue) ? total.overdue : [];
  const rows = list.map((o) => {
    const tr = h('tr', { class: 'clickable', testid: 'overdue-row', 'data-alert-id': String(o.id), tabindex: '0' },
      h('td', { class: 'small nowrap muted-phone' }, absTime(o.created_at)),
      h('td', { class: 'title-cell' }, h('span', { class: `badge sev sev-${o.severity}` }, label('sev', o.severity)), ' ', o.title),
      h('td', { 'data-label': t('field.grid') }, o.grid || '—'),
      h('td', {}, h('span', { class: `badge state state-${o.state}` }, label('state', o.state))),
      h('td', { class: 'bad-text nowrap', 'data-label': t('office.age') }, humanDuration(o.age_seconds)),
      h('td', { class: 'small' }, t(`office.missed_${o.missed}`, { v: humanDuration(o.target_seconds) })));
    const open = () => openAlertSheet(o.id);
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') open(); });
    return tr;
  });
  host.append(h('section', { class: 'panel', testid: 'office-overdue' },
    h('div', { class: 'section-head' }, h('h3', {}, t('office.overdue')),
      h('span', { class: ['badge', total.overdue_count ? 'bad' : 'ok'], testid: 'office-overdue-count' }, String(total.overdue_count))),
    rows.length
      ? h('div', { class: 'table-wrap' }, h('table', { class: 'table stack-table' },
        h('thead', {}, h('tr', {}, ['office.raised_at', 'office.alert', 'field.grid', 'dl.state', 'office.age', 'office.missed'].map((k) => h('th', {}, t(k))))),
        h('tbody', {}, rows)),
      total.overdue_count > list.length ? h('p', { class: 'muted small' }, t('office.overdue_more', { n: total.overdue_count - list.length })) : null)
      : h('div', { class: 'empty', testid: 'office-overdue-none' }, t('office.no_overdue'))));
}

export function renderAvailability(host, report) {
  const list = Array.isArray(report.availability) ? report.availability : [];
  host.append(h('section', { class: 'panel', testid: 'office-availability' },
    h('h3', {}, t('office.availability')),
    list.length
      ? h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
        h('thead', {}, h('tr', {}, ['avail.kind', 'avail.devices', 'avail.uptime', 'avail.outages'].map((k) => h('th', {}, t(k))))),
        h('tbody', {}, list.map((a) => h('tr', { testid: 'availability-row', 'data-kind': a.kind },
          h('td', {}, label('kind', a.kind)),
          h('td', {}, String(a.devices)),
          h('td', { class: typeof a.uptime_pct === 'number' && a.uptime_pct < 95 ? 'bad-text' : '' }, typeof a.uptime_pct === 'number' ? percent(a.uptime_pct, 2) : t('office.unknown_uptime')),
          h('td', {}, String(a.outages)))))))
      : h('div', { class: 'empty' }, t('avail.none'))));
}

export function renderFigures(host, report) {
  host.append(keyFigures(report.total));
  renderCharts(host, report);
}
