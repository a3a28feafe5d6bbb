// The one way the console talks to the API: adds the bearer token, turns
// `{"detail": ...}` into a readable message, shows it as a toast.
import { t } from './i18n.js';
import { toast } from './toast.js';

const TOKEN_KEY = 'anju.token';
const PREFIX = '/api/v1';

export const getToken = () => localStorage.getItem(TOKEN_KEY) || '';
export const setToken = (token) => localStorage.setItem(TOKEN_KEY, token);

// Logging out forgets everything this console keeps in the browser (the token first of all), on a
// shared phone too; only the display language, which says nothing about anyone, is kept.
export function clearStorage(keep = []) {
  const kept = keep.map((key) => [key, localStorage.getItem(key)]).filter(([, value]) => value !== null);
  localStorage.clear();
  sessionStorage.clear();
  for (const [key, value] of kept) localStorage.setItem(key, value);
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export class ApiError extends Error {
  constructor(status, detail, message) {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

// FastAPI sends a string, a list of validation errors ({loc, msg}), or for
// rule files {errors: [{line, reason}]}; anything else is shown as JSON.
export function describeDetail(detail) {
  if (detail === null || detail === undefined) return '';
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => {
      if (d && typeof d === 'object' && 'msg' in d) {
        const loc = Array.isArray(d.loc) ? d.loc.filter((p) => p !== 'body').join('.') : '';
        return loc ? `${loc}: ${d.msg}` : d.msg;
      }
      return describeDetail(d);
    }).join('; ');
  }
  if (typeof detail === 'object') {
    if (Array.isArray(detail.errors)) {
      return detail.errors.map((e) => (e && e.line ? t('error.line', { line: e.line, reason: e.reason }) : describeDetail(e))).join('; ');
    }
    if (typeof detail.message === 'string') return detail.message;
  }
  try {
    return JSON.stringify(detail);
  } catch {
    return String(detail);
  }
}

function buildUrl(path, query) {
  const url = new URL(PREFIX + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== null && v !== undefined && v !== '') url.searchParams.set(k, v);
  }
  return url.pathname + url.search;
}

export function wsUrl(path, query) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${buildUrl(path, { token: getToken(), ...query })}`;
}

/**
 * api('/alerts', {query: {state: 'open'}}) → parsed JSON.
 * Options: method, body (JSON unless contentType is given), query, quiet (no toast).
 * Throws ApiError; status 0 means the network failed.
 */
export async function api(path, { method = 'GET', body, query, contentType, quiet = false, token } = {}) {
  const headers = { Accept: 'application/json' };
  const bearer = token ?? getToken();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = contentType || 'application/json';
    payload = contentType ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(buildUrl(path, query), { method, headers, body: payload });
  } catch {
    const err = new ApiError(0, null, t('error.network'));
    if (!quiet) toast(err.message);
    throw err;
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    const detail = data && typeof data === 'object' && 'detail' in data ? data.detail : data;
    const reason = describeDetail(detail) || res.statusText;
    const err = new ApiError(res.status, detail, `${t('error.status', { status: res.status })}: ${reason}`);
    if (res.status === 401) onUnauthorized(err);
    else if (!quiet) toast(err.message);
    throw err;
  }
  return data;
}

// Lists from the API should be arrays; tolerate {items: [...]} or null too.
export function asList(data) {
  if (Array.isArray(data)) return data;
  if (data && typeof data === 'object') {
    for (const key of ['items', 'results', 'data']) if (Array.isArray(data[key])) return data[key];
  }
  return [];
}

// The name a download should be saved under, from `Content-Disposition` (filename*=UTF-8''… first).
export function attachmentName(header, fallback) {
  if (!header) return fallback;
  const star = header.match(/filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/);
  if (star) {
    try {
      return decodeURIComponent(star[1].trim().replace(/^"|"$/g, ''));
    } catch {
      // fall through to the plain name
    }
  }
  const plain = header.match(/filename\s*=\s*"([^"]*)"|filename\s*=\s*([^;]+)/);
  const name = plain && (plain[1] ?? plain[2]);
  return name ? name.trim() : fallback;
}

// A file from the API (an export), fetched with the token and saved by the browser under the name the API
// gives it: an <a download> clicked on a blob URL. Throws ApiError like api() (shown as a toast unless quiet).
export async function downloadFile(path, { query, fallback = 'download', quiet = false } = {}) {
  let res;
  try {
    res = await fetch(buildUrl(path, query), { headers: { Authorization: `Bearer ${getToken()}` } });
  } catch {
    const err = new ApiError(0, null, t('error.network'));
    if (!quiet) toast(err.message);
    throw err;
  }
  if (!res.ok) {
    const text = await res.text();
    let detail = text;
    try {
      const data = JSON.parse(text);
      detail = data && typeof data === 'object' && 'detail' in data ? data.detail : data;
    } catch {
      // plain text
    }
    const err = new ApiError(res.status, detail, `${t('error.status', { status: res.status })}: ${describeDetail(detail) || res.statusText}`);
    if (res.status === 401) onUnauthorized(err);
    else if (!quiet) toast(err.message);
    throw err;
  }
  const name = attachmentName(res.headers.get('Content-Disposition'), fallback);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30000);
  return name;
}
