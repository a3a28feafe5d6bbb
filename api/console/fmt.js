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

// A span of time in the units people say it in: 48秒, 3分12秒, 2小时5分, 1天3小时 (48 s, 3 min 12 s, 2 h 5 min, 1 d 3 h).
// Under ten seconds keeps one decimal (0.4秒): a response that fast is worth seeing as such.
export function humanDuration(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, seconds);
  const u = (key, n) => t(`dur.${key}`, { n });
  const join = (a, b) => (getLang() === 'zh' ? `${a}${b}` : `${a} ${b}`);
  if (s < 10) return u('s', String(Math.round(s * 10) / 10));
  const whole = Math.round(s);
  if (whole < 60) return u('s', whole);
  if (whole < 3600) {
    const m = Math.floor(whole / 60);
    const rest = whole % 60;
    return rest ? join(u('m', m), u('s', rest)) : u('m', m);
  }
  if (whole < 86400) {
    const hours = Math.floor(whole / 3600);
    const m = Math.round((whole % 3600) / 60);
    if (m === 60) return u('h', hours + 1);
    return m ? join(u('h', hours), u('m', m)) : u('h', hours);
  }
  const days = Math.floor(whole / 86400);
  const hours = Math.round((whole % 86400) / 3600);
  if (hours === 24) return u('d', days + 1);
  return hours ? join(u('d', days), u('h', hours)) : u('d', days);
}

// A share as the office reads it: 83.3%, or — when nothing was counted.
export function percent(value, digits = 1) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '—';
  return `${Number(value.toFixed(digits))}%`; // 83.3%, 65.22%, 100% (not 100.00%)
}

// The calendar in a time zone (an IANA name, the site's): what day and month it is there, and the UTC instant
// of a local midnight, so a period the office picks is the site's days whatever the browser's own zone.
function zoneParts(ms, timeZone) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(ms));
  const get = (type) => Number(parts.find((p) => p.type === type).value);
  return { year: get('year'), month: get('month'), day: get('day'), hour: get('hour'), minute: get('minute'), second: get('second') };
}

const pad2 = (n) => String(n).padStart(2, '0');

export function todayIn(timeZone, now = Date.now()) {
  const p = zoneParts(now, timeZone);
  return `${p.year}-${pad2(p.month)}-${pad2(p.day)}`;
}

// 'YYYY-MM' of this month (offset 0) or the one before (-1), in the zone.
export function monthIn(timeZone, offset = 0, now = Date.now()) {
  const p = zoneParts(now, timeZone);
  const index = p.year * 12 + (p.month - 1) + offset;
  return `${Math.floor(index / 12)}-${pad2((index % 12) + 1)}`;
}

// 'YYYY-MM-DD' (local to the zone) → the ISO instant of that day's midnight there.
export function zonedMidnight(day, timeZone) {
  const [y, m, d] = day.split('-').map(Number);
  const wall = Date.UTC(y, m - 1, d);
  let guess = wall;
  for (let i = 0; i < 3; i += 1) { // the zone's offset at the guess; again, in case it changed (summer time)
    const p = zoneParts(guess, timeZone);
    const offset = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - guess;
    const next = wall - offset;
    if (next === guess) break;
    guess = next;
  }
  return new Date(guess).toISOString();
}

// The day after 'YYYY-MM-DD'.
export function nextDay(day) {
  const [y, m, d] = day.split('-').map(Number);
  const n = new Date(Date.UTC(y, m - 1, d + 1));
  return `${n.getUTCFullYear()}-${pad2(n.getUTCMonth() + 1)}-${pad2(n.getUTCDate())}`;
}
