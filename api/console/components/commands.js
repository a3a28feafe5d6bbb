// Commands to devices (docs/commands.md) from the console: a button posts the command and shows its state live
// (polling GET until it is final); the alert detail offers the commands that make sense for the alert, the
// device sheet the device's declared commands and its recent history. Buttons only for roles that may send
// them (`/me` permissions).
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { api, asList, getToken } from '../api.js';
import { absTime } from '../fmt.js';

const FINAL = new Set(['succeeded', 'failed', 'expired']);
const POLL_MS = 1000;
// The built-in kinds' commands; `GET /contract` (roles with messages:read) adds a plugin kind's.
const AMBULANCE_OPEN_S = 120;
const KIND_COMMANDS = { access_gate: ['open', 'lock'], fence: ['arm', 'disarm'], elder_button: ['locate'] };
// The one command that needs more than commands:send (api/routers/commands.py, SECURITY_COMMANDS).
const SECURITY = new Set(['fence:disarm']);

let permsFor = null;
let permsPromise = null;

// The caller's permissions, asked once per token.
export function permissions() {
  const token = getToken();
  if (permsFor !== token || !permsPromise) {
    permsFor = token;
    permsPromise = api('/me', { quiet: true })
      .then((me) => (Array.isArray(me && me.permissions) ? me.permissions : []))
      .catch(() => []);
  }
  return permsPromise;
}

export function maySend(perms, kind, command) {
  return perms.includes('commands:send') && (!SECURITY.has(`${kind}:${command}`) || perms.includes('commands:security'));
}

let declaredPromise = null;
function declaredCommands(kind) {
  if (!declaredPromise) {
    declaredPromise = api('/contract', { quiet: true })
      .then((c) => Object.fromEntries((Array.isArray(c && c.kinds) ? c.kinds : [])
        .map((k) => [k.kind, Object.keys(k.commands || {})])))
      .catch(() => ({}));
  }
  return declaredPromise.then((found) => found[kind] || KIND_COMMANDS[kind] || []);
}

// Commands in flight, by button key, so a detail re-rendered meanwhile (an alert update) picks the state up again.
const tracked = new Map();

function track(key, command) {
  let entry = tracked.get(key);
  if (!entry) {
    entry = { command: null, listeners: new Set(), timer: null };
    tracked.set(key, entry);
  }
  entry.command = command;
  entry.listeners.forEach((fn) => fn(command));
  clearTimeout(entry.timer);
  if (command && !FINAL.has(command.state)) {
    entry.timer = setTimeout(async () => {
      try {
        const next = await api(`/devices/${encodeURIComponent(command.device_id)}/commands/${encodeURIComponent(command.cmd_id)}`, { quiet: true });
        track(key, next);
      } catch {
        track(key, command); // try again
      }
    }, POLL_MS);
  }
  return entry;
}

function stateBadge(command) {
  if (!command) return null;
  const cls = command.state === 'succeeded' ? 'badge outcome accepted'
    : (command.state === 'failed' || command.state === 'expired') ? 'badge outcome rejected' : 'badge warn';
  const detail = command.detail === null || command.detail === undefined || command.detail === ''
    ? '' : (typeof command.detail === 'string' ? command.detail : JSON.stringify(command.detail));
  return [h('span', { class: cls, testid: 'cmd-state', 'data-state': command.state }, t(`cmd.state_${command.state}`)),
    detail && command.state !== 'pending' && command.state !== 'sent' ? h('span', { class: 'muted small', testid: 'cmd-detail' }, ` ${detail}`) : null];
}

// One button: posts `command` to `device` (with `args`, from `alertId`'s page), then shows its state until final.
export function commandButton({ device, command, args = {}, text, alertId = null, onFinal }) {
  const key = `${alertId || ''}:${device.id}:${command}:${JSON.stringify(args)}`;
  const btn = h('button', { type: 'button', class: 'btn small', testid: 'cmd-button', 'data-command': command, 'data-device': device.id }, text);
  const state = h('span', { class: 'cmd-status' });
  const row = h('div', { class: 'cmd-row', testid: 'cmd-row' }, btn, ' ', state);
  const show = (cmd) => {
    if (!row.isConnected && row.dataset.shown) {
      tracked.get(key)?.listeners.delete(show);
      return;
    }
    row.dataset.shown = '1';
    replace(state, stateBadge(cmd));
    btn.disabled = Boolean(cmd && !FINAL.has(cmd.state));
    if (cmd && FINAL.has(cmd.state) && onFinal) onFinal(cmd);
  };
  const entry = tracked.get(key);
  if (entry) {
    entry.listeners.add(show);
    show(entry.command);
  }
  btn.addEventListener('click', async (ev) => {
    ev.stopPropagation();
    btn.disabled = true;
    const body = { command, args };
    if (alertId) body.alert_id = alertId;
    try {
      const sent = await api(`/devices/${encodeURIComponent(device.id)}/commands`, { method: 'POST', body });
      const e = tracked.get(key) || track(key, null);
      e.listeners.add(show);
      track(key, sent);
    } catch {
      btn.disabled = false; // the toast said why
    }
  });
  return row;
}

// The commands that make sense for an alert: for an elder's SOS (or another patrol alert) open the gate nearest
// the device's courtyard (else the site's main gates), a gate's own open/lock, re-arm a fence's zone, make an
// elder's button beep. Filled in once the permissions and the gates are known; hidden when there is nothing.
export function alertCommands(alert) {
  const section = h('section', { class: 'detail-block', testid: 'alert-commands', hidden: true });
  fillAlertCommands(section, alert).catch(() => {});
  return section;
}

async function fillAlertCommands(section, alert) {
  const device = alert.device;
  if (!device || !device.id) return;
  const perms = await permissions();
  const rows = [];
  const add = (target, command, args, text) => {
    if (maySend(perms, target.kind, command)) rows.push(commandButton({ device: target, command, args, text, alertId: alert.id }));
  };
  if (device.kind === 'access_gate') {
    add(device, 'open', {}, t('cmd.open'));
    add(device, 'lock', {}, t('cmd.lock'));
  } else if (device.kind === 'fence') {
    const zone = zoneOfAlert(alert);
    add(device, 'arm', zone ? { zone } : {}, zone ? t('cmd.arm_zone', { zone }) : t('cmd.arm_all'));
  } else if (device.kind === 'elder_button') {
    add(device, 'locate', {}, t('cmd.locate'));
  }
  if (device.kind === 'elder_button' || (alert.audience === 'patrol' && device.kind !== 'access_gate' && device.kind !== 'fence')) {
    for (const gate of await nearestGates(alert.site, device)) {
      // Held open long enough for an ambulance or the family's car to get through (the driver's default is 5 s).
      add(gate, 'open', { seconds: AMBULANCE_OPEN_S }, t('cmd.open_gate', { name: gate.name || gate.id }));
    }
  }
  if (!rows.length) return;
  replace(section, h('h4', {}, t('cmd.title')), rows);
  section.hidden = false;
}

// The access gates whose `location.courtyard` is the device's; else the site's `role: main` gates.
export async function nearestGates(site, device) {
  let gates = [];
  try {
    gates = asList(await api('/devices', { query: { site, kind: 'access_gate', limit: 500 }, quiet: true }));
  } catch {
    return [];
  }
  const courtyard = device.location && device.location.courtyard;
  const near = courtyard ? gates.filter((g) => g.location && g.location.courtyard === courtyard) : [];
  return near.length ? near : gates.filter((g) => g.attributes && g.attributes.role === 'main');
}

function zoneOfAlert(alert) {
  const ev = alert && alert.evidence;
  const first = Array.isArray(ev) ? ev[0] : ev;
  const data = first && typeof first === 'object' ? (first.data || first.payload || first) : null;
  return data && typeof data.zone === 'string' ? data.zone : null;
}

// The device sheet's part: its declared commands (a fence's per zone) and its recent command history.
export function deviceCommands(device) {
  const buttons = h('div', { class: 'cmd-buttons' });
  const list = h('div', { testid: 'cmd-history' }, h('div', { class: 'muted' }, t('common.loading')));
  const section = h('section', { class: 'detail-block', testid: 'device-commands' },
    h('h3', {}, t('cmd.title')), buttons, h('h4', {}, t('cmd.history')), list);
  const refresh = () => loadHistory(device, list);
  (async () => {
    const [perms, declared] = await Promise.all([permissions(), declaredCommands(device.kind)]);
    const zones = device.kind === 'fence' && Array.isArray(device.attributes && device.attributes.zones)
      ? device.attributes.zones.map(String) : [];
    const rows = [];
    for (const command of declared) {
      if (!maySend(perms, device.kind, command)) continue;
      if (zones.length && (command === 'arm' || command === 'disarm')) {
        for (const zone of zones) {
          rows.push(commandButton({ device, command, args: { zone }, text: t(`cmd.${command}_zone`, { zone }), onFinal: refresh }));
        }
      }
      const text = command === 'arm' || command === 'disarm' ? t(`cmd.${command}_all`) : t(`cmd.${command}`);
      rows.push(commandButton({ device, command, text: text.startsWith('cmd.') ? command : text, onFinal: refresh }));
    }
    replace(buttons, rows.length ? rows : h('div', { class: 'muted small' }, t('cmd.none_allowed')));
  })().catch(() => {});
  refresh();
  return section;
}

async function loadHistory(device, list) {
  try {
    const rows = asList(await api(`/devices/${encodeURIComponent(device.id)}/commands`, { query: { limit: 10 }, quiet: true }));
    replace(list, rows.length
      ? h('ul', { class: 'deliveries' }, rows.map((c) => h('li', { testid: 'cmd-history-row', 'data-state': c.state },
        h('div', { class: 'dl-head' }, h('strong', {}, c.command),
          Object.keys(c.args || {}).length ? h('span', { class: 'mono small' }, ` ${JSON.stringify(c.args)} `) : ' ',
          stateBadge(c)),
        h('div', { class: 'muted small' }, t('cmd.by_at', { by: c.requested_by, at: absTime(c.requested_at) })))))
      : h('div', { class: 'muted' }, t('cmd.no_history')));
  } catch (err) {
    replace(list, h('div', { class: 'muted small' }, err.message));
  }
}
