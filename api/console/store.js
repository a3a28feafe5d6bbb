// Devices known to the console, so alert rows can say "3号院 · 5号楼" instead of
// a bare device id. Filled by the maintenance view's refresh, by one quiet
// GET /devices, and as a fallback from alert details (patrol tokens may not be
// allowed to list devices).
import { api, asList } from './api.js';

const devices = new Map();
const listeners = new Set();
let listing = null;
let listAllowed = true;
const pendingAlerts = new Set();
const triedAlerts = new Set();

export const getDevice = (id) => (id ? devices.get(id) : undefined);

export function putDevices(list) {
  let changed = false;
  for (const d of list) {
    if (d && d.id) {
      devices.set(d.id, { ...devices.get(d.id), ...d });
      changed = true;
    }
  }
  if (changed) listeners.forEach((fn) => fn());
}

export function onDevices(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function loadDevicesOnce() {
  if (!listing && listAllowed) {
    listing = api('/devices', { query: { limit: 500 }, quiet: true })
      .then((data) => putDevices(asList(data)))
      .catch(() => {
        listAllowed = false;
      });
  }
  return listing;
}

// For alerts whose device we still don't know, the alert detail carries it.
export async function resolveDevicesFor(alerts) {
  await loadDevicesOnce();
  for (const alert of alerts) {
    if (!alert.device_id || devices.has(alert.device_id)) continue;
    if (triedAlerts.has(alert.id) || pendingAlerts.has(alert.id)) continue;
    pendingAlerts.add(alert.id);
    try {
      const detail = await api(`/alerts/${encodeURIComponent(alert.id)}`, { quiet: true });
      if (detail && detail.device) putDevices([{ ...detail.device, id: detail.device.id || alert.device_id }]);
    } catch {
      // the row keeps showing the device id
    } finally {
      pendingAlerts.delete(alert.id);
      triedAlerts.add(alert.id);
    }
  }
}

export function resetStore() {
  devices.clear();
  listing = null;
  listAllowed = true;
  triedAlerts.clear();
}
