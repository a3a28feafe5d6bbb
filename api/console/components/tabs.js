// Second-level tabs inside a view; the choice lives in the URL hash
// (#/admin/tokens) so reload and the back button keep it.
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';

export function mountTabs(root, { view, tabs, current, navigate, ctx }) {
  const active = tabs.find((tab) => tab.id === current) || tabs[0];
  const body = h('div', { class: 'tab-body', testid: `${view}-${active.id}` });
  const bar = h('nav', { class: 'subtabs', role: 'tablist' }, tabs.map((tab) => {
    const b = h('button', {
      type: 'button', role: 'tab', class: 'subtab', testid: `tab-${tab.id}`, 'aria-selected': String(tab.id === active.id),
    }, t(tab.label));
    b.addEventListener('click', () => navigate(tab.id));
    return b;
  }));
  replace(root, bar, body);
  const cleanup = active.mount(body, ctx);
  return typeof cleanup === 'function' ? cleanup : () => {};
}

// A whole view made of sub-tabs: its title, then the tabs chosen by ctx.sub.
export function mountTabView(root, ctx, { view, title, tabs }) {
  const box = h('div', {});
  replace(root, h('div', { class: 'view-head' }, h('h1', {}, t(title))), box);
  return mountTabs(box, { view, tabs, current: ctx.sub, navigate: ctx.navigate, ctx });
}
