// A list + create/edit/delete screen for simple admin resources (sites, grids,
// teams): GET path, POST path, PUT path/{id}, DELETE path/{id}.
import { h, replace, confirmButton } from '../dom.js';
import { t } from '../i18n.js';
import { api, asList } from '../api.js';
import { toast } from '../toast.js';
import { buildForm, FormError, submitting } from './form.js';

export function mountCrud(root, { path, name, columns, fields, idKey = 'id' }) {
  let stopped = false;
  const editor = h('div', { class: 'editor-box', hidden: true });
  const tbody = h('tbody', {});
  const newBtn = h('button', { type: 'button', class: 'btn primary', testid: `${name}-new` }, t('common.new'));
  replace(root,
    h('div', { class: 'section-head' }, h('h2', {}, t(`admin.${name}`)), newBtn),
    editor,
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid: `${name}-table` },
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, t(c.label))), h('th', {}))),
      tbody)));

  newBtn.addEventListener('click', () => edit(null));

  function edit(item) {
    const form = buildForm(fields, item || {}, { readonly: item ? [idKey] : [], testid: `${name}-form` });
    const err = h('div', { class: 'field-error', hidden: true, testid: `${name}-error` });
    const save = h('button', { type: 'submit', class: 'btn primary', testid: `${name}-save` }, t('common.save'));
    const cancel = h('button', { type: 'button', class: 'btn ghost' }, t('common.cancel'));
    const f = h('form', { class: 'card' }, h('h3', {}, item ? t('common.edit_x', { x: item[idKey] }) : t('common.new')), form.el, err, h('div', { class: 'form-actions' }, save, cancel));
    cancel.addEventListener('click', () => { editor.hidden = true; replace(editor); });
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      err.hidden = true;
      let body;
      try {
        body = form.value({ dropNulls: !item });
      } catch (e) {
        if (!(e instanceof FormError)) throw e;
        err.textContent = e.message;
        err.hidden = false;
        return;
      }
      await submitting(save, err, async () => {
        if (item) await api(`${path}/${encodeURIComponent(item[idKey])}`, { method: 'PUT', body, quiet: true });
        else await api(path, { method: 'POST', body, quiet: true });
        toast(t('common.saved'), 'ok', 2500);
        editor.hidden = true;
        replace(editor);
        load();
      });
    });
    replace(editor, f);
    editor.hidden = false;
    editor.scrollIntoView({ block: 'nearest' });
  }

  async function load() {
    try {
      const items = asList(await api(path));
      if (stopped) return;
      replace(tbody, items.length ? items.map((item) => h('tr', { testid: `${name}-row`, 'data-id': item[idKey] },
        columns.map((c) => h('td', {}, cell(c, item))),
        h('td', { class: 'row-actions' },
          button(t('common.edit'), () => edit(item), `${name}-edit`),
          confirmButton(t('common.delete'), t('common.confirm_delete'), async () => {
            try {
              await api(`${path}/${encodeURIComponent(item[idKey])}`, { method: 'DELETE' });
              load();
            } catch {
              // toast shown
            }
          }, { testid: `${name}-delete` }))))
        : h('tr', {}, h('td', { colspan: String(columns.length + 1), class: 'empty' }, t('common.empty'))));
    } catch (e) {
      replace(tbody, h('tr', {}, h('td', { colspan: String(columns.length + 1), class: 'error-box' }, e.message)));
    }
  }

  load();
  return () => { stopped = true; };
}

function cell(col, item) {
  const v = col.render ? col.render(item) : item[col.key];
  if (v === null || v === undefined || v === '') return '—';
  if (v instanceof Node) return v;
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function button(label, onClick, testid) {
  const b = h('button', { type: 'button', class: 'btn small', testid }, label);
  b.addEventListener('click', onClick);
  return b;
}
