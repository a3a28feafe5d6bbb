// Rules: what is active now, and the rule files kept through the API, edited
// in place with the server's validation errors shown against their lines.
import { h, replace, confirmButton, pretty } from '../../dom.js';
import { t, label } from '../../i18n.js';
import { api, asList } from '../../api.js';
import { toast } from '../../toast.js';
import { relTimeEl } from '../../fmt.js';
import { createCodeEditor } from '../../components/code-editor.js';

// Disabled until the operator has made it theirs; valid as written.
const TEMPLATE = `rules:
  - id: my-rule
    name: 示例规则 / Example
    severity: major
    audience: patrol
    enabled: false
    when:
      event: {kind: access_gate, type: tamper}
`;
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function mountRules(root) {
  const active = h('div', {});
  const files = h('div', {});
  const editorBox = h('div', {});
  replace(root,
    h('section', { class: 'card' }, h('div', { class: 'section-head' }, h('h2', {}, t('rules.files'))), files, editorBox),
    h('section', { class: 'card' }, h('h2', {}, t('rules.active')), active));

  async function loadActive() {
    try {
      const rules = asList(await api('/rules'));
      if (!rules.length) {
        replace(active, h('div', { class: 'empty' }, t('common.empty')));
        return;
      }
      const head = ['field.id', 'field.name', 'alert.severity', 'alert.audience', 'rules.enabled', 'rules.silenceable', 'rules.source'];
      replace(active, h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid: 'rules-table' },
        h('thead', {}, h('tr', {}, head.map((k) => h('th', {}, t(k))))),
        h('tbody', {}, rules.map(ruleRow)))));
    } catch (e) {
      replace(active, h('div', { class: 'error-box' }, e.message));
    }
  }

  function ruleRow(r) {
    const condition = r.condition
      ? h('details', {}, h('summary', { class: 'small' }, t('rules.condition')), h('pre', { class: 'code' }, pretty(r.condition)))
      : null;
    return h('tr', { testid: 'rule-row', 'data-id': r.id, class: r.enabled === false ? 'dim' : '' },
      h('td', { class: 'mono' }, r.id, condition),
      h('td', {}, r.name || '—'),
      h('td', {}, h('span', { class: `badge sev sev-${r.severity}` }, label('sev', r.severity))),
      h('td', {}, label('audience', r.audience)),
      h('td', {}, r.enabled === false ? t('common.no') : t('common.yes')),
      h('td', {}, r.silenceable ? t('common.yes') : t('common.no')),
      h('td', { class: 'small' }, typeof r.source === 'object' && r.source ? JSON.stringify(r.source) : (r.source || '—')));
  }

  async function loadFiles() {
    let list;
    try {
      list = asList(await api('/rules/files'));
    } catch (e) {
      replace(files, h('div', { class: 'error-box' }, e.message));
      return;
    }
    const newName = h('input', { type: 'text', placeholder: 'site-rules', testid: 'rule-file-name', 'aria-label': t('rules.new_file') });
    const create = h('button', { type: 'submit', class: 'btn', testid: 'rule-file-new' }, t('rules.new_file'));
    const fromPack = h('button', { type: 'button', class: 'btn ghost', testid: 'rule-file-from-pack' }, t('rules.from_pack'));
    const nameErr = h('div', { class: 'field-error', hidden: true });
    const newForm = h('form', { class: 'inline-form' }, newName, create, fromPack);
    const pickName = () => {
      const name = newName.value.trim();
      nameErr.hidden = NAME.test(name);
      nameErr.textContent = t('rules.bad_name');
      return nameErr.hidden ? name : null;
    };
    newForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const name = pickName();
      if (name) openEditor(name, TEMPLATE, true);
    });
    // The built-in pack is the reference example: copying it is the usual start.
    fromPack.addEventListener('click', async () => {
      const name = pickName();
      if (!name) return;
      try {
        const pack = await api('/rules/builtin');
        openEditor(name, (pack && pack.content) || TEMPLATE, true);
      } catch {
        // toast shown
      }
    });
    replace(files,
      list.length ? h('ul', { class: 'file-list', testid: 'rule-files' }, list.map((f) => {
        const open = h('button', { type: 'button', class: 'btn small', testid: 'rule-file-open', 'data-name': f.name }, t('common.edit'));
        open.addEventListener('click', () => loadFile(f.name));
        return h('li', { 'data-name': f.name },
          h('span', { class: 'mono' }, f.name),
          h('span', { class: 'muted small' }, f.updated_by || '', ' ', relTimeEl(f.updated_at)),
          open);
      })) : h('div', { class: 'empty' }, t('rules.no_files')),
      newForm, nameErr);
  }

  async function loadFile(name) {
    try {
      const file = await api(`/rules/files/${encodeURIComponent(name)}`);
      openEditor(name, (file && file.content) || '', false);
    } catch {
      // toast shown
    }
  }

  function openEditor(name, content, isNew) {
    const editor = createCodeEditor({ value: content, testid: 'rule-editor' });
    const save = h('button', { type: 'button', class: 'btn primary', testid: 'rule-save' }, t('common.save'));
    const close = h('button', { type: 'button', class: 'btn ghost' }, t('common.close'));
    const del = isNew ? null : confirmButton(t('common.delete'), t('common.confirm_delete'), async () => {
      try {
        await api(`/rules/files/${encodeURIComponent(name)}`, { method: 'DELETE' });
        replace(editorBox);
        refresh();
      } catch {
        // toast shown
      }
    }, { testid: 'rule-delete' });
    save.addEventListener('click', async () => {
      save.disabled = true;
      try {
        await api(`/rules/files/${encodeURIComponent(name)}`, { method: 'PUT', body: { content: editor.value }, quiet: true });
        editor.setErrors([]);
        toast(t('rules.saved'), 'ok', 2500);
        if (isNew) openEditor(name, editor.value, false); // now it exists: offer delete
        loadFiles();
        setTimeout(loadActive, 1500); // the server makes a stored file live within a second
      } catch (e) {
        const errors = e.detail && Array.isArray(e.detail.errors) ? e.detail.errors : null;
        if (e.status === 422 && errors) editor.setErrors(errors);
        else editor.setErrors([{ reason: e.message }]);
      } finally {
        save.disabled = false;
      }
    });
    close.addEventListener('click', () => replace(editorBox));
    replace(editorBox, h('div', { class: 'rule-editor', 'data-name': name },
      h('h3', { class: 'mono' }, name), editor.el, h('div', { class: 'form-actions' }, save, close, del)));
  }

  function refresh() {
    loadActive();
    loadFiles();
  }
  refresh();
}
