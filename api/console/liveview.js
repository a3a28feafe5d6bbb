// Video patrol: the "live view" link of a camera (`attributes.live_url`: an HLS playlist or the vendor's web
// page), on the device sheet and in the detail of an alert about the camera. Attributes are free-form, so the
// address is checked here before it becomes a link, whatever the API said: http(s) only (a `javascript:` or
// `data:` address is never rendered as a link), with a host, and without a user or password in it. The API
// applies the same rule (api/liveview.py). Opened in a new tab, without access back to the console.
import { h } from './dom.js';
import { t } from './i18n.js';

const MAX_LENGTH = 2048;

export function safeLiveUrl(value) {
  if (typeof value !== 'string' || !value || value.length > MAX_LENGTH || /[\u0000-\u0020\u007f-\u009f]/.test(value)) return null;
  let url;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname || url.username || url.password) return null;
  return url.href;
}

// The link block, or null when there is no address that may be shown.
export function liveViewLink(value) {
  const href = safeLiveUrl(value);
  if (!href) return null;
  return h('div', { class: 'live-view', testid: 'live-view' },
    h('a', { class: 'btn live-link', href, target: '_blank', rel: 'noopener noreferrer', testid: 'live-view-link' },
      `▶ ${t('live.view')}`),
    /\.m3u8$/i.test(new URL(href).pathname) ? h('span', { class: 'muted small' }, t('live.hls')) : null);
}
