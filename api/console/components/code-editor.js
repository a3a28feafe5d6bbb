// A textarea with a line-number gutter; lines with validation errors are
// marked in the gutter and listed under the editor, each clickable.
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';

export function createCodeEditor({ value = '', testid = 'code-editor' } = {}) {
  const gutter = h('div', { class: 'gutter', 'aria-hidden': 'true' });
  const ta = h('textarea', { class: 'code-input', spellcheck: 'false', wrap: 'off', testid, autocapitalize: 'off', autocomplete: 'off' });
  const errorsBox = h('ul', { class: 'code-errors', testid: `${testid}-errors`, hidden: true });
  const el = h('div', { class: 'code-editor' }, h('div', { class: 'code-frame' }, gutter, ta), errorsBox);
  let errorLines = new Set();

  function renderGutter() {
    const n = ta.value.split('\n').length;
    if (gutter.childElementCount !== n || errorLines.size) {
      replace(gutter, Array.from({ length: n }, (_, i) => h('div', { class: errorLines.has(i + 1) ? 'ln err' : 'ln' }, String(i + 1))));
    }
    gutter.scrollTop = ta.scrollTop;
  }

  function goToLine(line) {
    const lines = ta.value.split('\n');
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    ta.focus();
    ta.setSelectionRange(start, start + (lines[line - 1] || '').length);
    const lineHeight = ta.scrollHeight / Math.max(lines.length, 1);
    ta.scrollTop = Math.max(0, (line - 3) * lineHeight);
  }

  ta.addEventListener('input', renderGutter);
  ta.addEventListener('scroll', () => { gutter.scrollTop = ta.scrollTop; });
  // Tab inserts two spaces: YAML is indentation, and leaving the field mid-edit is worse.
  ta.addEventListener('keydown', (ev) => {
    if (ev.key === 'Tab' && !ev.shiftKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      ta.setRangeText('  ', ta.selectionStart, ta.selectionEnd, 'end');
      renderGutter();
    }
  });

  ta.value = value;
  renderGutter();
  return {
    el,
    get value() {
      return ta.value;
    },
    set value(v) {
      ta.value = v;
      this.setErrors([]);
    },
    // errors: [{line, reason}]
    setErrors(errors) {
      const list = Array.isArray(errors) ? errors : [];
      errorLines = new Set(list.map((e) => Number(e && e.line)).filter((n) => n > 0));
      replace(errorsBox, list.map((e) => {
        const line = Number(e && e.line);
        const li = h('li', { class: 'code-error', testid: 'rule-error', 'data-line': line || '' },
          line ? h('button', { type: 'button', class: 'linkish' }, t('rules.line', { n: line })) : null,
          ' ', String((e && (e.reason || e.message)) ?? e));
        if (line) li.firstChild.addEventListener('click', () => goToLine(line));
        return li;
      }));
      errorsBox.hidden = !list.length;
      gutter.textContent = '';
      renderGutter();
    },
  };
}
