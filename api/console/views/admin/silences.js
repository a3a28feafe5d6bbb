// Silences and maintenance windows: quiet alerts for a scope until a time.
import { h, replace, confirmButton } from '../../dom.js';
import { t, label } from '../../i18n.js';
import { api, asList } from '../../api.js';
import { toast } from '../../toast.js';
import { absTime, relTimeEl } from '../../fmt.js';
import { buildForm, submitting } from '../../components/form.js';
import { siteOptions, gridOptions } from '../../lookups.js';

const FIELDS = [
  { key: 'kind', label: 'sil.kind', type: 'select', required: true, options: () => ['silence', 'maintenance'].map((k) => ({ value: k, label: label('silence', k) })) },
  { key: 'site', label: 'field.site', suggest: siteOptions },
  { key: 'grid', label: 'field.grid', suggest: gridOptions },
  { key: 'device', label: 'field.device' },
  { key: 'rule', label: 'field.rule' },
  { key: 'reason', label: 'sil.reason', required: true },
  { key: 'ends_at', label: 'sil.ends_at', type: 'datetime', required: true },
];

export function mountSilences(root) {
  const formBox = h('div', {});
  const tbody = h('tbody', {});
  replace(root,
    h('div', { class: 'section-head' }, h('h2', {}, t('admin.silences'))),
    formBox,
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid: 'silences-table' },
      h('thead', {}, h('tr', {}, ['sil.kind', 'sil.scope', 'sil.reason', 'sil.ends_at', 'sil.by'].map((k) => h('th', {}, t(k))), h('th', {}))),
      tbody)));

  function renderForm() {
    const form = buildForm(FIELDS, { kind: 'silence', ends_at: new Date(Date.now() + 2 * 3600000).toISOString() }, { testid: 'silence-form' });
    const err = h('div', { class: 'field-error', hidden: true });
    const save = h('button', { type: 'submit', class: 'btn primary', testid: 'silence-create' }, t('sil.create'));
    const f = h('form', { class: 'card' }, h('h3', {}, t('sil.new')), form.el, err, h('div', { class: 'form-actions' }, save));
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      await submitting(save, err, async () => {
        const body = form.value({ dropNulls: true });
        await api('/silences', { method: 'POST', body, quiet: true });
        toast(t('common.saved'), 'ok', 2500);
        renderForm();
        load();
      });
    });
    replace(formBox, f);
  }

  async function load() {
    try {
      const list = asList(await api('/silences'));
      replace(tbody, list.length ? list.map((s) => {
        const expired = s.ends_at && Date.parse(s.ends_at) < Date.now();
        return h('tr', { testid: 'silence-row', 'data-id': s.id, class: expired ? 'dim' : '' },
          h('td', {}, label('silence', s.kind)),
          h('td', { class: 'small' }, ['site', 'grid', 'device', 'rule'].filter((k) => s[k]).map((k) => `${t(`field.${k}`)}: ${s[k]}`).join(' · ') || t('sil.everything')),
          h('td', {}, s.reason || '—'),
          h('td', { class: 'small' }, absTime(s.ends_at), ' (', relTimeEl(s.ends_at), ')'),
          h('td', { class: 'small' }, s.created_by || s.by || '—'),
          h('td', {}, confirmButton(t('sil.end'), t('common.confirm'), async () => {
            try {
              await api(`/silences/${encodeURIComponent(s.id)}`, { method: 'DELETE' });
              load();
            } catch {
              // toast shown
            }
          }, { testid: 'silence-delete' })));
      }) : h('tr', {}, h('td', { colspan: '6', class: 'empty' }, t('common.empty'))));
    } catch (e) {
      replace(tbody, h('tr', {}, h('td', { colspan: '6', class: 'error-box' }, e.message)));
    }
  }

  renderForm();
  load();
}
