// The office's report page: the period (a month in the site's time zone, or any days), how to group, which
// site; then the figures (GET /reports/alerts), a group's alerts on a click, and the exports.
import { h, replace } from '../../dom.js';
import { t, getLang } from '../../i18n.js';
import { api, asList, getToken } from '../../api.js';
import { monthIn, todayIn, zonedMidnight, nextDay, absTime } from '../../fmt.js';
import { renderFigures, renderOverdue, renderAvailability } from './figures.js';
import { renderGroups } from './groups.js';
import { renderDrill } from './drill.js';
import { exportButtons } from './exports.js';
import { closeAlertSheets } from './alert-sheet.js';

const GROUP_BYS = ['grid', 'site', 'rule', 'severity'];
const FALLBACK_ZONE = 'Asia/Shanghai';

// '2026-11' → 2026年11月 / November 2026.
function monthName(value) {
  const [y, m] = value.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, 1)).toLocaleDateString(getLang() === 'zh' ? 'zh-CN' : 'en-GB', { year: 'numeric', month: 'long', timeZone: 'UTC' });
}

// Groups in the order people count them: g1, g2, … g10 (the API orders by name, which for Chinese names is
// the characters' code order: 第一, 第三, 第二); severities as the API gives them (critical first); no grid last.
function inOrder(report) {
  if (report.group_by === 'severity' || !Array.isArray(report.groups)) return report;
  const key = (g) => (g.key === null || g.key === undefined ? '\uffff' : String(g.key));
  report.groups.sort((a, b) => key(a).localeCompare(key(b), undefined, { numeric: true }));
  return report;
}

// What was chosen, kept while the console stays open with the same token: a language switch or a visit to
// another tab remounts the page, and the office expects its period and grouping to be still there.
let remembered = null;

function choices() {
  const token = getToken();
  if (!remembered || remembered.token !== token) {
    remembered = {
      token,
      state: { mode: 'month', month: '', from: '', to: '', groupBy: 'grid', site: '' },
      sort: { key: null, dir: -1 }, // the groups table's order
    };
  }
  return remembered;
}

export function mountOffice(root) {
  let stopped = false;
  let seq = 0;
  let sites = [];
  let report = null;
  let drill = null; // the group being looked into: its report row
  const { state, sort } = choices();
  const resumed = !!state.month || state.mode === 'custom';

  const month = h('input', { type: 'month', testid: 'office-month', 'aria-label': t('office.month'), required: true });
  const lastMonth = h('button', { type: 'button', class: 'btn small', testid: 'office-last-month' }, t('office.last_month'));
  const thisMonth = h('button', { type: 'button', class: 'btn small', testid: 'office-this-month' }, t('office.this_month'));
  const from = h('input', { type: 'date', testid: 'office-from', 'aria-label': t('office.from') });
  const to = h('input', { type: 'date', testid: 'office-to', 'aria-label': t('office.to') });
  const apply = h('button', { type: 'submit', class: 'btn small primary', testid: 'office-apply' }, t('office.apply'));
  const customErr = h('div', { class: 'field-error', hidden: true, testid: 'office-period-error' });
  const custom = h('details', { class: 'office-custom', testid: 'office-custom' },
    h('summary', {}, t('office.custom')),
    h('form', { class: 'inline-form office-range' },
      h('label', { class: 'inline' }, h('span', { class: 'muted small' }, t('office.from')), from),
      h('label', { class: 'inline' }, h('span', { class: 'muted small' }, t('office.to')), to),
      apply), customErr);
  const groupBy = h('select', { testid: 'office-group-by', 'aria-label': t('office.group_by') },
    GROUP_BYS.map((g) => h('option', { value: g }, t(`office.by_${g}`))));
  const siteSel = h('select', { testid: 'office-site', 'aria-label': t('field.site'), hidden: true });
  const siteField = h('label', { class: 'office-field', hidden: true }, h('span', { class: 'muted small' }, t('field.site')), siteSel);
  const period = h('div', { class: 'office-period muted small', testid: 'office-period' });
  const exports = h('div', { class: 'office-exports' });
  const body = h('div', { class: 'office-body', testid: 'office-body' }, h('div', { class: 'muted' }, t('common.loading')));

  replace(root,
    h('section', { class: 'card office-toolbar', testid: 'office-toolbar' },
      h('div', { class: 'office-controls' },
        h('div', { class: 'office-field' }, h('span', { class: 'muted small' }, t('office.period')),
          h('div', { class: 'office-month-row' }, month, lastMonth, thisMonth)),
        h('label', { class: 'office-field' }, h('span', { class: 'muted small' }, t('office.group_by')), groupBy),
        siteField),
      custom,
      h('div', { class: 'office-toolbar-foot' }, period, exports)),
    body);

  const zone = () => {
    const chosen = sites.find((s) => s.id === state.site) || sites[0];
    return (chosen && chosen.timezone) || (report && report.timezone) || FALLBACK_ZONE;
  };

  // What the API is asked: the chosen month (month=, the site's calendar) or the chosen days.
  function query(extra = {}) {
    const q = { group_by: state.groupBy, site: state.site || null, ...extra };
    if (state.mode === 'month') q.month = state.month;
    else {
      q.from = zonedMidnight(state.from, zone());
      q.to = zonedMidnight(nextDay(state.to), zone());
    }
    return q;
  }

  function markMode() {
    const current = monthIn(zone(), 0);
    const previous = monthIn(zone(), -1);
    lastMonth.setAttribute('aria-pressed', String(state.mode === 'month' && state.month === previous));
    thisMonth.setAttribute('aria-pressed', String(state.mode === 'month' && state.month === current));
    custom.classList.toggle('active', state.mode === 'custom');
  }

  function pickMonth(value) {
    if (!value) return;
    state.mode = 'month';
    state.month = value;
    month.value = value;
    load();
  }

  month.addEventListener('change', () => pickMonth(month.value));
  lastMonth.addEventListener('click', () => pickMonth(monthIn(zone(), -1)));
  thisMonth.addEventListener('click', () => pickMonth(monthIn(zone(), 0)));
  custom.querySelector('form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    customErr.hidden = true;
    if (!from.value || !to.value || from.value > to.value) {
      customErr.textContent = t('office.bad_range');
      customErr.hidden = false;
      return;
    }
    state.mode = 'custom';
    state.from = from.value;
    state.to = to.value;
    load();
  });
  groupBy.addEventListener('change', () => {
    state.groupBy = groupBy.value;
    sort.key = null;
    load();
  });
  siteSel.addEventListener('change', () => {
    state.site = siteSel.value;
    load();
  });
  exports.append(...exportButtons(() => query()));

  async function load() {
    const mine = ++seq;
    drill = null;
    markMode();
    body.classList.add('loading');
    let data;
    try {
      data = await api('/reports/alerts', { query: query(), quiet: true });
    } catch (err) {
      if (stopped || mine !== seq) return;
      body.classList.remove('loading');
      replace(body, h('div', { class: 'error-box', testid: 'office-error' }, err.message));
      return;
    }
    if (stopped || mine !== seq) return;
    body.classList.remove('loading');
    report = inOrder(data);
    show();
  }

  function describePeriod(r) {
    const days = Array.isArray(r.days) ? r.days : [];
    const span = state.mode === 'month' ? monthName(state.month) : `${days[0] || ''} – ${days[days.length - 1] || ''}`;
    return [span, t('office.days_n', { n: days.length }), r.timezone, t('office.as_of', { at: absTime(r.as_of) })].join(' · ');
  }

  function show() {
    if (!report) return;
    period.textContent = describePeriod(report);
    period.dataset.since = report.since;
    period.dataset.until = report.until;
    period.dataset.days = String((report.days || []).length);
    period.dataset.mode = state.mode;
    if (drill) {
      renderDrill(body, { report, group: drill, back: () => { drill = null; show(); } });
      return;
    }
    replace(body);
    renderFigures(body, report);
    renderGroups(body, report, { sort, onPick: (group) => { drill = group; show(); window.scrollTo(0, 0); } });
    renderOverdue(body, report);
    renderAvailability(body, report);
  }

  // Sites first: their time zone says what "last month" is; a site select when there are several.
  (async () => {
    try {
      sites = asList(await api('/sites', { quiet: true }));
    } catch {
      sites = [];
    }
    if (stopped) return;
    if (sites.length > 1) {
      replace(siteSel, h('option', { value: '' }, t('office.all_sites')),
        sites.map((s) => h('option', { value: s.id }, s.name && s.name !== s.id ? s.name : s.id)));
      siteSel.hidden = false;
      siteField.hidden = false;
    }
    if (state.site && !sites.some((s) => s.id === state.site)) state.site = '';
    siteSel.value = state.site;
    groupBy.value = state.groupBy;
    const tz = zone();
    month.max = monthIn(tz, 0);
    if (!to.value) to.value = state.to || todayIn(tz);
    if (!from.value) from.value = state.from || `${monthIn(tz, 0)}-01`;
    if (!resumed && (state.month || state.mode === 'custom')) return; // picked while the sites were on their way
    if (!state.month) state.month = monthIn(tz, -1); // by default the month just ended: the bulletin's
    month.value = state.month;
    if (state.mode === 'custom') custom.open = true;
    load();
  })();

  return () => {
    stopped = true;
    closeAlertSheets();
  };
}
