// The report's groups as a table (one row per grid, site, rule or severity, the total at the foot): a click on a
// header sorts by that column, a click on a row opens that group's alerts.
import { h, replace } from '../../dom.js';
import { t, label } from '../../i18n.js';
import { humanDuration, percent } from '../../fmt.js';

// What a group is called: the grid's or site's name, a severity in the console's words, a rule's id.
export function groupLabel(groupBy, group) {
  if (groupBy === 'severity') return label('sev', group.key);
  if (group.key === null || group.key === undefined) return groupBy === 'grid' ? t('office.no_grid') : t('office.total');
  return group.label && group.label !== group.key ? group.label : String(group.key);
}

const COLUMNS = [
  { id: 'group', label: 'office.col_group', value: (g, by) => groupLabel(by, g), text: (g, by) => groupLabel(by, g) },
  { id: 'raised', label: 'office.col_raised', value: (g) => g.raised },
  { id: 'ack_share', label: 'office.col_ack_share', value: (g) => g.acknowledged_within_target.pct, text: (g) => percent(g.acknowledged_within_target.pct) },
  { id: 'ack_p50', label: 'office.col_ack_p50', value: (g) => g.time_to_acknowledge.p50, text: (g) => humanDuration(g.time_to_acknowledge.p50) },
  { id: 'ack_p90', label: 'office.col_ack_p90', value: (g) => g.time_to_acknowledge.p90, text: (g) => humanDuration(g.time_to_acknowledge.p90) },
  { id: 'resolve_share', label: 'office.col_resolve_share', value: (g) => g.resolved_within_target.pct, text: (g) => percent(g.resolved_within_target.pct) },
  { id: 'resolve_p50', label: 'office.col_resolve_p50', value: (g) => g.time_to_resolve.p50, text: (g) => humanDuration(g.time_to_resolve.p50) },
  { id: 'resolve_p90', label: 'office.col_resolve_p90', value: (g) => g.time_to_resolve.p90, text: (g) => humanDuration(g.time_to_resolve.p90) },
  { id: 'escalated', label: 'office.col_escalated', value: (g) => g.escalated },
  { id: 'false_alarm', label: 'office.col_false_alarm', value: (g) => (g.dispositions || {}).false_alarm ?? 0 },
  { id: 'open', label: 'office.col_open', value: (g) => g.open },
  { id: 'overdue', label: 'office.col_overdue', value: (g) => g.overdue_count },
];

function compare(a, b) {
  const na = a === null || a === undefined;
  const nb = b === null || b === undefined;
  if (na || nb) return na === nb ? 0 : na ? 1 : -1; // nothing to show sorts last either way
  if (typeof a === 'string' || typeof b === 'string') return String(a).localeCompare(String(b), 'zh-CN');
  return a - b;
}

function cells(group, by) {
  return COLUMNS.map((c) => h('td', { class: c.id === 'group' ? 'group-name' : 'num', 'data-col': c.id },
    c.text ? c.text(group, by) : String(c.value(group, by) ?? '—')));
}

// sort: {key, dir} (shared with the page so it survives a reload of the figures); onPick(group) drills down.
export function renderGroups(host, report, { sort, onPick }) {
  const by = report.group_by;
  const thead = h('thead', {});
  const tbody = h('tbody', {});
  const total = report.total;
  const section = h('section', { class: 'panel', testid: 'office-groups-panel' },
    h('div', { class: 'section-head' }, h('h3', {}, t('office.groups', { by: t(`office.by_${by}`) })),
      h('span', { class: 'muted small' }, t('office.pick_group'))),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table office-groups', testid: 'office-groups', 'data-group-by': by },
      thead, tbody,
      h('tfoot', {}, h('tr', { class: 'total-row', testid: 'group-total' }, cells({ ...total, key: null }, by).map((td, i) => (i === 0 ? h('td', { class: 'group-name' }, t('office.total')) : td)))))));
  host.append(section);

  function draw() {
    const column = COLUMNS.find((c) => c.id === sort.key);
    const groups = [...(report.groups || [])];
    if (column) groups.sort((a, b) => compare(column.value(a, by), column.value(b, by)) * sort.dir || compare(groupLabel(by, a), groupLabel(by, b)));
    replace(thead, h('tr', {}, COLUMNS.map((c) => {
      const active = c.id === sort.key;
      const th = h('th', { class: ['sortable', c.id === 'group' ? '' : 'num'], testid: `sort-${c.id}`, tabindex: '0', role: 'button',
        'aria-sort': active ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none' },
      t(c.label), h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, active ? (sort.dir > 0 ? ' ▲' : ' ▼') : ''));
      const pick = () => {
        if (sort.key === c.id) sort.dir = -sort.dir;
        else {
          sort.key = c.id;
          sort.dir = c.id === 'group' ? 1 : -1; // names A→Z, numbers largest first
        }
        draw();
      };
      th.addEventListener('click', pick);
      th.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); pick(); } });
      return th;
    })));
    replace(tbody, groups.length ? groups.map((g) => {
      const tr = h('tr', { class: 'clickable', testid: 'group-row', 'data-key': g.key ?? '', 'data-raised': String(g.raised), tabindex: '0' }, cells(g, by));
      tr.addEventListener('click', () => onPick(g));
      tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') onPick(g); });
      return tr;
    }) : h('tr', {}, h('td', { colspan: String(COLUMNS.length), class: 'empty', testid: 'office-no-alerts' }, t('office.no_alerts'))));
  }
  draw();
}
