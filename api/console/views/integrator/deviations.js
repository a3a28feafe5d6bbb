// Tolerated deviations: messages the gateway processed only after a repair
// (epoch seconds, numeric ids, upper-case types…). They work, so nothing else
// shows that the firmware still departs from the contract.
import { h, replace } from '../../dom.js';
import { t } from '../../i18n.js';
import { api, asList } from '../../api.js';
import { absTime } from '../../fmt.js';

export function mountDeviations(root) {
  const device = h('input', { type: 'search', placeholder: t('field.device'), testid: 'deviation-device', 'aria-label': t('field.device') });
  const refresh = h('button', { type: 'button', class: 'btn', testid: 'deviation-refresh' }, t('common.refresh'));
  const tbody = h('tbody', {});
  replace(root,
    h('div', { class: 'section-head' }, h('h2', {}, t('int.deviations'))),
    h('p', { class: 'muted small' }, t('int.deviations_help')),
    h('div', { class: 'filters' }, device, refresh),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid: 'deviations-table' },
      h('thead', {}, h('tr', {}, ['field.device', 'int.reason', 'int.field', 'int.count', 'int.last_sent', 'int.last_at'].map((k) => h('th', {}, t(k))))),
      tbody)));

  async function load() {
    try {
      const list = asList(await api('/deviations', { query: { device_id: device.value.trim(), limit: 200 } }));
      replace(tbody, list.length ? list.map((d) => h('tr', { testid: 'deviation', 'data-reason': d.reason },
        h('td', { class: 'mono small' }, d.device_id),
        h('td', {}, h('span', { class: 'badge warn' }, d.reason)),
        h('td', { class: 'mono small' }, d.field),
        h('td', { class: 'small' }, d.count),
        h('td', { class: 'mono small' }, d.last_sent),
        h('td', { class: 'small' }, absTime(d.last_at))))
        : h('tr', {}, h('td', { colspan: '6', class: 'empty' }, t('int.no_deviations'))));
    } catch (e) {
      replace(tbody, h('tr', {}, h('td', { colspan: '6', class: 'error-box' }, e.message)));
    }
  }

  refresh.addEventListener('click', load);
  let typing = null;
  device.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(load, 400);
  });
  load();
  return () => clearTimeout(typing);
}
