// Dead letters: every message the gateway refused, with why.
import { h, replace, pretty } from '../../dom.js';
import { t } from '../../i18n.js';
import { api, asList } from '../../api.js';
import { absTime } from '../../fmt.js';

export function mountDeadLetters(root) {
  const reason = h('select', { testid: 'dead-reason', 'aria-label': t('int.reason') });
  const device = h('input', { type: 'search', placeholder: t('field.device'), testid: 'dead-device', 'aria-label': t('field.device') });
  const refresh = h('button', { type: 'button', class: 'btn', testid: 'dead-refresh' }, t('common.refresh'));
  const tbody = h('tbody', {});
  const reasons = new Set();
  replace(root,
    h('div', { class: 'section-head' }, h('h2', {}, t('int.dead_letters'))),
    h('div', { class: 'filters' }, reason, device, refresh),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid: 'dead-letters-table' },
      h('thead', {}, h('tr', {}, ['int.received', 'int.reason', 'int.topic', 'field.device', 'int.size'].map((k) => h('th', {}, t(k))))),
      tbody)));

  // Reasons seen so far become the filter's options; the server filters.
  function fillReasons() {
    const current = reason.value;
    replace(reason, h('option', { value: '' }, t('int.all_reasons')), [...reasons].sort().map((r) => h('option', { value: r }, r)));
    reason.value = current;
  }

  async function load() {
    try {
      const list = asList(await api('/dead-letters', { query: { reason: reason.value, device_id: device.value.trim(), limit: 100 } }));
      list.forEach((d) => d.reason && reasons.add(d.reason));
      fillReasons();
      replace(tbody, list.length ? list.flatMap((d) => {
        const detailRow = h('tr', { class: 'detail-row', hidden: true },
          h('td', { colspan: '5' },
            d.detail ? h('div', { class: 'bad-text' }, typeof d.detail === 'string' ? d.detail : pretty(d.detail)) : null,
            h('pre', { class: 'code' }, pretty(d.payload ?? ''))));
        const row = h('tr', { testid: 'dead-letter', 'data-reason': d.reason || '', class: 'clickable', tabindex: '0' },
          h('td', { class: 'small' }, absTime(d.received_at)),
          h('td', {}, h('span', { class: 'badge bad' }, d.reason || '—')),
          h('td', { class: 'mono small' }, d.topic || '—'),
          h('td', { class: 'mono small' }, d.device_id || '—'),
          h('td', { class: 'small' }, d.size ?? '—'));
        row.addEventListener('click', () => { detailRow.hidden = !detailRow.hidden; });
        return [row, detailRow];
      }) : h('tr', {}, h('td', { colspan: '5', class: 'empty' }, t('int.no_dead_letters'))));
    } catch (e) {
      replace(tbody, h('tr', {}, h('td', { colspan: '5', class: 'error-box' }, e.message)));
    }
  }

  reason.addEventListener('change', load);
  refresh.addEventListener('click', load);
  let typing = null;
  device.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(load, 400);
  });
  // Known reasons with their counts, when the server offers them; else only the ones seen.
  api('/dead-letters/reasons', { quiet: true }).then((data) => {
    const list = Array.isArray(data) ? data : Object.entries(data || {}).map(([reason, count]) => ({ reason, count }));
    list.forEach((r) => r && r.reason && reasons.add(r.reason));
    fillReasons();
  }).catch(() => {});
  fillReasons();
  load();
  return () => clearTimeout(typing);
}
