// WebSockets that come back by themselves: backoff 1 s doubling to 10 s.
import { api, wsUrl } from './api.js';

export function reconnectingSocket(makeUrl, { onOpen, onMessage, onStatus } = {}) {
  let ws = null;
  let closed = false;
  let delay = 1000;
  let failures = 0;
  let everOpened = false;
  let timer = null;

  const status = (s) => onStatus && onStatus(s);

  function connect() {
    if (closed) return;
    status(failures || everOpened ? 'reconnecting' : 'connecting');
    let opened = false;
    try {
      ws = new WebSocket(makeUrl());
    } catch {
      schedule();
      return;
    }
    ws.addEventListener('open', () => {
      opened = true;
      everOpened = true;
      failures = 0;
      delay = 1000;
      status('live');
      if (onOpen) onOpen();
    });
    ws.addEventListener('message', (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return; // not ours to crash on
      }
      if (onMessage) onMessage(msg);
    });
    ws.addEventListener('close', (ev) => {
      ws = null;
      if (closed) return;
      if (!opened) failures += 1;
      // 1008: the server closed a live stream for its token (revoked or expired). A handshake
      // refused several times in a row may be that too: /me answers 401 then, and the global
      // handler sends us to login.
      if (ev.code === 1008 || failures === 3) api('/me', { quiet: true }).catch(() => {});
      schedule();
    });
  }

  function schedule() {
    if (closed) return;
    status('reconnecting');
    clearTimeout(timer);
    timer = setTimeout(connect, delay + Math.random() * 250);
    delay = Math.min(delay * 2, 10000);
  }

  // Back online after a tunnel or lift: don't wait out the backoff.
  const onOnline = () => {
    if (!ws && !closed) {
      clearTimeout(timer);
      delay = 1000;
      connect();
    }
  };
  window.addEventListener('online', onOnline);

  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      window.removeEventListener('online', onOnline);
      if (ws) ws.close();
      status('closed');
    },
  };
}

/**
 * The alert change stream, shared by every view. Keeps the highest seq seen and
 * reconnects with since=<seq> so the server replays what we missed.
 * Events: 'change' (frame), 'status' (connecting|live|reconnecting|closed),
 * 'resync' (lists should reload: first connect, or the server's seq went backwards).
 */
export function createAlertStream() {
  const listeners = { change: new Set(), status: new Set(), resync: new Set() };
  const emit = (type, arg) => listeners[type].forEach((fn) => {
    try {
      fn(arg);
    } catch (err) {
      console.error(err);
    }
  });
  let seq = null;
  let status = 'connecting';

  const socket = reconnectingSocket(
    () => wsUrl('/alerts/stream', seq === null ? {} : { since: seq }),
    {
      onStatus: (s) => {
        status = s;
        emit('status', s);
      },
      onMessage: (msg) => {
        if (!msg || typeof msg !== 'object') return;
        if (msg.type === 'hello') {
          const latest = Number(msg.seq);
          if (seq === null || (Number.isFinite(latest) && latest < seq)) {
            seq = Number.isFinite(latest) ? latest : 0;
            emit('resync');
          }
        } else if (msg.type === 'change' && msg.alert) {
          const n = Number(msg.seq);
          if (Number.isFinite(n)) {
            if (seq !== null && n <= seq) return; // replayed twice
            seq = n;
          }
          emit('change', msg);
        }
      },
    },
  );

  return {
    on(type, fn) {
      listeners[type].add(fn);
      return () => listeners[type].delete(fn);
    },
    get status() {
      return status;
    },
    close: () => socket.close(),
  };
}
