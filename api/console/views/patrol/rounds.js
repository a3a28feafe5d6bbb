// The Rounds tab (巡更), phone first: the last day's rounds of my team with each point's state, a big Scan
// button (camera, continuous), NFC where the phone has it, the code typed in as a fallback, and the check-ins
// waiting to be sent (offline first: views/patrol/queue.js).
import { h, replace } from '../../dom.js';
import { t } from '../../i18n.js';
import { api, asList } from '../../api.js';
import { toast } from '../../toast.js';
import { absTime } from '../../fmt.js';
import * as queue from './queue.js';
import { openScanner, nfcAvailable, startNfc } from './scanner.js';

const REFRESH_MS = 15000;
const REPEAT_MS = 30000; // the same point seen again within this is the same scan (the camera sees it many times)
const REF = /(?:^|\/p\/)([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{1,64})\/?$/;

// (point, code) from a scanned text: the QR code's link (any host) or a bare `point.code`.
export function parseRef(text) {
  const m = String(text || '').trim().split('#')[0].split('?')[0].match(REF);
  return m ? { point: m[1], code: m[2] } : null;
}

const hm = (iso) => {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '—' : `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
};

function vibrate(ms) {
  try {
    if (navigator.vibrate) navigator.vibrate(ms);
  } catch {
    // not allowed before a gesture on some browsers
  }
}

export function mountRounds(root, { me, pending }) {
  const canCheckIn = Array.isArray(me.permissions) && me.permissions.includes('rounds:checkin');
  const names = new Map();
  const recent = new Map(); // point.code → when it was last taken from the camera
  let stopped = false;
  let scanner = null;
  let stopNfc = null;
  let timer = null;

  const queueBox = h('div', { class: 'checkin-queue', testid: 'checkin-queue', hidden: true });
  const list = h('div', { class: 'round-list', testid: 'round-list' }, h('div', { class: 'muted' }, t('common.loading')));
  const staleBox = h('div', { class: 'muted small', testid: 'rounds-stale', hidden: true });
  const seenList = h('ol', { class: 'scanner-seen', testid: 'scanner-seen' });
  const scanBtn = h('button', { type: 'button', class: 'btn primary big scan-open', testid: 'scan-open' }, t('rounds.scan'));
  const nfcBtn = nfcAvailable() ? h('button', { type: 'button', class: 'btn big', testid: 'nfc-open' }, t('rounds.nfc')) : null;
  const manualInput = h('input', { type: 'text', testid: 'manual-code', autocomplete: 'off', spellcheck: 'false', placeholder: t('rounds.manual_placeholder') });
  const manualForm = h('form', { class: 'inline-form manual-checkin', testid: 'manual-form' }, manualInput,
    h('button', { type: 'submit', class: 'btn' }, t('rounds.manual_send')));
  const actions = canCheckIn
    ? h('div', { class: 'rounds-actions' }, scanBtn, nfcBtn,
      h('details', { class: 'manual-box' }, h('summary', {}, t('rounds.manual')), manualForm))
    : null;
  replace(root,
    h('section', { class: 'panel rounds-panel' },
      h('div', { class: 'section-head' }, h('h2', {}, t('rounds.title')),
        h('button', { type: 'button', class: 'btn ghost small', testid: 'rounds-refresh', onClick: () => load() }, t('common.refresh'))),
      actions, queueBox, staleBox, list));

  function take(text, method) {
    const ref = parseRef(text);
    if (!ref) {
      if (scanner) scanner.status.textContent = t('rounds.not_a_point');
      return false;
    }
    const key = `${ref.point}.${ref.code}`;
    const now = Date.now();
    if (now - (recent.get(key) || 0) < REPEAT_MS) return false;
    recent.set(key, now);
    const name = names.get(ref.point) || ref.point;
    queue.enqueue({ ...ref, method, name });
    vibrate(120);
    toast(t('rounds.scanned', { name }), 'ok', 2500);
    if (scanner) scanner.status.textContent = t('rounds.scanned', { name });
    seenList.prepend(h('li', { testid: 'scanner-seen-item', 'data-point': ref.point }, `✓ ${name} · ${hm(new Date().toISOString())}`));
    return true;
  }

  scanBtn.addEventListener('click', () => {
    if (scanner) return;
    replace(seenList);
    scanner = openScanner(document.body, {
      onText: (text) => take(text, 'qr'),
      onClose: () => {
        scanner = null;
        load();
      },
      seen: seenList,
    });
  });
  if (nfcBtn) {
    nfcBtn.addEventListener('click', async () => {
      if (stopNfc) return;
      stopNfc = await startNfc((text, serial) => {
        if (text && parseRef(text)) take(text, 'nfc');
        else if (serial) {
          queue.enqueue({ point: null, code: serial, method: 'nfc', name: serial });
          vibrate(120);
          toast(t('rounds.scanned', { name: serial }), 'ok', 2500);
        }
      }, (err) => toast(`${t('rounds.nfc_failed')} ${err && err.message ? err.message : ''}`));
      if (stopNfc) {
        nfcBtn.textContent = t('rounds.nfc_on');
        nfcBtn.disabled = true;
      }
    });
  }
  manualForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const ref = parseRef(manualInput.value);
    if (!ref) {
      toast(t('rounds.not_a_point'));
      return;
    }
    queue.enqueue({ ...ref, method: 'manual', name: names.get(ref.point) || ref.point });
    manualInput.value = '';
  });

  function renderQueue() {
    const waiting = queue.items();
    queueBox.hidden = !waiting.length;
    if (!waiting.length) {
      replace(queueBox);
      return;
    }
    const queued = waiting.filter((x) => x.state === 'queued').length;
    replace(queueBox,
      h('div', { class: 'queue-head' }, h('strong', {}, t('rounds.queued', { n: queued })),
        h('span', { class: 'muted small' }, navigator.onLine === false ? t('rounds.offline') : t('rounds.sending')),
        queued ? h('button', { type: 'button', class: 'btn small', testid: 'queue-send', onClick: () => queue.flush() }, t('rounds.send_now')) : null),
      h('p', { class: 'muted small' }, t('rounds.keep_logged_in')),
      h('ul', { class: 'queue-items' }, waiting.map((x) => h('li', {
        testid: 'queued-item', 'data-point': x.point || '', 'data-state': x.state, class: x.state === 'failed' ? 'bad-text' : '',
      }, `${x.state === 'failed' ? '✗' : '…'} ${names.get(x.point) || x.name || x.point} · ${hm(x.at)}`,
      x.state === 'failed' ? [' — ', x.error || '', ' ', h('button', { type: 'button', class: 'btn small ghost', onClick: () => queue.dismiss(x.client_id) }, t('common.close'))] : null))));
  }

  function pointRow(p) {
    const icon = { checked: '✓', late: '✓', missed: '✗', pending: '○' }[p.state] || '○';
    const when = p.at ? `${hm(p.at)}${p.member ? ` · ${p.member}` : ''}` : t('rounds.by', { time: hm(p.deadline) });
    return h('li', { class: ['round-point', `rp-${p.state}`], testid: 'round-point', 'data-point': p.point, 'data-state': p.state },
      h('span', { class: 'rp-icon', 'aria-hidden': 'true' }, icon),
      h('span', { class: 'rp-name' }, p.name),
      h('span', { class: 'rp-state' }, t(`rounds.point.${p.state}`)),
      h('span', { class: 'rp-when muted small' }, when));
  }

  function roundCard(r) {
    return h('article', { class: ['card', 'round-card', `round-${r.state}`], testid: 'round-card', 'data-round-id': String(r.id), 'data-route': r.route, 'data-state': r.state },
      h('div', { class: 'round-head' },
        h('strong', { class: 'round-name' }, r.route_name || r.route),
        h('span', { class: 'muted' }, `${hm(r.starts_at)}–${hm(r.due_at)}`),
        h('span', { class: `badge round-state rs-${r.state}`, testid: 'round-state' }, t(`rounds.state.${r.state}`)),
        h('span', { class: 'badge count', testid: 'round-progress' }, `${r.checked}/${r.total}`)),
      r.team_name ? h('div', { class: 'muted small' }, r.team_name, r.members && r.members.length ? ` · ${r.members.join(', ')}` : '') : null,
      h('ol', { class: 'round-points' }, (r.points || []).map(pointRow)),
      r.completed_at ? h('div', { class: 'muted small' }, t('rounds.completed_at', { time: absTime(r.completed_at) })) : null);
  }

  async function load() {
    clearTimeout(timer);
    try {
      const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
      const rounds = asList(await api('/patrol/rounds', { query: { since, limit: 50 }, quiet: true }));
      if (stopped) return;
      const open = rounds.filter((r) => r.state === 'open');
      const closed = rounds.filter((r) => r.state !== 'open');
      staleBox.hidden = true;
      replace(list, rounds.length ? [...open, ...closed].map(roundCard) : h('div', { class: 'empty', testid: 'rounds-empty' }, t('rounds.none')));
    } catch (err) {
      // Offline: the last rounds shown stay (with a word why they may be stale); only a first load shows the error.
      if (!stopped && !list.querySelector('[data-testid=round-card]')) replace(list, h('div', { class: 'error-box' }, err.message));
      else if (!stopped) replace(staleBox, err.message);
      if (!stopped) staleBox.hidden = false;
    }
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  }

  const unsubscribe = queue.subscribe((event) => {
    if (stopped) return;
    renderQueue();
    if (event.type === 'sent') {
      const c = event.checkin || {};
      if (c.completed) toast(t('rounds.round_done'), 'ok', 4000);
      else if (c.round === null) toast(t('rounds.outside', { name: c.point_name || c.point }), 'ok', 3000);
      load();
    } else if (event.type === 'failed') {
      toast(`${event.item.name || event.item.point}: ${event.error}`);
    }
  });
  const onNetwork = () => renderQueue();
  window.addEventListener('online', onNetwork);
  window.addEventListener('offline', onNetwork);

  api('/patrol/points', { quiet: true }).then((points) => {
    for (const p of asList(points)) names.set(p.id, p.name);
    renderQueue();
  }).catch(() => {});
  renderQueue();
  load();
  if (pending) take(pending, 'qr'); // opened from a point's link (a phone's own camera app)
  queue.flush();

  return () => {
    stopped = true;
    clearTimeout(timer);
    unsubscribe();
    window.removeEventListener('online', onNetwork);
    window.removeEventListener('offline', onNetwork);
    if (scanner) scanner.close();
    if (stopNfc) stopNfc();
  };
}
