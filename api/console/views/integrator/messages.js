// Watch one device's raw messages live, with the gateway's verdict on each.
import { h, replace, pretty } from '../../dom.js';
import { t, label } from '../../i18n.js';
import { api, asList, wsUrl } from '../../api.js';
import { absTime } from '../../fmt.js';
import { reconnectingSocket } from '../../ws.js';

const KEEP = 200;

export function mountMessages(root) {
  const picker = h('input', { type: 'text', list: 'device-ids', testid: 'messages-device', placeholder: t('int.pick_device'), 'aria-label': t('int.pick_device'), autocomplete: 'off' });
  const ids = h('datalist', { id: 'device-ids' });
  const watch = h('button', { type: 'submit', class: 'btn primary', testid: 'messages-watch' }, t('int.watch'));
  const pause = h('button', { type: 'button', class: 'btn', testid: 'messages-pause', 'aria-pressed': 'false' }, t('int.pause'));
  const clearBtn = h('button', { type: 'button', class: 'btn ghost', testid: 'messages-clear' }, t('int.clear'));
  const state = h('span', { class: 'conn', 'data-state': 'closed', testid: 'messages-status' }, t('conn.closed'));
  const list = h('ol', { class: 'messages', testid: 'messages-list' });
  const form = h('form', { class: 'inline-form' }, picker, ids, watch);
  replace(root,
    h('div', { class: 'section-head' }, h('h2', {}, t('int.messages')), state),
    h('div', { class: 'card' }, form, h('div', { class: 'form-actions' }, pause, clearBtn)),
    list);

  let socket = null;
  let paused = false;
  const empty = () => replace(list, h('li', { class: 'empty' }, socket ? t('int.waiting') : t('int.pick_first')));
  empty();

  api('/devices', { query: { limit: 500 }, quiet: true }).then(asList)
    .then((devs) => replace(ids, devs.map((d) => h('option', { value: d.id }, [d.name, d.kind].filter(Boolean).join(' · ')))))
    .catch(() => {});

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const id = picker.value.trim();
    if (!id) return;
    if (socket) socket.close();
    socket = reconnectingSocket(() => wsUrl(`/devices/${encodeURIComponent(id)}/messages/stream`), {
      onStatus: (s) => {
        state.dataset.state = s;
        state.textContent = t(`conn.${s}`);
      },
      onMessage: (msg) => {
        if (paused || !msg || typeof msg !== 'object' || !('topic' in msg || 'payload' in msg)) return;
        list.querySelector('.empty')?.remove();
        list.prepend(frame(msg));
        while (list.childElementCount > KEEP) list.lastChild.remove();
      },
    });
    state.dataset.device = id;
    empty();
  });
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.setAttribute('aria-pressed', String(paused));
    pause.textContent = paused ? t('int.resume') : t('int.pause');
  });
  clearBtn.addEventListener('click', empty);

  return () => {
    if (socket) socket.close();
  };
}

function frame(msg) {
  const outcome = msg.outcome || null; // absent from some servers: then say nothing rather than guess
  return h('li', { class: ['message', outcome ? `outcome-${outcome}` : ''], testid: 'message', 'data-outcome': outcome || '' },
    h('div', { class: 'message-head' },
      outcome ? h('span', { class: `badge outcome ${outcome}` }, label('outcome', outcome)) : null,
      h('span', { class: 'mono small' }, msg.topic || ''),
      msg.qos !== undefined ? h('span', { class: 'badge' }, `QoS ${msg.qos}`) : null,
      msg.size !== undefined ? h('span', { class: 'muted small' }, `${msg.size} B`) : null,
      h('span', { class: 'muted small' }, absTime(msg.received_at))),
    msg.reason ? h('div', { class: 'bad-text small' }, msg.reason) : null,
    h('pre', { class: 'code' }, pretty(msg.payload ?? '')));
}
