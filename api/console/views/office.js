// The community office (社区办公室, role `office`): how fast alerts were owned and solved, how they ended, the
// alerts still open past their target, device availability, and the monthly bulletin to download (issue 20).
// The same page is the admin view's "office" tab.
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { mountOffice } from './office/report.js';

export function mount(root, ctx) {
  const box = h('div', {});
  replace(root, h('div', { class: 'view-head' }, h('h1', {}, t('nav.office'))), box);
  return mountOffice(box, ctx);
}
