// The flashing strip across the top when a critical alert arrives; it stays
// until the alert is acknowledged (here or anywhere else) or dismissed.
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { api } from '../api.js';
import { beep, vibrate } from '../alarm.js';
import { getDevice } from '../store.js';
import { formatLocation } from '../fmt.js';

const RAISING = new Set(['created', 'repeated', 'escalated', 'reminded']);
const REPEAT_MS = 15000;

export function createCriticalBanner(el, { stream, audiences, onShow }) {
  const pending = new Map();
  let repeat = null;

  function render() {
    if (!pending.size) {
      el.hidden = true;
      el.classList.remove('flashing');
      replace(el);
      clearInterval(repeat);
      repeat = null;
      return;
    }
    const alerts = [...pending.values()];
    const alert = alerts[alerts.length - 1];
    const device = getDevice(alert.device_id);
    const where = formatLocation(device && device.location, zoneOf(alert) || (device && device.zone));
    el.dataset.alertId = alert.id;
    el.hidden = false;
    el.classList.add('flashing');
    const ack = h('button', { type: 'button', class: 'btn banner-btn', testid: 'banner-ack' }, t('alert.ack'));
    ack.addEventListener('click', async () => {
      ack.disabled = true;
      try {
        await api(`/alerts/${encodeURIComponent(alert.id)}/ack`, { method: 'POST', body: {} });
        pending.delete(alert.id);
        render();
      } catch {
        ack.disabled = false;
      }
    });
    const dismiss = h('button', { type: 'button', class: 'btn banner-btn ghost', testid: 'banner-dismiss', 'aria-label': t('banner.dismiss') }, t('banner.dismiss'));
    dismiss.addEventListener('click', () => {
      pending.clear();
      render();
    });
    const text = h('button', { type: 'button', class: 'banner-text', testid: 'banner-show' },
      h('strong', {}, `${t('banner.critical')} `),
      alert.title || alert.rule || alert.id,
      where ? ` · ${where}` : '',
      device && device.name && !(alert.title || '').includes(device.name) ? ` · ${device.name}` : '',
      alerts.length > 1 ? ` ${t('banner.more', { n: alerts.length - 1 })}` : '');
    text.addEventListener('click', () => onShow && onShow(alert));
    replace(el, text, h('div', { class: 'banner-actions' }, alert.state === 'open' ? ack : null, dismiss));
    if (!repeat) repeat = setInterval(signal, REPEAT_MS);
  }

  function signal() {
    beep();
    vibrate();
  }

  const off = stream.on('change', (msg) => {
    const alert = msg.alert;
    if (!alert || !alert.id) return;
    if (pending.has(alert.id)) {
      if (alert.state !== 'open' && !RAISING.has(msg.action)) pending.delete(alert.id);
      else pending.set(alert.id, alert);
      render();
      if (!RAISING.has(msg.action)) return;
    }
    if (alert.severity !== 'critical' || alert.state === 'resolved' || !RAISING.has(msg.action)) return;
    if (alert.audience && !audiences.includes(alert.audience)) return;
    pending.delete(alert.id); // re-insert so it becomes the newest
    pending.set(alert.id, alert);
    render();
    signal();
  });

  render();
  return {
    refresh: render, // after a language switch
    close() {
      off();
      pending.clear();
      render();
    },
  };
}

export function zoneOf(alert) {
  const ev = alert && alert.evidence;
  if (!ev) return null;
  const first = Array.isArray(ev) ? ev[0] : ev;
  if (!first || typeof first !== 'object') return null;
  const inner = first.data || first.payload;
  return first.zone || (inner && typeof inner === 'object' ? inner.zone : null) || null;
  return null;
}
