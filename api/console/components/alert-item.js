// One alert card: summary, one-tap acknowledge, resolve with a note and how it ended (the disposition), and the
// detail (contacts, location, history) unfolded in place when tapped; for an admin, a resolved alert's
// disposition can be corrected there (with the reason, kept in its history).
import { h, replace, pretty } from '../dom.js';
import { t, label } from '../i18n.js';
import { api, getToken } from '../api.js';
import { toast } from '../toast.js';
import { relTimeEl, absTime, formatLocation } from '../fmt.js';
import { getDevice, putDevices } from '../store.js';
import { zoneOf } from './critical-banner.js';
import { alertCommands, permissions } from './commands.js';
import { liveViewLink } from '../liveview.js';

// How a resolved alert ended (kernel/vocabulary.py DISPOSITIONS), and the severities that must say it.
export const DISPOSITIONS = ['handled', 'referred', 'false_alarm', 'device_fault', 'test', 'duplicate'];
export const DISPOSITION_REQUIRED = new Set(['critical', 'major']);

// A select of the dispositions; `placeholder` is the empty first choice's text (null: no empty choice).
export function dispositionSelect(testid, placeholder, value = '') {
  const sel = h('select', { class: 'disposition-select', testid, 'aria-label': t('alert.disposition') },
    placeholder === null ? null : h('option', { value: '' }, placeholder),
    DISPOSITIONS.map((d) => h('option', { value: d }, label('disposition', d))));
  sel.value = value || (placeholder === null ? DISPOSITIONS[0] : '');
  return sel;
}

// The history notes of a resolution ("[false_alarm] …") and of a correction ("false_alarm → handled: …") name
// dispositions by key: shown with their labels.
function historyNote(entry) {
  const note = entry.note || '';
  if (entry.action === 'resolved') {
    const m = note.match(/^\[(\w+)\] ([\s\S]*)$/);
    if (m && DISPOSITIONS.includes(m[1])) return `${label('disposition', m[1])} · ${m[2]}`;
  }
  if (entry.action === 'disposition_changed') {
    const m = note.match(/^(\w+) → (\w+): ([\s\S]*)$/);
    if (m) return `${label('disposition', m[1] === 'none' ? 'unspecified' : m[1])} → ${label('disposition', m[2])} · ${m[3]}`;
  }
  return note;
}

export function createAlertItem(initial, { onChange }) {
  let alert = initial;
  let open = false;
  let detailTimer = null;
  let perms = null; // the caller's permissions (GET /me), once known: who may not handle alerts sees no buttons

  const summary = h('div', { class: 'alert-summary', role: 'button', tabindex: '0', 'aria-expanded': 'false', testid: 'alert-summary' });
  const ackBtn = h('button', { type: 'button', class: 'btn primary big', testid: 'ack-button' }, t('alert.ack'));
  const note = h('textarea', { class: 'resolve-note', rows: '1', testid: 'resolve-note', placeholder: t('alert.note_placeholder'), 'aria-label': t('alert.note_placeholder') });
  const resolveBtn = h('button', { type: 'button', class: 'btn big', testid: 'resolve-button' }, t('alert.resolve'));
  const disposition = dispositionSelect('resolve-disposition', '');
  const resolveErr = h('div', { class: 'field-error', testid: 'resolve-error', hidden: true });
  const resolveBox = h('div', { class: 'resolve-box' }, disposition, h('div', { class: 'resolve-row' }, note, resolveBtn), resolveErr);
  const resolvedInfo = h('div', { class: 'resolved-info' });
  const actions = h('div', { class: 'alert-actions' }, resolvedInfo, ackBtn, resolveBox);
  const detail = h('div', { class: 'alert-detail', testid: 'alert-detail', hidden: true });
  const el = h('li', { class: 'alert-item', testid: 'alert-item' }, summary, actions, detail);

  function toggle() {
    open = !open;
    summary.setAttribute('aria-expanded', String(open));
    el.classList.toggle('expanded', open);
    detail.hidden = !open;
    if (open) loadDetail();
  }
  summary.addEventListener('click', toggle);
  summary.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      toggle();
    }
  });

  ackBtn.addEventListener('click', async (ev) => {
    ev.stopPropagation();
    ackBtn.disabled = true;
    try {
      const updated = await api(`/alerts/${encodeURIComponent(alert.id)}/ack`, { method: 'POST', body: {} });
      if (updated && updated.id) onChange(updated);
    } catch (err) {
      if (err.status === 409) refetch();
    } finally {
      ackBtn.disabled = false;
    }
  });

  note.addEventListener('input', () => {
    resolveErr.hidden = true;
  });
  disposition.addEventListener('change', () => {
    resolveErr.hidden = true;
    disposition.classList.remove('invalid');
  });
  resolveBtn.addEventListener('click', async (ev) => {
    ev.stopPropagation();
    const text = note.value.trim();
    if (!disposition.value && DISPOSITION_REQUIRED.has(alert.severity)) {
      showResolveError(t('alert.disposition_required', { sev: label('sev', alert.severity) }));
      disposition.classList.add('invalid');
      disposition.focus();
      return;
    }
    if (!text) {
      showResolveError(t('alert.note_required'));
      note.focus();
      return;
    }
    resolveBtn.disabled = true;
    try {
      const body = { note: text, disposition: disposition.value || undefined };
      const updated = await api(`/alerts/${encodeURIComponent(alert.id)}/resolve`, { method: 'POST', body, quiet: true });
      note.value = '';
      disposition.value = '';
      if (updated && updated.id) onChange(updated);
    } catch (err) {
      showResolveError(err.message);
      if (err.status === 409) refetch();
    } finally {
      resolveBtn.disabled = false;
    }
  });

  function showResolveError(msg) {
    resolveErr.textContent = msg;
    resolveErr.hidden = false;
  }

  async function refetch() {
    try {
      const fresh = await api(`/alerts/${encodeURIComponent(alert.id)}`, { quiet: true });
      if (fresh && fresh.id) onChange(fresh);
    } catch {
      // keep what we have
    }
  }

  async function loadDetail() {
    if (!detail.firstChild) replace(detail, h('div', { class: 'muted' }, t('common.loading')));
    try {
      const [full, mine] = await Promise.all([api(`/alerts/${encodeURIComponent(alert.id)}`, { quiet: true }), permissions()]);
      if (full && full.device) putDevices([full.device]);
      replace(detail, renderDetail(full || alert, { amend: mine.includes('alerts:amend'), onChange }));
    } catch (err) {
      replace(detail, h('div', { class: 'error-box' }, err.message));
    }
  }

  function render() {
    const device = getDevice(alert.device_id);
    // The event's zone (a fence section) says more than the device's own zone.
    const zone = zoneOf(alert) || (device && device.zone);
    const where = formatLocation(device && device.location, zone);
    el.dataset.alertId = alert.id;
    el.dataset.severity = alert.severity || '';
    el.dataset.state = alert.state || '';
    el.dataset.level = String(alert.level ?? 0);
    el.className = `alert-item sev-${alert.severity || 'none'} state-${alert.state || 'none'}${open ? ' expanded' : ''}`;
    replace(summary,
      h('div', { class: 'alert-top' },
        h('span', { class: `badge sev sev-${alert.severity}` }, label('sev', alert.severity)),
        h('span', { class: 'alert-title' }, alert.title || label('rule', alert.rule) || alert.type || alert.id),
        relTimeEl(alert.created_at)),
      h('div', { class: 'alert-where' },
        deviceLabel(alert, device) ? h('span', { class: 'device-name' }, deviceLabel(alert, device)) : null,
        where ? h('span', { class: 'where' }, where) : null),
      h('div', { class: 'alert-meta' },
        h('span', { class: `badge state state-${alert.state}`, testid: 'alert-state' }, label('state', alert.state)),
        h('span', { class: `badge level${alert.level > 0 ? ' escalated' : ''}`, testid: 'alert-level' },
          alert.level > 0 ? t('alert.level_n', { n: alert.level }) : t('alert.level_0')),
        alert.count > 1 ? h('span', { class: 'badge count', testid: 'alert-count' }, t('alert.count', { n: alert.count })) : null,
        alert.silenced_by ? h('span', { class: 'badge muted' }, t('alert.silenced')) : null,
        alert.grid ? h('span', { class: 'muted small' }, t('alert.grid_fmt', { v: alert.grid })) : null));
    const handles = !perms || perms.includes('alerts:handle');
    ackBtn.hidden = alert.state !== 'open' || !handles;
    resolveBox.hidden = alert.state === 'resolved' || !handles;
    resolvedInfo.hidden = alert.state === 'open';
    const required = DISPOSITION_REQUIRED.has(alert.severity);
    disposition.options[0].textContent = t(required ? 'alert.disposition_pick_required' : 'alert.disposition_pick');
    disposition.required = required;
    if (alert.state === 'resolved') {
      replace(resolvedInfo,
        alert.disposition ? h('span', { class: `badge disp disp-${alert.disposition}`, testid: 'disposition-badge', 'data-disposition': alert.disposition },
          label('disposition', alert.disposition)) : null, alert.disposition ? ' ' : null,
        t('alert.resolved_by', { by: alert.resolved_by || '—' }), ' ', relTimeEl(alert.resolved_at),
        alert.resolution_note ? h('div', { class: 'note' }, alert.resolution_note) : null);
    } else {
      replace(resolvedInfo, t('alert.acked_by', { by: alert.acknowledged_by || '—' }), ' ', relTimeEl(alert.acknowledged_at));
    }
  }

  render();
  permissions().then((p) => {
    perms = p;
    render();
  });
  return {
    el,
    get alert() {
      return alert;
    },
    update(next) {
      const changed = next.updated_at !== alert.updated_at || next.state !== alert.state
        || next.count !== alert.count || next.level !== alert.level;
      alert = next;
      render();
      if (open && changed) {
        clearTimeout(detailTimer);
        detailTimer = setTimeout(loadDetail, 300);
      }
    },
    refresh: render,
    expand() {
      if (!open) toggle();
    },
  };
}

function renderDetail(full, { amend = false, onChange } = {}) {
  const parts = [];
  if (full.state === 'resolved') parts.push(renderOutcome(full, amend, onChange));
  const contacts = full.contacts;
  if (contacts && (contacts.elder || (contacts.family && contacts.family.length))) {
    parts.push(renderContacts(contacts));
  }
  parts.push(renderAffected(full.evidence));
  const device = full.device;
  if (device) {
    const loc = device.location && typeof device.location === 'object' ? device.location : {};
    parts.push(h('section', { class: 'detail-block', testid: 'alert-device' },
      h('h4', {}, t('alert.where')),
      h('div', { class: 'where-big' }, formatLocation(loc, device.zone) || '—'),
      h('dl', { class: 'kv' },
        kv(t('device.name'), device.name || device.id),
        kv(t('device.kind'), label('kind', device.kind)),
        device.grid ? kv(t('device.grid'), device.grid) : null,
        device.zone ? kv(t('device.zone'), device.zone) : null,
        Object.entries(loc).map(([k, v]) => kv(label('loc', k), typeof v === 'object' ? JSON.stringify(v) : v)))));
  }
  parts.push(alertCommands(full)); // open the gate nearest the elder's courtyard, lock a gate, re-arm a zone, beep
  const history = Array.isArray(full.history) ? full.history : [];
  parts.push(h('section', { class: 'detail-block' },
    h('h4', {}, t('alert.history')),
    history.length
      ? h('ol', { class: 'timeline', testid: 'alert-history' }, history.map((e) => h('li', { class: `tl-${e.action}` },
        h('div', { class: 'tl-head' },
          h('strong', {}, label('action', e.action)),
          e.level !== null && e.level !== undefined ? h('span', { class: 'badge level' }, e.level > 0 ? t('alert.level_n', { n: e.level }) : t('alert.level_0')) : null,
          h('span', { class: 'muted' }, absTime(e.at))),
        e.by ? h('div', { class: 'muted small' }, t('alert.by', { by: e.by })) : null,
        e.note ? h('div', { class: 'note' }, historyNote(e)) : null)))
      : h('div', { class: 'muted' }, t('common.empty'))));
  parts.push(renderDeliveries(full.deliveries));
  parts.push(renderLiveView(full.device));
  parts.push(renderPictures(full.evidence));
  if (full.evidence && (Array.isArray(full.evidence) ? full.evidence.length : Object.keys(full.evidence).length)) {
    parts.push(h('details', { class: 'detail-block' }, h('summary', {}, t('alert.evidence')), h('pre', { class: 'code' }, pretty(full.evidence))));
  }
  parts.push(h('div', { class: 'muted small' }, `${t('alert.rule')}: ${full.rule || '—'} · ${t('alert.created')}: ${absTime(full.created_at)} · ${full.id}`));
  return parts;
}

// How a resolved alert ended, and for an admin (alerts:amend) the form that corrects it: the new disposition
// and why (PUT /alerts/{id}/disposition; the history keeps the old value, the new one and the reason).
function renderOutcome(full, amend, onChange) {
  const shown = full.disposition || 'unspecified';
  const box = h('section', { class: 'detail-block outcome', testid: 'alert-outcome' },
    h('h4', {}, t('alert.outcome')),
    h('dl', { class: 'kv' },
      h('dt', {}, t('alert.disposition')),
      h('dd', { testid: 'alert-disposition', 'data-disposition': full.disposition || '' },
        h('span', { class: `badge disp disp-${shown}` }, label('disposition', shown))),
      kv(t('alert.resolution_note'), full.resolution_note),
      kv(t('alert.resolved_at'), `${full.resolved_by || '—'} · ${absTime(full.resolved_at)}`)));
  if (!amend) return box;
  const sel = dispositionSelect('amend-disposition', null, full.disposition || '');
  const reason = h('input', { type: 'text', testid: 'amend-note', placeholder: t('alert.amend_reason'), 'aria-label': t('alert.amend_reason'), maxlength: '2000' });
  const save = h('button', { type: 'submit', class: 'btn small', testid: 'amend-button' }, t('alert.amend_save'));
  const err = h('div', { class: 'field-error', hidden: true, testid: 'amend-error' });
  const form = h('form', { class: 'amend-form', testid: 'amend-form' }, sel, reason, save);
  const details = h('details', { class: 'amend' }, h('summary', { testid: 'amend-open' }, t('alert.amend')), form, err);
  reason.addEventListener('input', () => { err.hidden = true; });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    const why = reason.value.trim();
    if (!why) {
      err.textContent = t('alert.amend_reason_required');
      err.hidden = false;
      reason.focus();
      return;
    }
    save.disabled = true;
    try {
      const updated = await api(`/alerts/${encodeURIComponent(full.id)}/disposition`, { method: 'PUT', body: { disposition: sel.value, note: why }, quiet: true });
      toast(t('alert.amended'), 'ok', 2500);
      if (updated && updated.id && onChange) onChange(updated);
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
    } finally {
      save.disabled = false;
    }
  });
  box.append(details);
  return box;
}

// Who was told off-app (WeCom, SMS, email…) and how it went: one line per target and step, for a phone's
// width. Targets come redacted from the API (`shown`): keys never reach the browser.
function renderDeliveries(deliveries) {
  const list = Array.isArray(deliveries) ? deliveries : [];
  return h('section', { class: 'detail-block', testid: 'alert-deliveries' },
    h('h4', {}, t('alert.deliveries')),
    list.length
      ? h('ul', { class: 'deliveries' }, list.map((d) => h('li', { testid: 'delivery-row', 'data-state': d.state || '' },
        h('div', { class: 'dl-head' },
          deliveryState(d),
          h('strong', {}, d.recipient || '—'),
          h('span', { class: 'muted small' }, [label('channel', d.channel), d.step && d.step !== 'notified' ? label('step', d.step) : null,
            d.attempts > 1 ? t('dl.attempts_n', { n: d.attempts }) : null].filter(Boolean).join(' · '))),
        h('div', { class: 'mono small muted dl-target' }, d.shown || '—'),
        d.state !== 'delivered' && d.last_error ? h('div', { class: 'small bad-text' }, d.last_error) : null)))
      : h('div', { class: 'muted', testid: 'no-deliveries' }, t('alert.no_deliveries')));
}

// A delivery's state as a coloured badge; when it was delivered, or when it is due.
export function deliveryState(d) {
  const when = d.state === 'delivered' ? d.delivered_at : (d.state === 'pending' ? d.due_at : null);
  return [h('span', { class: `badge dl dl-${d.state}`, testid: 'delivery-state' }, label('delivery', d.state)),
    when ? h('span', { class: 'muted small' }, ' ', relTimeEl(when)) : null];
}

// Video patrol: the live view of the camera the alert is about (`device.live_url`, checked by the API and
// again by liveview.js), beside its pictures.
function renderLiveView(device) {
  const link = device ? liveViewLink(device.live_url) : null;
  return link ? h('section', { class: 'detail-block', testid: 'alert-live-view' }, link) : null;
}

// The camera pictures behind the alert (a blacklisted car, a watchlisted face), with what the gateway read
// in them. `snapshot_id` is the picture's public id (a random string; null once expired). Fetched with the
// token (an <img src> could not send it) and shown from a blob URL, revoked at logout (forgetPictures).
const pictureUrls = new Set();

export function forgetPictures() {
  for (const url of pictureUrls) URL.revokeObjectURL(url);
  pictureUrls.clear();
}

function renderPictures(evidence) {
  const items = (Array.isArray(evidence) ? evidence : []).map((e) => (e && e.data) || {});
  const ids = [...new Set(items.map((d) => d.snapshot_id).filter((id) => typeof id === 'string' && /^[\w-]+$/.test(id)))];
  const expired = items.some((d) => 'snapshot_id' in d && d.snapshot_id === null);
  if (!ids.length && !expired) return null;
  return h('section', { class: 'detail-block', testid: 'alert-pictures' },
    h('h4', {}, t('alert.pictures')),
    ids.map((id) => {
      const img = h('img', { class: 'snapshot', alt: t('alert.pictures'), testid: 'alert-picture' });
      loadPicture(img, id);
      return img;
    }),
    expired && !ids.length ? h('div', { class: 'muted small', testid: 'picture-gone' }, t('alert.picture_gone')) : null);
}

async function loadPicture(img, id) {
  try {
    const res = await fetch(`/api/v1/snapshots/${encodeURIComponent(id)}`, { headers: { Authorization: `Bearer ${getToken()}` } });
    if (!res.ok) throw new Error(String(res.status));
    const url = URL.createObjectURL(await res.blob());
    pictureUrls.add(url);
    img.src = url;
  } catch {
    img.replaceWith(h('div', { class: 'muted small', testid: 'picture-gone' }, t('alert.picture_gone')));
  }
}

function renderContacts(contacts) {
  const elder = contacts.elder;
  const family = Array.isArray(contacts.family) ? contacts.family : [];
  return h('section', { class: 'detail-block contacts', testid: 'alert-contacts' },
    elder ? h('div', { class: 'elder', testid: 'elder' },
      h('h4', {}, t('alert.elder')),
      h('div', { class: 'elder-name' }, elder.name || '—',
        elder.age ? h('span', { class: 'muted' }, ` ${t('alert.age', { n: elder.age })}`) : null,
        elder.gender ? h('span', { class: 'muted' }, ` ${label('gender', elder.gender)}`) : null),
      Array.isArray(elder.health) && elder.health.length
        ? h('ul', { class: 'health' }, elder.health.map((x) => h('li', { class: 'badge warn' }, String(x))))
        : null) : null,
    family.length ? h('div', { class: 'family' },
      h('h4', {}, t('alert.family')),
      family.map((p) => h('a', { class: 'btn tel', href: `tel:${String(p.phone || '').replace(/[^\d+]/g, '')}`, testid: 'tel-link' },
        `${t('alert.call')} ${p.name || ''}${p.relation ? ` (${p.relation})` : ''} ${p.phone || ''}`))) : null);
}

// An equipment alert (a lift, the water, the heating): the buildings and households it affects, and the
// elders living alone and persons under a welfare check there, whom the patrol visits first (docs/buildings.md).
export function affectedOf(evidence) {
  const items = Array.isArray(evidence) ? evidence : [evidence];
  for (let i = items.length - 1; i >= 0; i -= 1) {
    const a = items[i] && items[i].affected;
    if (a && typeof a === 'object') return a;
  }
  return null;
}

function renderAffected(evidence) {
  const a = affectedOf(evidence);
  const buildings = a && Array.isArray(a.buildings) ? a.buildings : [];
  if (!buildings.length) return null;
  const names = Object.fromEntries(buildings.map((b) => [b.id, b.name || b.id]));
  const people = Array.isArray(a.vulnerable) ? a.vulnerable : [];
  return h('section', { class: 'detail-block affected', testid: 'alert-affected', 'data-households': String(a.households || 0) },
    h('h4', {}, t('affected.title')),
    h('div', { class: 'affected-summary' }, t('affected.summary', { buildings: buildings.map((b) => `${b.name || b.id} ${t('affected.households_n', { n: b.households || 0 })}`).join('、'), n: a.households || 0 })),
    people.length ? h('ul', { class: 'affected-people', testid: 'affected-vulnerable' }, people.map((p) => h('li', { 'data-person': p.person },
      h('span', { class: ['badge', p.why === 'lives alone' ? 'warn' : 'info'] }, t(p.why === 'lives alone' ? 'affected.lives_alone' : 'affected.welfare_check')),
      ` ${p.name || p.person}`,
      h('span', { class: 'muted' }, ` ${[names[p.building] || p.building, p.unit].filter(Boolean).join(' ')}`)))) : null,
    a.vulnerable_more ? h('div', { class: 'muted small' }, t('affected.more', { n: a.vulnerable_more })) : null);
}

// Titles often start with the device name already; don't say it twice.
function deviceLabel(alert, device) {
  const name = (device && device.name) || alert.device_id || '';
  return name && !(alert.title || '').includes(name) ? name : '';
}

function kv(k, v) {
  return [h('dt', {}, k), h('dd', {}, v === null || v === undefined || v === '' ? '—' : String(v))];
}
