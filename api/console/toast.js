// Transient messages at the bottom of the screen (errors from the API, confirmations).
import { h } from './dom.js';

function container() {
  let box = document.getElementById('toasts');
  if (!box) {
    box = h('div', { id: 'toasts', class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(box);
  }
  return box;
}

export function toast(message, kind = 'error', ms = 5000) {
  const item = h('div', { class: ['toast', kind], testid: 'toast', 'data-kind': kind }, String(message));
  item.addEventListener('click', () => item.remove());
  container().append(item);
  setTimeout(() => item.remove(), ms);
  return item;
}
