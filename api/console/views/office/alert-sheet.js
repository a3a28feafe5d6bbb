// One alert in a sheet over the office's page: the same card the patrol sees (components/alert-item.js), already
// unfolded: its history, how it ended and, for an admin, the correction of its disposition.
import { closesOn, h, replace } from '../../dom.js';
import { t } from '../../i18n.js';
import { api } from '../../api.js';
import { createAlertItem } from '../../components/alert-item.js';

const open = new Set();

// The page is left (another view, a logout): no sheet stays over what comes next.
export function closeAlertSheets() {
  for (const done of [...open]) done();
}

export function openAlertSheet(id, onUpdate) {
  const close = h('button', { type: 'button', class: 'btn ghost', testid: 'alert-sheet-close', 'aria-label': t('common.close') }, '✕');
  const body = h('ul', { class: 'alert-list' }, h('li', { class: 'muted' }, t('common.loading')));
  const panel = h('div', { class: 'sheet-panel', role: 'dialog', 'aria-modal': 'true', testid: 'alert-sheet', 'data-alert-id': String(id) },
    h('div', { class: 'sheet-head' }, h('h2', {}, t('office.alert_detail')), close), body);
  const sheet = h('div', { class: 'sheet' }, panel);
  document.body.append(sheet);
  const done = () => {
    sheet.remove();
    stop();
    open.delete(done);
  };
  const stop = closesOn(sheet, close, done);
  open.add(done);
  api(`/alerts/${encodeURIComponent(id)}`, { quiet: true }).then((alert) => {
    let item = null;
    item = createAlertItem(alert, {
      onChange: (updated) => {
        item.update({ ...item.alert, ...updated });
        if (onUpdate) onUpdate(updated);
      },
    });
    replace(body, item.el);
    item.expand();
  }).catch((err) => replace(body, h('li', { class: 'error-box' }, err.message)));
}
