// Small declarative forms for the integrator and admin screens.
// Field: {key, label (i18n key), type, required, options, suggest, placeholder, fields (rows), hint}
// Types: text, number, select, textarea, json, list (comma separated → array),
// lines (one per line → array, [] when empty: notification targets, whose URLs may hold commas),
// time, datetime, days, checkbox, rows (a list of sub-forms, e.g. roster entries).
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';

export class FormError extends Error {}

// Runs a form's submit action: hides the last error, keeps the button disabled
// while it runs, and shows the failure's message in errorEl.
export async function submitting(button, errorEl, action) {
  errorEl.hidden = true;
  button.disabled = true;
  try {
    await action();
  } catch (e) {
    errorEl.textContent = e.message;
    errorEl.hidden = false;
  } finally {
    button.disabled = false;
  }
}

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

export function buildForm(fields, initial = {}, { readonly = [], testid } = {}) {
  const getters = [];
  const el = h('div', { class: 'form-grid', testid });
  for (const field of fields) {
    const { node, get } = buildField(field, initial ? initial[field.key] : undefined, readonly.includes(field.key));
    el.append(node);
    getters.push([field, get]);
  }
  return {
    el,
    // Starts from the initial object so fields the form doesn't know are sent back unchanged.
    // dropNulls: for creation, leave empty optional fields out instead of sending null.
    value({ dropNulls = false } = {}) {
      const out = { ...(initial || {}) };
      for (const [field, get] of getters) {
        const v = get();
        if (field.required && (v === null || v === '' || (Array.isArray(v) && !v.length && field.type !== 'rows'))) {
          throw new FormError(t('form.required', { field: t(field.label) }));
        }
        if (v === undefined || (dropNulls && v === null)) delete out[field.key];
        else out[field.key] = v;
      }
      return out;
    },
  };
}

function buildField(field, value, readonly) {
  const id = `f-${field.key}-${Math.random().toString(36).slice(2, 8)}`;
  const testid = field.testid || `field-${field.key}`;
  const wrap = (input, extra) => h('label', { class: ['field', `field-${field.type || 'text'}`], for: id },
    h('span', { class: 'field-label' }, t(field.label), field.required ? ' *' : ''), input,
    field.hint ? h('span', { class: 'muted small' }, t(field.hint)) : null, extra);
  const blank = (v) => (v === '' ? null : v);
  switch (field.type) {
    case 'select': {
      const sel = h('select', { id, testid, disabled: readonly });
      const fill = (opts) => {
        const list = opts.map((o) => (typeof o === 'object' ? o : { value: o, label: o }));
        if (value && !list.some((o) => String(o.value) === String(value))) list.push({ value, label: String(value) });
        replace(sel, field.required ? null : h('option', { value: '' }, '—'),
          list.map((o) => h('option', { value: o.value }, o.label)));
        sel.value = value ?? (field.required && list[0] ? list[0].value : '');
      };
      if (typeof field.options === 'function') {
        fill(value ? [value] : []);
        Promise.resolve(field.options()).then(fill).catch(() => {});
      } else fill(field.options || []);
      return { node: wrap(sel), get: () => blank(sel.value) };
    }
    case 'textarea':
    case 'json': {
      const initialText = field.type === 'json' && value !== undefined && value !== null ? JSON.stringify(value, null, 2) : (value ?? '');
      const ta = h('textarea', { id, testid, rows: field.rows || 4, placeholder: field.placeholder || '', readonly, class: field.type === 'json' ? 'mono' : '' });
      ta.value = initialText;
      return {
        node: wrap(ta),
        get: () => {
          const text = ta.value.trim();
          if (field.type !== 'json') return blank(text);
          if (!text) return null;
          try {
            return JSON.parse(text);
          } catch {
            throw new FormError(t('form.bad_json', { field: t(field.label) }));
          }
        },
      };
    }
    case 'lines': {
      const ta = h('textarea', { id, testid, rows: field.rows || 2, placeholder: field.placeholder || '', readonly, class: 'mono', spellcheck: 'false', autocomplete: 'off' });
      ta.value = Array.isArray(value) ? value.join('\n') : (value ?? '');
      return { node: wrap(ta), get: () => ta.value.split('\n').map((line) => line.trim()).filter(Boolean) };
    }
    case 'checkbox': {
      const cb = h('input', { id, type: 'checkbox', testid, checked: !!value, disabled: readonly });
      return { node: h('label', { class: 'field field-checkbox', for: id }, cb, h('span', {}, t(field.label))), get: () => cb.checked };
    }
    case 'days': {
      const set = new Set(Array.isArray(value) ? value : []);
      const boxes = DAYS.map((d) => h('input', { type: 'checkbox', value: d, checked: set.has(d), testid: `${testid}-${d}` }));
      const node = h('fieldset', { class: 'field days' }, h('legend', {}, t(field.label)),
        h('div', { class: 'days-row' }, boxes.map((b) => h('label', { class: 'day' }, b, t(`day.${b.value}`)))),
        h('span', { class: 'muted small' }, t('form.days_hint')));
      return { node, get: () => { const v = boxes.filter((b) => b.checked).map((b) => b.value); return v.length ? v : null; } };
    }
    case 'rows':
      return rowsField(field, value, testid);
    default: {
      const type = { number: 'number', time: 'time', datetime: 'datetime-local' }[field.type] || 'text';
      let shown = value;
      if (field.type === 'list' && Array.isArray(value)) shown = value.join(', ');
      if (field.type === 'datetime' && value) shown = toLocalInput(value);
      const input = h('input', { id, type, testid, placeholder: field.placeholder || '', readonly, autocomplete: 'off' });
      if (shown !== undefined && shown !== null) input.value = String(shown);
      // suggest: free text with remembered values offered (a role that can't
      // read the list can still type the value).
      let datalist = null;
      if (field.suggest) {
        datalist = h('datalist', { id: `${id}-list` });
        input.setAttribute('list', datalist.id);
        Promise.resolve(field.suggest()).then((opts) => replace(datalist, opts.map((o) => h('option', { value: typeof o === 'object' ? o.value : o }, typeof o === 'object' ? o.label : o)))).catch(() => {});
      }
      return {
        node: wrap(input, datalist),
        get: () => {
          const text = input.value.trim();
          if (!text) return null;
          if (field.type === 'number') return Number(text);
          if (field.type === 'list') return text.split(/[,，\s]+/).filter(Boolean);
          if (field.type === 'datetime') return new Date(text).toISOString();
          return text;
        },
      };
    }
  }
}

function rowsField(field, value, testid) {
  const rows = [];
  const list = h('div', { class: 'rows' });
  const add = h('button', { type: 'button', class: 'btn small', testid: `${testid}-add` }, t('form.add_row'));
  const node = h('fieldset', { class: 'field rows-field', testid }, h('legend', {}, t(field.label)), list, add);
  const addRow = (v) => {
    const form = buildForm(field.fields, v || {});
    const remove = h('button', { type: 'button', class: 'btn small ghost', testid: `${testid}-remove`, 'aria-label': t('form.remove_row') }, '✕');
    const row = h('div', { class: 'row-item' }, form.el, remove);
    const entry = { row, form };
    remove.addEventListener('click', () => {
      row.remove();
      rows.splice(rows.indexOf(entry), 1);
    });
    rows.push(entry);
    list.append(row);
  };
  (Array.isArray(value) ? value : []).forEach(addRow);
  add.addEventListener('click', () => addRow({}));
  return { node, get: () => rows.map((r) => r.form.value()) };
}

export function toLocalInput(value) {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
