// Check-ins, offline first: every scan goes into a queue in localStorage (with its client_id and the phone's
// time of the scan) and is sent from there at once, or when the network returns (`online`), on the next load,
// or on a retry every 20 s. The server stores a client_id once, so sending again after a lost answer is safe.
// A refusal (wrong code, too old: 4xx) is kept as failed and shown until dismissed; a network failure or a
// server error keeps it queued.
import { api } from '../../api.js';

const KEY = 'anju.patrol.queue';
const RETRY_MS = 20000;
const listeners = new Set();
let flushing = null;
let again = false;
let timer = null;

function read() {
  try {
    const list = JSON.parse(localStorage.getItem(KEY) || '[]');
    return Array.isArray(list) ? list.filter((x) => x && typeof x.client_id === 'string') : [];
  } catch {
    return [];
  }
}

function write(list) {
  if (list.length) localStorage.setItem(KEY, JSON.stringify(list));
  else localStorage.removeItem(KEY);
}

function emit(event) {
  for (const fn of listeners) {
    try {
      fn(event);
    } catch (err) {
      console.error(err);
    }
  }
}

// crypto.randomUUID needs a secure context; a console on plain http (a community LAN) still has getRandomValues.
export function newClientId() {
  if (window.crypto && typeof window.crypto.randomUUID === 'function') return window.crypto.randomUUID();
  const b = window.crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const items = () => read();

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// A scan: queued with the phone's time now, then sent.
export function enqueue({ point, code, method = 'qr', name }) {
  const item = { client_id: newClientId(), point, code, method, name: name || point, at: new Date().toISOString(), state: 'queued' };
  write([...read(), item]);
  emit({ type: 'change' });
  flush();
  return item;
}

export function dismiss(clientId) {
  write(read().filter((x) => x.client_id !== clientId));
  emit({ type: 'change' });
}

function retryLater() {
  if (timer === null) {
    timer = setInterval(() => {
      if (!read().some((x) => x.state === 'queued')) {
        clearInterval(timer);
        timer = null;
      } else flush();
    }, RETRY_MS);
  }
}

async function sendAll() {
  for (const item of read().filter((x) => x.state === 'queued')) {
    const body = { point: item.point, code: item.code, client_id: item.client_id, at: item.at, method: item.method };
    try {
      const checkin = await api('/patrol/checkins', { method: 'POST', body, quiet: true });
      write(read().filter((x) => x.client_id !== item.client_id));
      emit({ type: 'sent', item, checkin });
    } catch (err) {
      if (!err.status || err.status >= 500 || err.status === 429 || err.status === 401) {
        retryLater(); // the network, or the server for now: keep it and stop (the rest would fail alike)
        emit({ type: 'change' });
        return;
      }
      write(read().map((x) => (x.client_id === item.client_id ? { ...x, state: 'failed', error: err.message } : x)));
      emit({ type: 'failed', item, error: err.message });
    }
    emit({ type: 'change' });
  }
}

// Send what is queued; concurrent calls share one run (and run once more if called meanwhile).
export function flush() {
  if (flushing) {
    again = true;
    return flushing;
  }
  flushing = (async () => {
    do {
      again = false;
      await sendAll();
    } while (again);
  })().finally(() => {
    flushing = null;
  });
  return flushing;
}

window.addEventListener('online', () => flush());
