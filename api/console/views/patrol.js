// Patrol, built for a phone in one hand: the live list of patrol-audience alerts, the rounds (巡更: scan the
// points' QR codes, offline first), and for who may change the configuration the points and routes.
// Routes: #/patrol (alerts), #/patrol/rounds, #/patrol/manage, #/patrol/print-<site> (the QR sheet), and
// #/patrol/p/<point>.<code>, where a point's printed link lands (GET /p/… redirects there): a check-in.
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { mountAlertList } from '../components/alert-list.js';
import { mountTabs } from '../components/tabs.js';
import { reportButton } from './patrol/report.js';
import { mountRounds } from './patrol/rounds.js';
import { mountManage } from './patrol/manage.js';
import { mountPrint } from './patrol/print.js';
import { flush } from './patrol/queue.js';

const LINK = /^#\/patrol\/p\/([A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,64})$/;
let pendingFocus = null; // an alert to open once the alerts tab is back (the banner, from another tab)

export function mount(root, ctx) {
  const { me, stream, focusAlert, sub, navigate } = ctx;
  const perms = Array.isArray(me.permissions) ? me.permissions : [];
  flush(); // check-ins left from an earlier visit (offline then) go now

  if (sub && sub.startsWith('print-')) {
    return mountPrint(root, { site: sub.slice('print-'.length), back: () => navigate('manage') });
  }
  let pending = null;
  if (sub === 'p') { // a point's link, opened by the phone's own camera app: check in, then show the rounds
    const m = location.hash.match(LINK);
    pending = m ? m[1] : null;
    history.replaceState(null, '', '#/patrol/rounds');
  }

  const grids = Array.isArray(me.grids) && me.grids.length ? me.grids : null;
  const box = h('div', {});
  replace(root,
    h('div', { class: 'view-head' },
      h('h1', {}, t('nav.patrol')),
      grids ? h('div', { class: 'chips' }, grids.map((g) => h('span', { class: 'chip' }, t('alert.grid_fmt', { v: g })))) : null,
      me.team && me.team.name ? h('span', { class: 'chip' }, me.team.name) : null,
      reportButton(root, { me })),
    box);

  const tabs = [
    {
      id: 'alerts', label: 'alerts.patrol',
      mount: (el) => {
        const focus = focusAlert || pendingFocus;
        pendingFocus = null;
        const listBox = h('section', { class: 'panel' });
        el.append(listBox);
        return mountAlertList(listBox, { stream, audience: 'patrol', title: t('alerts.patrol'), focus });
      },
    },
    { id: 'rounds', label: 'rounds.tab', mount: (el) => mountRounds(el, { me, pending }) },
  ];
  if (perms.includes('config:write')) tabs.push({ id: 'manage', label: 'rounds.manage', mount: (el) => mountManage(el, { navigate }) });
  const current = sub === 'p' ? 'rounds' : sub;

  // The critical banner asks the alerts tab to open an alert: from another tab, go there first.
  const onFocus = (ev) => {
    if (tabs.find((x) => x.id === current) && current && current !== 'alerts') {
      pendingFocus = ev.detail;
      navigate('alerts');
    }
  };
  window.addEventListener('anju:focus-alert', onFocus);
  const cleanup = mountTabs(box, { view: 'patrol', tabs, current, navigate, ctx });
  return () => {
    window.removeEventListener('anju:focus-alert', onFocus);
    cleanup();
  };
}
