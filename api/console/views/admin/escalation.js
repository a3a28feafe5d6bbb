// Escalation chains per site: the patrol chain above the grid (community office → street → district)
// and the maintenance chain from level 0 (property company → community → street), each level with its
// wait before the next, who is on duty, and whom it notifies.
import { h, replace } from '../../dom.js';
import { t } from '../../i18n.js';
import { api } from '../../api.js';
import { toast } from '../../toast.js';
import { perSite } from '../../lookups.js';
import { buildForm, submitting } from '../../components/form.js';
import { ROSTER_FIELDS, NOTIFY_FIELD } from './org.js';

const LEVEL_FIELDS = [
  { key: 'name', label: 'field.name', required: true },
  { key: 'wait', label: 'field.wait', placeholder: '10m', hint: 'field.wait_level_hint' },
  { key: 'roster', label: 'field.roster', type: 'rows', fields: ROSTER_FIELDS },
  { ...NOTIFY_FIELD, hint: 'field.notify_level_hint' },
];

// The API path of each chain, and its help text.
const CHAINS = [
  { id: 'escalation', label: 'esc.chain_patrol', help: 'esc.help' },
  { id: 'maintenance', label: 'esc.chain_maintenance', help: 'esc.help_maintenance' },
];

export function mountEscalation(root) {
  const siteSel = h('select', { testid: 'escalation-site', 'aria-label': t('field.site') });
  const chainSel = h('select', { testid: 'escalation-chain', 'aria-label': t('esc.chain') },
    CHAINS.map((c) => h('option', { value: c.id }, t(c.label))));
  const help = h('p', { class: 'muted' }, t('esc.help'));
  const box = h('div', {});
  replace(root, h('div', { class: 'section-head' }, h('h2', {}, t('admin.escalation')), chainSel, siteSel), help, box);
  const chain = () => CHAINS.find((c) => c.id === chainSel.value) || CHAINS[0];

  perSite(siteSel, box, load);
  chainSel.addEventListener('change', () => {
    help.textContent = t(chain().help);
    if (siteSel.value) load(siteSel.value);
  });

  async function load(site) {
    replace(box, h('div', { class: 'muted' }, t('common.loading')));
    const path = `/sites/${encodeURIComponent(site)}/${chain().id}`;
    let levels;
    try {
      levels = await api(path, { quiet: true });
    } catch (e) {
      if (e.status !== 404) {
        replace(box, h('div', { class: 'error-box' }, e.message));
        return;
      }
      levels = { levels: [] };
    }
    const form = buildForm([{ key: 'levels', label: 'esc.levels', type: 'rows', fields: LEVEL_FIELDS }], levels || { levels: [] }, { testid: 'escalation-form' });
    const err = h('div', { class: 'field-error', hidden: true });
    const save = h('button', { type: 'submit', class: 'btn primary', testid: 'escalation-save' }, t('common.save'));
    const f = h('form', { class: 'card' }, form.el, err, h('div', { class: 'form-actions' }, save));
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      await submitting(save, err, async () => {
        const body = form.value();
        delete body.site;
        delete body.default;
        await api(path, { method: 'PUT', body, quiet: true });
        toast(t('common.saved'), 'ok', 2500);
      });
    });
    replace(box, f);
  }
}
