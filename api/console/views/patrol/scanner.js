// The camera scanner: the phone's back camera (getUserMedia, facingMode environment), frames decoded in the
// browser by jsQR (vendor/jsQR.js, loaded on first use), every decoded text handed to onText; it keeps
// scanning until closed, so a member walking the route just points the phone. Also reads NFC tags where the
// browser can (Web NFC, Chrome on Android): a tag holding the point's link, else its serial number.
import { h } from '../../dom.js';
import { t } from '../../i18n.js';

const FRAME_MS = 120;
const MAX_SIDE = 800; // frames are scaled down to this before decoding: enough for a code a hand's length away
let loading = null;

export function loadJsQR() {
  if (window.jsQR) return Promise.resolve(window.jsQR);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = new URL('vendor/jsQR.js', document.baseURI).href;
      script.onload = () => (window.jsQR ? resolve(window.jsQR) : reject(new Error('jsQR did not load')));
      script.onerror = () => {
        loading = null;
        reject(new Error('jsQR could not be loaded'));
      };
      document.head.append(script);
    });
  }
  return loading;
}

// Opens the scanner over `host`; returns { close }. onText(text) for each decoded code (repeats included:
// the caller decides what is new). onClose() when closed by the member.
export function openScanner(host, { onText, onClose, seen }) {
  const video = h('video', { class: 'scanner-video', testid: 'scanner-video', playsinline: true, muted: true, autoplay: true });
  video.muted = true;
  const status = h('div', { class: 'scanner-status', testid: 'scanner-status', role: 'status' }, t('rounds.camera_starting'));
  const close = h('button', { type: 'button', class: 'btn big scanner-close', testid: 'scanner-close' }, t('rounds.scan_done'));
  const panel = h('div', { class: 'scanner', role: 'dialog', 'aria-modal': 'true', testid: 'scanner' },
    h('div', { class: 'scanner-frame' }, video, h('div', { class: 'scanner-aim', 'aria-hidden': 'true' })),
    status, seen || null, close);
  host.append(panel);
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  let stream = null;
  let timer = null;
  let closed = false;

  function stop() {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    if (stream) for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
    panel.remove();
  }
  close.addEventListener('click', () => {
    stop();
    if (onClose) onClose();
  });

  function frame(jsQR) {
    if (closed) return;
    try {
      if (video.readyState >= 2 && video.videoWidth) {
        const scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
        const w = Math.round(video.videoWidth * scale);
        const ht = Math.round(video.videoHeight * scale);
        if (canvas.width !== w || canvas.height !== ht) {
          canvas.width = w;
          canvas.height = ht;
        }
        ctx.drawImage(video, 0, 0, w, ht);
        const found = jsQR(ctx.getImageData(0, 0, w, ht).data, w, ht, { inversionAttempts: 'attemptBoth' });
        if (found && found.data) onText(found.data, 'qr');
      }
    } catch (err) {
      console.error(err);
    }
    timer = setTimeout(() => frame(jsQR), FRAME_MS);
  }

  (async () => {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status.textContent = t(window.isSecureContext ? 'rounds.no_camera' : 'rounds.camera_https');
      return;
    }
    try {
      const [jsQR, media] = await Promise.all([loadJsQR(), navigator.mediaDevices.getUserMedia({
        video: { facingMode: 'environment', width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false,
      })]);
      if (closed) {
        for (const track of media.getTracks()) track.stop();
        return;
      }
      stream = media;
      video.srcObject = media;
      await video.play().catch(() => {});
      status.textContent = t('rounds.camera_ready');
      panel.dataset.ready = 'true';
      frame(jsQR);
    } catch (err) {
      status.textContent = err && err.name === 'NotAllowedError' ? t('rounds.camera_denied') : `${t('rounds.no_camera')} ${err && err.message ? err.message : ''}`;
    }
  })();
  return { close: stop, status };
}

// Web NFC (Chrome on Android): each tag read calls onTag(text, serial). Returns a stop function, or null where
// the browser has no NFC.
export function nfcAvailable() {
  return 'NDEFReader' in window;
}

export async function startNfc(onTag, onError) {
  const controller = new AbortController();
  try {
    const reader = new window.NDEFReader();
    await reader.scan({ signal: controller.signal });
    reader.addEventListener('reading', (event) => {
      let text = null;
      for (const record of event.message.records || []) {
        if (record.recordType === 'url' || record.recordType === 'text') {
          try {
            text = new TextDecoder(record.encoding || 'utf-8').decode(record.data);
          } catch {
            text = null;
          }
          if (text) break;
        }
      }
      onTag(text, event.serialNumber || '');
    });
  } catch (err) {
    if (onError) onError(err);
    return null;
  }
  return () => controller.abort();
}
