// Time and place formatting shared by the views.
import { t, getLang } from './i18n.js';

export function parseTime(value) {
  if (value === null || value === undefined || value === '') return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function relTime(value, now = Date.now()) {
  const d = parseTime(value);
  if (!d) return '—';
  const diff = Math.round((now - d.getTime()) / 1000);
  const future = diff < 0;
  const s = Math.abs(diff);
  if (s < 45) return future ? t('time.soon') : t('time.now');
  let n; let unit;
  if (s < 3600) { n = Math.max(1, Math.round(s / 60)); unit = 'min'; }
  else if (s < 86400) { n = Math.round(s / 3600); unit = 'hour'; }
  else { n = Math.round(s / 86400); unit = 'day'; }
  return t(`time.${unit}.${future ? 'in' : 'ago'}`, { n });
}

export function absTime(value) {
  const d = parseTime(value);
  if (!d) return '—';
  return d.toLocaleString(getLang() === 'zh' ? 'zh-CN' : 'en-GB', {
    month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

// A <time> element kept fresh by the ticker below, so "3分钟前" doesn't go stale.
export function relTimeEl(value, doc = document) {
  const el = doc.createElement('time');
  const d = parseTime(value);
  if (d) {
    el.dateTime = d.toISOString();
    el.dataset.reltime = d.toISOString();
    el.title = absTime(d);
  }
  el.textContent = relTime(value);
  return el;
}

let ticker = null;
export function startRelTicker() {
  if (ticker) return;
  ticker = setInterval(() => {
    for (const el of document.querySelectorAll('[data-reltime]')) {
      el.textContent = relTime(el.dataset.reltime);
    }
  }, 20000);
}

const PLACE_KEYS = ['courtyard', 'building', 'unit', 'room'];

// Locations are free-form; the sample community uses courtyard/building/unit/room
// for flats and area for everything else, with values already like "5号楼".
export function formatLocation(location, zone) {
  const parts = [];
  if (location && typeof location === 'object' && !Array.isArray(location)) {
    for (const key of PLACE_KEYS) {
      const v = location[key];
      if (v === null || v === undefined || v === '') continue;
      parts.push(key === 'room' && /^\d+$/.test(String(v)) ? t('loc.room_fmt', { v }) : String(v));
    }
    if (location.area && !location.building && !location.room) parts.push(String(location.area));
  } else if (typeof location === 'string' && location) {
    parts.push(location);
  }
  if (zone) parts.push(t('loc.zone_fmt', { v: zone }));
  return parts.join(' · ');
}

export function isoAgo(ms) {
  return new Date(Date.now() - ms).toISOString();
}
