// Patrol: the live list of patrol-audience alerts, built for a phone in one hand.
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { mountAlertList } from '../components/alert-list.js';

export function mount(root, { me, stream, focusAlert }) {
  const listBox = h('section', { class: 'panel' });
  const grids = Array.isArray(me.grids) && me.grids.length ? me.grids : null;
  replace(root,
    h('div', { class: 'view-head' },
      h('h1', {}, t('nav.patrol')),
      grids ? h('div', { class: 'chips' }, grids.map((g) => h('span', { class: 'chip' }, t('alert.grid_fmt', { v: g })))) : null,
      me.team && me.team.name ? h('span', { class: 'chip' }, me.team.name) : null),
    listBox);
  return mountAlertList(listBox, { stream, audience: 'patrol', title: t('alerts.patrol'), focus: focusAlert });
}
