// Notifications (SPEC §6): every configured target and how its deliveries went (failing ones first to see),
// a test send, failed deliveries to send again, and each site's quiet hours and family wait.
// Targets arrive redacted (`shown`): no key of a chat bot or mailbox reaches this page.
import { h, replace } from '../../dom.js';
import { t, label } from '../../i18n.js';
import { api, asList } from '../../api.js';
import { relTimeEl, absTime } from '../../fmt.js';
import { toast } from '../../toast.js';
import { perSite } from '../../lookups.js';
import { submitting } from '../../components/form.js';
import { deliveryState } from '../../components/alert-item.js';

const HOLDABLE = ['major', 'minor', 'warning'];

export function mountNotifications(root) {
  let stopped = false;
  const testBox = h('section', { class: 'card', testid: 'notify-test' });
  const targetsBox = h('section', { class: 'panel', testid: 'notify-targets' });
  const deliveriesBox = h('section', { class: 'panel', testid: 'notify-deliveries' });
  const policyBox = h('section', { class: 'card', testid: 'notify-policy' });
  replace(root,
    h('div', { class: 'section-head' }, h('h2', {}, t('admin.notifications'))),
    h('p', { class: 'muted' }, t('ntf.help')),
    testBox, targetsBox, deliveriesBox, policyBox);

  renderTest(testBox);
  mountTargets(targetsBox, () => stopped);
  mountDeliveries(deliveriesBox, () => stopped);
  mountPolicy(policyBox);
  return () => { stopped = true; };
}

// A test message to one target, now: the outcome as the API reports it.
function renderTest(box) {
  const url = h('input', { type: 'text', class: 'mono', testid: 'notify-test-url', placeholder: 'wecombot://KEY', autocomplete: 'off', spellcheck: 'false', 'aria-label': t('ntf.test_url') });
  const send = h('button', { type: 'submit', class: 'btn primary', testid: 'notify-test-send' }, t('ntf.test_send'));
  const err = h('div', { class: 'field-error', hidden: true, testid: 'notify-test-error' });
  const outcome = h('div', { testid: 'notify-test-outcome' });
  const form = h('form', { class: 'inline-form' }, url, send);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(outcome);
    const text = url.value.trim();
    if (!text) return;
    await submitting(send, err, async () => {
      const r = await api('/notify/test', { method: 'POST', body: { url: text }, quiet: true });
      replace(outcome, h('div', { class: r.delivered ? 'notify-ok' : 'error-box', 'data-delivered': String(!!r.delivered) },
        h('strong', {}, r.delivered ? t('ntf.test_delivered') : t('ntf.test_failed')), ' ',
        h('span', { class: 'mono' }, `${label('channel', r.channel)} → ${r.target}`),
        r.error ? h('div', { class: 'small' }, r.error) : null));
    });
  });
  replace(box, h('h3', {}, t('ntf.test')), h('p', { class: 'muted small' }, t('ntf.test_help')), form, err, outcome);
}

// Every configured target: where it is set, whether it parses, its last delivery; failing ones highlighted.
function mountTargets(box, stopped) {
  const failingOnly = h('input', { type: 'checkbox', testid: 'targets-failing' });
  const filter = h('input', { type: 'search', testid: 'targets-filter', placeholder: t('ntf.filter'), 'aria-label': t('ntf.filter') });
  const refresh = h('button', { type: 'button', class: 'btn small' }, t('common.refresh'));
  const counter = h('span', { class: 'muted small', testid: 'targets-count' });
  const tbody = h('tbody', {});
  const cols = ['ntf.where', 'dl.channel', 'dl.target', 'ntf.status', 'ntf.last', 'ntf.failures', 'dl.error'];
  replace(box,
    h('div', { class: 'section-head' }, h('h3', {}, t('ntf.targets')), counter),
    h('div', { class: 'filters' }, h('label', { class: 'inline' }, failingOnly, ' ', t('ntf.failing_only')), filter, refresh),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid: 'targets-table' },
      h('thead', {}, h('tr', {}, cols.map((k) => h('th', {}, t(k))))), tbody)));
  let items = [];

  function render() {
    const q = filter.value.trim().toLowerCase();
    const shown = items.filter((x) => !q || [x.where, x.shown, x.channel, x.recipient].some((v) => String(v || '').toLowerCase().includes(q)));
    const failing = items.filter((x) => x.failing).length;
    counter.textContent = t('ntf.count', { n: items.length, failing });
    replace(tbody, shown.length ? shown.map((x) => h('tr', { testid: 'target-row', class: x.failing ? 'failing' : '', 'data-failing': String(!!x.failing) },
      h('td', {}, x.where),
      h('td', {}, x.channel ? label('channel', x.channel) : '—'),
      h('td', { class: 'mono small' }, x.shown),
      h('td', {}, x.ok ? h('span', { class: 'badge dl dl-delivered' }, t('ntf.usable')) : h('span', { class: 'badge dl dl-failed' }, t('ntf.unusable'))),
      h('td', {}, x.last_state ? [h('span', { class: `badge dl dl-${x.last_state}` }, label('delivery', x.last_state)), ' ', relTimeEl(x.last_at)] : h('span', { class: 'muted' }, t('ntf.never_sent'))),
      h('td', { class: x.failures_24h ? 'bad-text' : 'muted' }, String(x.failures_24h || 0)),
      h('td', { class: 'small' }, x.error ? h('span', { class: 'bad-text' }, x.error) : null,
        !x.error && x.failing && x.last_error ? h('span', { class: 'bad-text' }, x.last_error) : null,
        x.note ? h('span', { class: 'muted' }, x.note) : null)))
      : h('tr', {}, h('td', { colspan: String(cols.length), class: 'empty' }, failingOnly.checked ? t('ntf.none_failing') : t('common.empty'))));
  }

  async function load() {
    try {
      items = asList(await api('/notify/targets', { query: { failing: failingOnly.checked ? 'true' : null } }));
      if (stopped()) return;
      items.sort((a, b) => Number(!!b.failing) - Number(!!a.failing));
      render();
    } catch (e) {
      replace(tbody, h('tr', {}, h('td', { colspan: String(cols.length), class: 'error-box' }, e.message)));
    }
  }
  failingOnly.addEventListener('change', load);
  filter.addEventListener('input', render);
  refresh.addEventListener('click', load);
  load();
}

// Failed (or cancelled) deliveries, newest first, each with a button to send it again.
function mountDeliveries(box, stopped) {
  const stateSel = h('select', { testid: 'deliveries-state', 'aria-label': t('dl.state') },
    ['failed', 'cancelled', 'pending', 'delivered'].map((s) => h('option', { value: s }, label('delivery', s))));
  const tbody = h('tbody', {});
  const cols = ['dl.when', 'dl.alert', 'dl.channel', 'dl.recipient', 'dl.target', 'dl.state', 'dl.attempts', 'dl.error', ''];
  replace(box,
    h('div', { class: 'section-head' }, h('h3', {}, t('ntf.deliveries')), stateSel),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid: 'deliveries-table' },
      h('thead', {}, h('tr', {}, cols.map((k) => h('th', {}, k ? t(k) : '')))), tbody)));

  async function load() {
    try {
      const list = asList(await api('/notify/deliveries', { query: { state: stateSel.value, limit: 100 } }));
      if (stopped()) return;
      replace(tbody, list.length ? list.map((d) => h('tr', { testid: 'delivery-row', 'data-id': d.id, 'data-state': d.state },
        h('td', { class: 'small' }, absTime(d.created_at)),
        h('td', {}, d.alert_id ?? '—'),
        h('td', {}, label('channel', d.channel)),
        h('td', {}, d.recipient, h('span', { class: 'muted' }, ` · ${label('step', d.step)}`)),
        h('td', { class: 'mono small' }, d.shown),
        h('td', {}, deliveryState(d)),
        h('td', {}, String(d.attempts)),
        h('td', { class: 'small bad-text' }, d.last_error || ''),
        h('td', {}, d.state === 'failed' || d.state === 'cancelled' ? retryButton(d) : null)))
        : h('tr', {}, h('td', { colspan: String(cols.length), class: 'empty' }, t('common.empty'))));
    } catch (e) {
      replace(tbody, h('tr', {}, h('td', { colspan: String(cols.length), class: 'error-box' }, e.message)));
    }
  }

  function retryButton(d) {
    const b = h('button', { type: 'button', class: 'btn small', testid: 'delivery-retry' }, t('ntf.retry'));
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        await api(`/notify/deliveries/${encodeURIComponent(d.id)}/retry`, { method: 'POST' });
        toast(t('ntf.retried'), 'ok', 2500);
        load();
      } catch {
        b.disabled = false; // toast shown
      }
    });
    return b;
  }

  stateSel.addEventListener('change', load);
  load();
}

// Per site: quiet hours (never for critical alerts) and how long an SOS waits before the family is told.
function mountPolicy(box) {
  const siteSel = h('select', { testid: 'policy-site', 'aria-label': t('field.site') });
  const body = h('div', {});
  replace(box, h('div', { class: 'section-head' }, h('h3', {}, t('ntf.policy')), siteSel), h('p', { class: 'muted small' }, t('ntf.policy_help')), body);
  perSite(siteSel, body, load);

  async function load(site) {
    const path = `/sites/${encodeURIComponent(site)}/notifications`;
    let policy;
    try {
      policy = await api(path, { quiet: true });
    } catch (e) {
      replace(body, h('div', { class: 'error-box' }, e.message));
      return;
    }
    const quiet = policy.quiet_hours;
    const enabled = h('input', { type: 'checkbox', checked: !!quiet, testid: 'policy-quiet' });
    const from = h('input', { type: 'time', value: quiet ? quiet.from : '22:00', testid: 'policy-from', 'aria-label': t('field.from') });
    const to = h('input', { type: 'time', value: quiet ? quiet.to : '07:00', testid: 'policy-to', 'aria-label': t('field.to') });
    const held = new Set(quiet ? quiet.hold : ['minor', 'warning']);
    const holds = HOLDABLE.map((s) => h('input', { type: 'checkbox', value: s, checked: held.has(s), testid: `policy-hold-${s}` }));
    const never = h('input', { type: 'checkbox', checked: policy.family_after === null, testid: 'policy-family-never' });
    const after = h('input', { type: 'text', value: policy.family_after ?? '0s', placeholder: '0s, 3m', testid: 'policy-family-after', 'aria-label': t('ntf.family_after') });
    const err = h('div', { class: 'field-error', hidden: true, testid: 'policy-error' });
    const save = h('button', { type: 'submit', class: 'btn primary', testid: 'policy-save' }, t('common.save'));
    const form = h('form', { class: 'form-grid' },
      h('label', { class: 'field field-checkbox' }, enabled, h('span', {}, t('ntf.quiet_hours'))),
      h('div', { class: 'inline-form' }, h('span', {}, t('field.from')), from, h('span', {}, t('field.to')), to),
      h('fieldset', { class: 'field days' }, h('legend', {}, t('ntf.hold')),
        h('div', { class: 'days-row' }, holds.map((b) => h('label', { class: 'day' }, b, label('sev', b.value)))),
        h('span', { class: 'muted small' }, t('ntf.hold_hint'))),
      h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('ntf.family_after')), after,
        h('span', { class: 'muted small' }, t('ntf.family_after_hint'))),
      h('label', { class: 'field field-checkbox' }, never, h('span', {}, t('ntf.family_never'))),
      err, h('div', { class: 'form-actions' }, save));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      await submitting(save, err, async () => {
        const sent = {
          quiet_hours: enabled.checked ? { from: from.value, to: to.value, hold: holds.filter((b) => b.checked).map((b) => b.value) } : null,
          family_after: never.checked ? null : (after.value.trim() || '0s'),
        };
        await api(path, { method: 'PUT', body: sent, quiet: true });
        toast(t('common.saved'), 'ok', 2500);
      });
    });
    replace(body, form);
  }
}
