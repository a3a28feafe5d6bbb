// API tokens: create (the secret is shown once), list, revoke.
import { h, replace, confirmButton } from '../../dom.js';
import { t, label } from '../../i18n.js';
import { api, asList } from '../../api.js';
import { absTime, relTimeEl } from '../../fmt.js';
import { buildForm, submitting } from '../../components/form.js';
import { roleOptions, teamOptions } from '../../lookups.js';
import { toast } from '../../toast.js';

const FIELDS = [
  { key: 'name', label: 'field.name', required: true },
  { key: 'role', label: 'field.role', type: 'select', required: true, options: roleOptions },
  { key: 'grids', label: 'field.grids', type: 'list', placeholder: 'grid-1, grid-2', hint: 'tok.grids_hint' },
  { key: 'team', label: 'field.team', type: 'select', options: teamOptions },
  { key: 'expires_days', label: 'tok.expires_days', type: 'number', placeholder: '365' },
];

export function mountTokens(root) {
  const formBox = h('div', {});
  const secretBox = h('div', {});
  const tbody = h('tbody', {});
  replace(root,
    h('div', { class: 'section-head' }, h('h2', {}, t('admin.tokens'))),
    secretBox, formBox,
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid: 'tokens-table' },
      h('thead', {}, h('tr', {}, ['field.name', 'field.role', 'field.grids', 'field.team', 'tok.created', 'tok.expires', 'tok.last_used'].map((k) => h('th', {}, t(k))), h('th', {}))),
      tbody)));

  function renderForm() {
    const form = buildForm(FIELDS, { role: 'patrol' }, { testid: 'token-form' });
    const err = h('div', { class: 'field-error', hidden: true });
    const save = h('button', { type: 'submit', class: 'btn primary', testid: 'token-create' }, t('tok.create'));
    const f = h('form', { class: 'card' }, h('h3', {}, t('tok.new')), form.el, err, h('div', { class: 'form-actions' }, save));
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      await submitting(save, err, async () => {
        const body = form.value({ dropNulls: true });
        const created = await api('/tokens', { method: 'POST', body, quiet: true });
        showSecret(created);
        renderForm();
        load();
      });
    });
    replace(formBox, f);
  }

  // The API never returns the secret again: make copying it easy, and obvious that it's now or never.
  function showSecret(created) {
    const secret = (created && created.token) || '';
    const field = h('input', { type: 'text', readonly: true, class: 'mono secret', testid: 'new-token', value: secret });
    const copy = h('button', { type: 'button', class: 'btn primary', testid: 'copy-token' }, t('tok.copy'));
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(secret);
      } catch {
        field.select();
        document.execCommand('copy'); // older phones and plain-http origins
      }
      toast(t('tok.copied'), 'ok', 2000);
    });
    const hide = h('button', { type: 'button', class: 'btn ghost' }, t('common.close'));
    hide.addEventListener('click', () => replace(secretBox));
    replace(secretBox, h('div', { class: 'card secret-card', testid: 'new-token-box' },
      h('strong', {}, t('tok.shown_once', { name: (created && created.name) || '' })),
      h('div', { class: 'inline-form' }, field, copy, hide)));
  }

  async function load() {
    try {
      const list = asList(await api('/tokens'));
      replace(tbody, list.length ? list.map((k) => h('tr', { testid: 'token-row', 'data-id': k.id, class: k.revoked_at ? 'dim' : '' },
        h('td', {}, k.name || k.id),
        h('td', {}, label('role', k.role)),
        h('td', { class: 'small' }, Array.isArray(k.grids) && k.grids.length ? k.grids.join(', ') : t('tok.all_grids')),
        h('td', { class: 'small' }, (k.team && typeof k.team === 'object' ? k.team.name || k.team.id : k.team) || '—'),
        h('td', { class: 'small' }, absTime(k.created_at)),
        h('td', { class: 'small' }, k.expires_at ? absTime(k.expires_at) : t('tok.never')),
        h('td', { class: 'small' }, k.last_used_at ? relTimeEl(k.last_used_at) : '—'),
        h('td', {}, k.revoked_at
          ? h('span', { class: 'badge muted', testid: 'token-revoked' }, t('tok.revoked'))
          : confirmButton(t('tok.revoke'), t('common.confirm'), async () => {
            try {
              await api(`/tokens/${encodeURIComponent(k.id)}`, { method: 'DELETE' });
              load();
            } catch {
              // toast shown
            }
          }, { testid: 'token-revoke' }))))
        : h('tr', {}, h('td', { colspan: '8', class: 'empty' }, t('common.empty'))));
    } catch (e) {
      replace(tbody, h('tr', {}, h('td', { colspan: '8', class: 'error-box' }, e.message)));
    }
  }

  renderForm();
  load();
}
