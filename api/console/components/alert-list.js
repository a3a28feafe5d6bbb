// The live alert list shared by the patrol and maintenance views: loaded over
// REST, kept current by the alert stream, items updated in place so a note
// being typed into one card survives changes to the others.
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { api, asList } from '../api.js';
import { onDevices, resolveDevicesFor } from '../store.js';
import { createAlertItem } from './alert-item.js';

const RESOLVED_SHOWN = 20;
const RESOLVED_WINDOW_MS = 24 * 3600 * 1000;

const time = (v) => {
  const n = Date.parse(v || '');
  return Number.isNaN(n) ? 0 : n;
};

// Active before resolved; among active, critical first and open before
// acknowledged, so the newest open critical alert is always on top.
function order(a, b) {
  const ra = a.state === 'resolved' ? 1 : 0;
  const rb = b.state === 'resolved' ? 1 : 0;
  if (ra !== rb) return ra - rb;
  if (ra) return time(b.resolved_at || b.updated_at) - time(a.resolved_at || a.updated_at);
  const ca = a.severity === 'critical' ? 0 : 1;
  const cb = b.severity === 'critical' ? 0 : 1;
  if (ca !== cb) return ca - cb;
  const oa = a.state === 'open' ? 0 : 1;
  const ob = b.state === 'open' ? 0 : 1;
  if (oa !== ob) return oa - ob;
  return time(b.created_at) - time(a.created_at);
}

export function mountAlertList(root, { stream, audience, title, focus }) {
  const alerts = new Map();
  const items = new Map();
  const counter = h('span', { class: 'badge count', testid: 'alert-active-count' }, '0');
  const list = h('ul', { class: 'alert-list', testid: 'alert-list', 'data-audience': audience || '' });
  const status = h('div', { class: 'list-status' });
  replace(root, h('div', { class: 'section-head' }, h('h2', {}, title || t('alerts.title')), counter), status, list);

  const accepts = (a) => a && a.id && (!audience || !a.audience || a.audience === audience);

  function upsert(alert) {
    if (!accepts(alert)) return;
    alerts.set(alert.id, { ...alerts.get(alert.id), ...alert });
  }

  function render() {
    const now = Date.now();
    const sorted = [...alerts.values()].sort(order);
    const active = sorted.filter((a) => a.state !== 'resolved');
    const resolved = sorted.filter((a) => a.state === 'resolved'
      && now - time(a.resolved_at || a.updated_at) < RESOLVED_WINDOW_MS).slice(0, RESOLVED_SHOWN);
    const shown = [...active, ...resolved];
    counter.textContent = String(active.length);
    const keep = new Set(shown.map((a) => a.id));
    for (const a of sorted) if (!keep.has(a.id)) alerts.delete(a.id); // old resolved ones
    for (const [id, item] of items) {
      if (!keep.has(id)) {
        item.el.remove();
        items.delete(id);
      }
    }
    list.querySelector('.empty')?.remove();
    shown.forEach((alert, i) => {
      let item = items.get(alert.id);
      if (!item) {
        item = createAlertItem(alert, { onChange: (a) => { upsert(a); render(); } });
        items.set(alert.id, item);
      } else if (item.alert !== alert) {
        item.update(alert);
      }
      // Only move nodes that are out of place: moving a node steals focus.
      if (list.children[i] !== item.el) list.insertBefore(item.el, list.children[i] || null);
    });
    if (!shown.length) list.append(h('li', { class: 'empty', testid: 'alert-empty' }, t('alerts.empty')));
    resolveDevicesFor(active);
  }

  async function load() {
    status.textContent = t('common.loading');
    const q = (state, limit) => api('/alerts', { query: { state, audience, limit } }).then(asList);
    try {
      const [open, acked, resolved] = await Promise.all([q('open', 100), q('acknowledged', 100), q('resolved', RESOLVED_SHOWN)]);
      const fresh = new Map();
      for (const a of [...open, ...acked, ...resolved]) if (accepts(a)) fresh.set(a.id, a);
      // Keep stream updates newer than the REST snapshot.
      for (const [id, a] of alerts) {
        const f = fresh.get(id);
        if (!f || time(a.updated_at) > time(f.updated_at)) fresh.set(id, a);
      }
      alerts.clear();
      fresh.forEach((a, id) => alerts.set(id, a));
      status.textContent = '';
      render();
      if (focus) {
        onFocus({ detail: focus });
        focus = null;
      }
    } catch (err) {
      replace(status, h('div', { class: 'error-box' }, err.message));
    }
  }

  const offs = [
    stream.on('change', (msg) => {
      upsert(msg.alert);
      render();
    }),
    stream.on('resync', load),
    onDevices(() => items.forEach((item) => item.refresh())),
  ];
  const onFocus = (ev) => {
    const item = items.get(ev.detail);
    if (item) {
      item.expand();
      item.el.scrollIntoView({ block: 'start', behavior: 'smooth' });
    }
  };
  window.addEventListener('anju:focus-alert', onFocus);

  load();
  return () => {
    offs.forEach((off) => off());
    window.removeEventListener('anju:focus-alert', onFocus);
  };
}
