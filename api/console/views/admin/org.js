// Sites, grids and teams: plain CRUD screens; teams carry members and a duty roster.
import { mountCrud } from '../../components/crud.js';
import { siteOptions, teamOptions } from '../../lookups.js';

// Notification targets (Apprise URLs or sms:/voice: numbers), one per line; the API checks each one.
export const NOTIFY_FIELD = { key: 'notify', label: 'field.notify', type: 'lines', placeholder: 'wecombot://KEY\nsms:13800000000', hint: 'field.notify_hint' };

export const ROSTER_FIELDS = [
  { key: 'name', label: 'field.name', required: true },
  { key: 'phone', label: 'field.phone' },
  NOTIFY_FIELD,
  { key: 'days', label: 'field.days', type: 'days' },
  { key: 'from', label: 'field.from', type: 'time' },
  { key: 'to', label: 'field.to', type: 'time' },
];

export function mountSites(root) {
  return mountCrud(root, {
    path: '/sites',
    name: 'sites',
    columns: [{ key: 'id', label: 'field.id' }, { key: 'name', label: 'field.name' }, { key: 'timezone', label: 'field.timezone' }, { key: 'address', label: 'field.address' }],
    fields: [
      { key: 'id', label: 'field.id', required: true },
      { key: 'name', label: 'field.name', required: true },
      { key: 'timezone', label: 'field.timezone', placeholder: 'Asia/Shanghai' },
      { key: 'address', label: 'field.address' },
    ],
  });
}

export function mountGrids(root) {
  return mountCrud(root, {
    path: '/grids',
    name: 'grids',
    columns: [{ key: 'id', label: 'field.id' }, { key: 'site', label: 'field.site' }, { key: 'name', label: 'field.name' }, { key: 'team', label: 'field.team' }, { key: 'wait', label: 'field.wait' }],
    fields: [
      { key: 'id', label: 'field.id', required: true },
      { key: 'site', label: 'field.site', type: 'select', options: siteOptions, required: true },
      { key: 'name', label: 'field.name', required: true },
      { key: 'team', label: 'field.team', type: 'select', options: teamOptions },
      { key: 'wait', label: 'field.wait', placeholder: '10m', hint: 'field.wait_hint' },
    ],
  });
}

export function mountTeams(root) {
  return mountCrud(root, {
    path: '/teams',
    name: 'teams',
    columns: [
      { key: 'id', label: 'field.id' },
      { key: 'site', label: 'field.site' },
      { key: 'name', label: 'field.name' },
      { key: 'members', label: 'field.members', render: (x) => names(x.members) },
      { key: 'roster', label: 'field.roster', render: (x) => names(x.roster) },
      { key: 'grids', label: 'field.grids', render: (x) => (Array.isArray(x.grids) && x.grids.length ? x.grids.join(', ') : null) },
    ],
    fields: [
      { key: 'id', label: 'field.id', required: true },
      { key: 'site', label: 'field.site', type: 'select', options: siteOptions, required: true },
      { key: 'name', label: 'field.name', required: true },
      { key: 'members', label: 'field.members', type: 'rows', fields: [{ key: 'name', label: 'field.name', required: true }, { key: 'phone', label: 'field.phone' }, NOTIFY_FIELD] },
      { key: 'roster', label: 'field.roster', type: 'rows', fields: ROSTER_FIELDS },
    ],
  });
}

function names(list) {
  return Array.isArray(list) && list.length ? list.map((p) => (p && p.name) || '?').join(', ') : null;
}
