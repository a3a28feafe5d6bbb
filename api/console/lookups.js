// Option lists for selects. Quiet: a role that may not read a list simply
// gets a free-text-like select with the current value only.
import { api, asList } from './api.js';
import { h, replace } from './dom.js';
import { label, t } from './i18n.js';

const named = (x) => ({ value: x.id, label: x.name && x.name !== x.id ? `${x.name} (${x.id})` : String(x.id) });

export const siteOptions = () => api('/sites', { quiet: true }).then(asList).then((l) => l.filter((x) => x && x.id).map(named));
// A per-site settings panel: fills `siteSel` with the sites, loads the first one and each one chosen;
// `box` says when there is no site or the list could not be read.
export function perSite(siteSel, box, load) {
  siteOptions().then((opts) => {
    replace(siteSel, opts.map((o) => h('option', { value: o.value }, o.label)));
    if (opts.length) load(siteSel.value);
    else replace(box, h('div', { class: 'empty' }, t('esc.no_sites')));
  }).catch((e) => replace(box, h('div', { class: 'error-box' }, e.message)));
  siteSel.addEventListener('change', () => load(siteSel.value));
}

export const teamOptions = () => api('/teams', { quiet: true }).then(asList).then((l) => l.filter((x) => x && x.id).map(named));
export const gridOptions = () => api('/grids', { quiet: true }).then(asList).then((l) => l.filter((x) => x && x.id).map(named));

export const FALLBACK_KINDS = ['elder_button', 'access_gate', 'plate_camera', 'face_camera', 'fence'];

export const kindOptions = () => api('/contract', { quiet: true })
  .then((c) => (Array.isArray(c && c.kinds) ? c.kinds.map((k) => k.kind).filter(Boolean) : FALLBACK_KINDS))
  .catch(() => FALLBACK_KINDS)
  .then((kinds) => kinds.map((k) => ({ value: k, label: label('kind', k) })));

export const ROLES = ['patrol', 'maintenance', 'integrator', 'office', 'admin'];
export const roleOptions = () => ROLES.map((r) => ({ value: r, label: label('role', r) }));
