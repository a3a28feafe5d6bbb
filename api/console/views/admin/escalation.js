// Escalation chain per site: grid patrol → community office → street → district,
// each level with its wait before the next and who is on duty.
import { h, replace } from '../../dom.js';
import { t } from '../../i18n.js';
import { api } from '../../api.js';
import { toast } from '../../toast.js';
import { siteOptions } from '../../lookups.js';
import { buildForm, submitting } from '../../components/form.js';
import { ROSTER_FIELDS } from './org.js';

const LEVEL_FIELDS = [
  { key: 'name', label: 'field.name', required: true },
  { key: 'wait', label: 'field.wait', placeholder: '10m', hint: 'field.wait_level_hint' },
  { key: 'roster', label: 'field.roster', type: 'rows', fields: ROSTER_FIELDS },
];

export function mountEscalation(root) {
  const siteSel = h('select', { testid: 'escalation-site', 'aria-label': t('field.site') });
  const box = h('div', {});
  replace(root, h('div', { class: 'section-head' }, h('h2', {}, t('admin.escalation')), siteSel), h('p', { class: 'muted' }, t('esc.help')), box);

  siteOptions().then((opts) => {
    replace(siteSel, opts.map((o) => h('option', { value: o.value }, o.label)));
    if (opts.length) load(siteSel.value);
    else replace(box, h('div', { class: 'empty' }, t('esc.no_sites')));
  }).catch((e) => replace(box, h('div', { class: 'error-box' }, e.message)));
  siteSel.addEventListener('change', () => load(siteSel.value));

  async function load(site) {
    replace(box, h('div', { class: 'muted' }, t('common.loading')));
    let chain;
    try {
      chain = await api(`/sites/${encodeURIComponent(site)}/escalation`, { quiet: true });
    } catch (e) {
      if (e.status !== 404) {
        replace(box, h('div', { class: 'error-box' }, e.message));
        return;
      }
      chain = { levels: [] };
    }
    const form = buildForm([{ key: 'levels', label: 'esc.levels', type: 'rows', fields: LEVEL_FIELDS }], chain || { levels: [] }, { testid: 'escalation-form' });
    const err = h('div', { class: 'field-error', hidden: true });
    const save = h('button', { type: 'submit', class: 'btn primary', testid: 'escalation-save' }, t('common.save'));
    const f = h('form', { class: 'card' }, form.el, err, h('div', { class: 'form-actions' }, save));
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      await submitting(save, err, async () => {
        const body = form.value();
        await api(`/sites/${encodeURIComponent(site)}/escalation`, { method: 'PUT', body, quiet: true });
        toast(t('common.saved'), 'ok', 2500);
      });
    });
    replace(box, f);
  }
}
