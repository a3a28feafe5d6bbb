// Watchlists (blacklist plates, watched persons, residents' plates): entries
// added and removed one by one.
import { h, replace, confirmButton } from '../../dom.js';
import { t } from '../../i18n.js';
import { api, asList } from '../../api.js';
import { relTimeEl } from '../../fmt.js';

const KNOWN = ['blacklist', 'watchlist', 'residents'];

export function mountWatchlists(root) {
  const box = h('div', {});
  replace(root, h('div', { class: 'section-head' }, h('h2', {}, t('admin.watchlists'))), h('p', { class: 'muted' }, t('wl.help')), box);

  async function load() {
    let lists;
    try {
      lists = asList(await api('/watchlists'));
    } catch (e) {
      replace(box, h('div', { class: 'error-box' }, e.message));
      return;
    }
    const names = new Set(lists.map((l) => l.list));
    // The built-in rules use these lists even while empty: offer them anyway.
    for (const k of KNOWN) if (!names.has(k)) lists.push({ list: k, entries: [] });
    replace(box, lists.map(renderList), addForm(null));
  }

  function renderList(wl) {
    const entries = Array.isArray(wl.entries) ? wl.entries : [];
    return h('section', { class: 'card', testid: 'watchlist', 'data-list': wl.list },
      h('h3', {}, wl.list, ' ', h('span', { class: 'badge count' }, String(entries.length))),
      h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
        h('thead', {}, h('tr', {}, h('th', {}, t('wl.value')), h('th', {}, t('wl.note')), h('th', {}, t('wl.added')), h('th', {}))),
        h('tbody', {}, entries.length ? entries.map((e) => h('tr', { testid: 'watchlist-entry', 'data-value': e.value },
          h('td', { class: 'mono' }, String(e.value)),
          h('td', {}, e.note || '—'),
          h('td', { class: 'small' }, e.added_by || '', ' ', relTimeEl(e.added_at)),
          h('td', {}, confirmButton(t('common.delete'), t('common.confirm_delete'), async () => {
            try {
              await api(`/watchlists/${encodeURIComponent(wl.list)}/entries/${encodeURIComponent(e.value)}`, { method: 'DELETE' });
              load();
            } catch {
              // toast shown
            }
          }, { testid: 'watchlist-delete' }))))
          : h('tr', {}, h('td', { colspan: '4', class: 'empty' }, t('common.empty')))))),
      addForm(wl.list));
  }

  // list === null: the form also asks for the list name, to start a new list.
  function addForm(list) {
    const name = list ? null : h('input', { type: 'text', placeholder: t('wl.list'), testid: 'watchlist-new-list', 'aria-label': t('wl.list') });
    const value = h('input', { type: 'text', placeholder: t('wl.value'), testid: 'watchlist-value', required: true, 'aria-label': t('wl.value') });
    const note = h('input', { type: 'text', placeholder: t('wl.note'), testid: 'watchlist-note', 'aria-label': t('wl.note') });
    const add = h('button', { type: 'submit', class: 'btn primary', testid: 'watchlist-add' }, list ? t('wl.add') : t('wl.add_to_new'));
    const f = h('form', { class: ['inline-form', list ? '' : 'card'] }, name, value, note, add);
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const target = list || name.value.trim();
      if (!target || !value.value.trim()) return;
      add.disabled = true;
      try {
        const body = { value: value.value.trim() };
        if (note.value.trim()) body.note = note.value.trim();
        await api(`/watchlists/${encodeURIComponent(target)}/entries`, { method: 'POST', body });
        load();
      } catch {
        add.disabled = false;
      }
    });
    return f;
  }

  load();
}
