// Tiny DOM helpers. Everything goes through textContent / properties, never
// innerHTML, so data from devices (names, payloads) can't inject markup.

export function h(tag, props, ...children) {
  const el = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'class') {
      el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    } else if (key === 'testid') {
      el.dataset.testid = value;
    } else if (['value', 'checked', 'disabled', 'hidden', 'selected', 'multiple'].includes(key)) {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

// A delete/revoke button that asks "sure?" in place (no window.confirm: a
// headless test would auto-dismiss it, and it is ugly on phones).
export function confirmButton(label, confirmLabel, onConfirm, props = {}) {
  let armed = false;
  let timer = null;
  const btn = h('button', { type: 'button', class: 'btn danger small', ...props }, label);
  btn.addEventListener('click', async (ev) => {
    ev.stopPropagation();
    if (!armed) {
      armed = true;
      btn.textContent = confirmLabel;
      btn.classList.add('armed');
      timer = setTimeout(() => {
        armed = false;
        btn.textContent = label;
        btn.classList.remove('armed');
      }, 4000);
      return;
    }
    clearTimeout(timer);
    btn.disabled = true;
    try {
      await onConfirm();
    } finally {
      btn.disabled = false;
      armed = false;
      btn.textContent = label;
      btn.classList.remove('armed');
    }
  });
  return btn;
}

export function pretty(value) {
  if (typeof value === 'string') {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

// A sheet (a modal panel) closes on Escape, on its close button, or on a click on the backdrop around it;
// `done` closes it, and calls what this returns to stop listening for Escape.
export function closesOn(sheet, closeButton, done) {
  const onKey = (ev) => {
    if (ev.key === 'Escape') done();
  };
  document.addEventListener('keydown', onKey);
  closeButton.addEventListener('click', done);
  sheet.addEventListener('click', (ev) => {
    if (ev.target === sheet) done();
  });
  return () => document.removeEventListener('keydown', onKey);
}
