// Bulk import: a CSV file or pasted text, sent as-is; per-line errors shown.
import { h, replace } from '../../dom.js';
import { t } from '../../i18n.js';
import { api } from '../../api.js';

const HEADER = 'id,site,kind,grid,zone,name';

export function mountImport(root) {
  const file = h('input', { type: 'file', accept: '.csv,text/csv,text/plain', testid: 'import-file', 'aria-label': t('int.csv_file') });
  const text = h('textarea', { rows: '10', class: 'mono', testid: 'import-text', placeholder: `${HEADER}\nbtn-0901,hexie,elder_button,grid-1,,…`, 'aria-label': t('int.csv_text') });
  const submit = h('button', { type: 'button', class: 'btn primary', testid: 'import-submit' }, t('int.import_btn'));
  const result = h('div', { testid: 'import-result' });
  replace(root,
    h('div', { class: 'section-head' }, h('h2', {}, t('int.import'))),
    h('div', { class: 'card' },
      h('p', { class: 'muted' }, t('int.import_help'), ' ', h('code', {}, HEADER)),
      h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('int.csv_file')), file),
      h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('int.csv_text')), text),
      h('div', { class: 'form-actions' }, submit)),
    result);

  file.addEventListener('change', async () => {
    const f = file.files && file.files[0];
    if (f) text.value = await f.text();
  });

  submit.addEventListener('click', async () => {
    const body = text.value.trim();
    if (!body) {
      replace(result, h('div', { class: 'error-box' }, t('int.csv_empty')));
      return;
    }
    submit.disabled = true;
    try {
      const res = await api('/devices/import', { method: 'POST', body: `${body}\n`, contentType: 'text/csv', quiet: true });
      const errors = Array.isArray(res && res.errors) ? res.errors : [];
      replace(result, h('div', { class: ['card', errors.length ? 'warn-box' : 'ok-box'] },
        h('p', { testid: 'import-summary' }, t('int.import_done', { created: res?.created ?? 0, updated: res?.updated ?? 0, errors: errors.length })),
        errors.length ? h('table', { class: 'table', testid: 'import-errors' },
          h('thead', {}, h('tr', {}, h('th', {}, t('int.line')), h('th', {}, t('int.reason')))),
          h('tbody', {}, errors.map((e) => h('tr', { testid: 'import-error', 'data-line': e.line },
            h('td', { class: 'mono' }, String(e.line ?? '—')), h('td', {}, String(e.reason ?? JSON.stringify(e))))))) : null));
    } catch (e) {
      replace(result, h('div', { class: 'error-box' }, e.message));
    } finally {
      submit.disabled = false;
    }
  });
}
