// Entry point: login, role → views, hash routing, header, the shared alert stream.
import { t, label, getLang, setLang, applyI18n, LANG_KEY } from './i18n.js';
import { api, getToken, setToken, clearStorage, setUnauthorizedHandler } from './api.js';
import { h, replace } from './dom.js';
import { createAlertStream } from './ws.js';
import { unlockAudio, unlockOnFirstGesture } from './alarm.js';
import { createCriticalBanner } from './components/critical-banner.js';
import { forgetPictures } from './components/alert-item.js';
import { startRelTicker, absTime, relTimeEl } from './fmt.js';
import { toast } from './toast.js';
import { resetStore } from './store.js';
import * as patrol from './views/patrol.js';
import * as maintenance from './views/maintenance.js';
import * as integrator from './views/integrator.js';
import * as admin from './views/admin.js';
import * as office from './views/office.js';

const VIEWS = { patrol, maintenance, integrator, office, admin };
const ROLE_VIEWS = {
  patrol: ['patrol'],
  maintenance: ['maintenance'],
  integrator: ['integrator'],
  office: ['office'],
  admin: ['patrol', 'maintenance', 'integrator', 'admin'],
};
const DEFAULT_VIEW = { patrol: 'patrol', maintenance: 'maintenance', integrator: 'integrator', office: 'office', admin: 'admin' };
// Whose phone should ring for a critical alert of each audience.
const ROLE_AUDIENCES = { patrol: ['patrol'], maintenance: ['maintenance'], integrator: [], office: [], admin: ['patrol', 'maintenance'] };

const $ = (id) => document.getElementById(id);
const session = { me: null, stream: null, banner: null, cleanup: null, route: null, focusAlert: null, link: null };

function allowedViews() {
  return (session.me && ROLE_VIEWS[session.me.role]) || [];
}

// Login links: /console/#login=CODE (one-time, from `anju demo` or POST /tokens) or, handed out by
// hand, /console/#token=TOKEN. The address is replaced first, before anything else runs or
// navigates, so neither the address bar nor any entry of this tab's history holds it (Back never
// shows it). The browser's list of visited pages keeps the link as opened, which no page can undo:
// that is why links carry a code that works once rather than the token.
function takeLoginFromFragment() {
  const hash = location.hash;
  if (!hash.startsWith('#token=') && !hash.startsWith('#login=')) return null;
  history.replaceState(null, '', location.pathname + location.search);
  const params = new URLSearchParams(hash.slice(1));
  const token = params.get('token');
  if (token) {
    setToken(token);
    return { token };
  }
  const code = params.get('login');
  return code ? { code } : null;
}

// Trade a one-time code for its token (POST /api/v1/login), then log in with the token.
async function loginWithCode(code) {
  let res;
  try {
    res = await fetch('/api/v1/login', {
      method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ code }),
    });
  } catch {
    showLogin(t('error.network'));
    return;
  }
  const data = await res.json().catch(() => null);
  if (!res.ok || !data || typeof data.token !== 'string') {
    if (!session.me) showLogin(t('login.link_used'));
    return;
  }
  login(data.token);
}

function loginFromFragment() {
  const taken = takeLoginFromFragment();
  if (!taken) return false;
  if (taken.code) loginWithCode(taken.code);
  else login(taken.token);
  return true;
}

// One-tap links of notifications: the API checked the signature (GET /n/TOKEN) and sent the browser here,
// as /console/#/link/TOKEN. Signed in, the console opens the alert and, for a link sent to someone on duty
// (act) and a role that handles alerts, acknowledges it in that same tap; without a token it shows what the
// link may show (GET /notify/link/TOKEN) above the login form.
function takeLinkFromFragment() {
  const m = location.hash.match(/^#\/link\/([A-Za-z0-9_-]{8,64})$/);
  return m ? { token: m[1] } : null;
}

function linkSummary(link) {
  return api(`/notify/link/${encodeURIComponent(link.token)}`, { token: '', quiet: true });
}

const LINK_ACK_NOTE = 'via notification link';

async function openLink(link) {
  if (location.hash.startsWith('#/link')) history.replaceState(null, '', location.pathname + location.search);
  let alert, act;
  try {
    const summary = await linkSummary(link);
    act = summary.act;
    alert = await api(`/alerts/${encodeURIComponent(summary.id)}`, { quiet: true });
  } catch (err) {
    route(true);
    if (err.status === 404) toast(t('link.not_yours'));
    else if (err.status === 403) toast(t('link.invalid'));
    else if (err.status) toast(err.message);
    return;
  }
  const handles = Array.isArray(session.me.permissions) && session.me.permissions.includes('alerts:handle');
  if (act && handles && alert.state === 'open') {
    try {
      alert = await api(`/alerts/${encodeURIComponent(alert.id)}/ack`, { method: 'POST', body: { note: LINK_ACK_NOTE }, quiet: true });
      toast(t('link.acked'), 'ok', 4000);
    } catch (err) {
      if (err.status !== 409) toast(err.message); // 409: someone else was quicker
    }
  }
  const view = alert.audience === 'maintenance' ? 'maintenance' : 'patrol';
  if (allowedViews().includes(view)) {
    session.focusAlert = alert.id;
    navigate(view);
  } else {
    route(true);
  }
}

// Without a token: the alert as the link may show it (no one's phone), read-only, and a sign-in hint.
async function renderLinkSummary() {
  const box = $('link-summary');
  const link = session.link;
  $('login').classList.toggle('with-link', !!link);
  if (!link) {
    replace(box);
    box.hidden = true;
    return;
  }
  box.hidden = false;
  replace(box, h('div', { class: 'muted' }, t('common.loading')));
  let a;
  try {
    a = await linkSummary(link);
  } catch (err) {
    replace(box, h('div', { class: 'error-box', testid: 'link-error' }, err.status === 403 || err.status === 404 ? t('link.invalid') : err.message,
      err.detail && typeof err.detail === 'string' ? h('div', { class: 'small' }, err.detail) : null));
    return;
  }
  if (session.link !== link) return;
  replace(box,
    h('div', { class: 'alert-top' },
      h('span', { class: `badge sev sev-${a.severity}` }, label('sev', a.severity)),
      h('span', { class: 'link-title', testid: 'link-title' }, a.title),
      h('span', { class: `badge state state-${a.state}`, testid: 'link-state' }, label('state', a.state))),
    h('div', { class: 'where-big', testid: 'link-where' }, [a.site, a.where].filter(Boolean).join(' · ')),
    h('dl', { class: 'kv' },
      h('dt', {}, t('link.since')), h('dd', {}, absTime(a.created_at), ' (', relTimeEl(a.created_at), ')'),
      a.acknowledged_at ? [h('dt', {}, t('link.acked_by')), h('dd', {}, a.acknowledged_by || '—', ' · ', absTime(a.acknowledged_at))] : null,
      a.resolved_at ? [h('dt', {}, t('link.resolved')), h('dd', {}, absTime(a.resolved_at))] : null),
    h('p', { class: 'muted small', testid: 'link-hint' }, t(a.act && a.state === 'open' ? 'link.sign_in_ack' : 'link.sign_in')));
}

function parseRoute() {
  const m = location.hash.match(/^#\/([\w-]+)(?:\/([\w-]+))?/);
  return m ? { view: m[1], sub: m[2] || null } : { view: null, sub: null };
}

function navigate(view, sub) {
  const hash = `#/${view}${sub ? `/${sub}` : ''}`;
  if (location.hash === hash) route(true);
  else location.hash = hash;
}

function route(force = false) {
  if (!session.me) return;
  let { view, sub } = parseRoute();
  const allowed = allowedViews();
  if (!allowed.includes(view)) {
    view = allowed.includes(DEFAULT_VIEW[session.me.role]) ? DEFAULT_VIEW[session.me.role] : allowed[0];
    sub = null;
    history.replaceState(null, '', `#/${view}`);
  }
  const key = `${view}/${sub || ''}`;
  if (!force && session.route === key) return;
  session.route = key;
  if (session.cleanup) session.cleanup();
  session.cleanup = null;
  renderNav(view);
  const root = replace($('view'));
  root.dataset.view = view;
  const ctx = {
    me: session.me,
    stream: session.stream,
    sub,
    navigate: (s) => navigate(view, s),
    focusAlert: session.focusAlert,
  };
  session.focusAlert = null;
  try {
    const cleanup = VIEWS[view].mount(root, ctx);
    session.cleanup = typeof cleanup === 'function' ? cleanup : null;
  } catch (err) {
    console.error(err);
    replace(root, h('div', { class: 'error-box' }, t('error.view'), ' ', String(err && err.message)));
  }
  window.scrollTo(0, 0);
}

function renderNav(current) {
  const nav = $('nav');
  const views = allowedViews();
  replace(nav, views.map((v) => {
    const a = h('a', { href: `#/${v}`, class: 'tab', testid: `nav-${v}`, 'aria-current': v === current ? 'page' : null }, t(`nav.${v}`));
    return a;
  }));
  nav.hidden = false;
}

function renderHeader() {
  $('lang-toggle').textContent = getLang() === 'zh' ? 'EN' : '中文';
  $('lang-toggle').setAttribute('aria-label', t('header.lang'));
  $('logout').textContent = t('header.logout');
  const who = $('who');
  if (session.me) {
    replace(who, session.me.name || '', ' ', h('span', { class: 'badge role' }, label('role', session.me.role)));
    who.hidden = false;
    $('logout').hidden = false;
  } else {
    who.hidden = true;
    $('logout').hidden = true;
  }
  setConn(session.stream ? session.stream.status : null);
}

function setConn(state) {
  const el = $('conn');
  if (!state || !session.me) {
    el.hidden = true;
    return;
  }
  el.hidden = false;
  el.dataset.state = state;
  el.textContent = t(`conn.${state}`);
}

function showLogin(message, prefill = '') {
  $('login').hidden = false;
  $('view').hidden = true;
  $('nav').hidden = true;
  const err = $('login-error');
  err.textContent = message || '';
  err.hidden = !message;
  if (prefill) $('login-token').value = prefill;
  renderLinkSummary();
  $('login-token').focus();
}

function stopSession() {
  if (session.cleanup) session.cleanup();
  if (session.banner) session.banner.close();
  if (session.stream) session.stream.close();
  Object.assign(session, { me: null, stream: null, banner: null, cleanup: null, route: null });
  replace($('view'));
  resetStore();
}

// Back to the login screen, with nothing of the session left in the browser: the token and whatever
// else the console stored (only the display language stays), and the pictures it had fetched.
function logout(message) {
  stopSession();
  clearStorage([LANG_KEY]);
  forgetPictures();
  $('login-token').value = '';
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  renderHeader();
  showLogin(message);
}

async function login(token) {
  let me;
  try {
    me = await api('/me', { token, quiet: true });
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      logout(t('login.invalid'));
    } else {
      // Server unreachable or not ready: keep the token so a retry is one tap.
      showLogin(err.message, token);
    }
    return;
  }
  if (!me || !ROLE_VIEWS[me.role]) {
    logout(t('login.bad_role', { role: (me && me.role) || '?' }));
    return;
  }
  stopSession();
  setToken(token);
  session.me = me;
  session.stream = createAlertStream();
  session.stream.on('status', setConn);
  session.banner = createCriticalBanner($('critical-banner'), {
    stream: session.stream,
    audiences: ROLE_AUDIENCES[me.role] || [],
    onShow: showAlert,
  });
  $('login').hidden = true;
  $('view').hidden = false;
  renderHeader();
  const link = session.link;
  if (link) {
    session.link = null;
    renderLinkSummary();
    openLink(link);
  } else {
    route(true);
  }
}

// From the banner: open the view that lists this alert, with the alert unfolded.
function showAlert(alert) {
  const target = alert.audience === 'maintenance' ? 'maintenance' : 'patrol';
  const { view } = parseRoute();
  if (view === target) {
    window.dispatchEvent(new CustomEvent('anju:focus-alert', { detail: alert.id }));
  } else if (allowedViews().includes(target)) {
    session.focusAlert = alert.id;
    navigate(target);
  }
}

// scroll-padding follows the sticky banner's height (0 while hidden).
function trackStickyHeight() {
  const top = $('critical-banner');
  if (!top || !window.ResizeObserver) return;
  new ResizeObserver(() => {
    document.documentElement.style.setProperty('--sticky-h', `${top.offsetHeight}px`);
  }).observe(top);
}

function init() {
  applyI18n(document);
  trackStickyHeight();
  renderHeader();
  startRelTicker();
  setUnauthorizedHandler(() => {
    if (session.me) logout(t('login.expired'));
  });

  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    unlockAudio(); // a user gesture: the only moment browsers allow starting audio
    const token = $('login-token').value.trim();
    if (!token) {
      showLogin(t('login.empty'));
      return;
    }
    login(token);
  });
  $('logout').addEventListener('click', () => logout(''));
  $('lang-toggle').addEventListener('click', () => {
    setLang(getLang() === 'zh' ? 'en' : 'zh');
    applyI18n(document);
    renderHeader();
    if (session.banner) session.banner.refresh();
    if (session.me) route(true);
  });
  window.addEventListener('hashchange', () => {
    const link = takeLinkFromFragment();
    if (link) {
      if (session.me) openLink(link);
      else {
        session.link = link;
        renderLinkSummary();
      }
      return;
    }
    if (!loginFromFragment()) route();
  });

  unlockOnFirstGesture();
  session.link = takeLinkFromFragment();
  if (loginFromFragment()) return;
  const token = getToken();
  if (token) login(token);
  else showLogin('');
}

init();
