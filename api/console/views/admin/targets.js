// Response targets per site: how soon each severity should be acknowledged and resolved (GET/PUT
// /sites/{id}/targets). The office's reports judge the share "within target" by them.
import { h, replace } from '../../dom.js';
import { t, label } from '../../i18n.js';
import { api } from '../../api.js';
import { toast } from '../../toast.js';
import { perSite } from '../../lookups.js';
import { submitting } from '../../components/form.js';

const SEVERITIES = ['critical', 'major', 'minor', 'warning'];

export function mountTargets(root) {
  const siteSel = h('select', { class: 'head-select', testid: 'targets-site', 'aria-label': t('field.site') });
  const box = h('div', {});
  replace(root,
    h('div', { class: 'section-head' }, h('h2', {}, t('admin.targets')), siteSel),
    h('p', { class: 'muted' }, t('targets.help')),
    box);

  perSite(siteSel, box, load);

  async function load(site) {
    replace(box, h('div', { class: 'muted' }, t('common.loading')));
    const path = `/sites/${encodeURIComponent(site)}/targets`;
    let targets;
    try {
      targets = await api(path, { quiet: true });
    } catch (e) {
      replace(box, h('div', { class: 'error-box' }, e.message));
      return;
    }
    const inputs = {};
    const rows = SEVERITIES.map((sev) => {
      const cur = targets[sev] || {};
      const ack = h('input', { type: 'text', value: cur.acknowledge || '', testid: `target-${sev}-acknowledge`, 'aria-label': `${label('sev', sev)} ${t('targets.acknowledge')}`, placeholder: '60s', autocomplete: 'off', spellcheck: 'false', class: 'mono' });
      const res = h('input', { type: 'text', value: cur.resolve || '', testid: `target-${sev}-resolve`, 'aria-label': `${label('sev', sev)} ${t('targets.resolve')}`, placeholder: '1h', autocomplete: 'off', spellcheck: 'false', class: 'mono' });
      inputs[sev] = { ack, res };
      return h('tr', { testid: 'target-row', 'data-severity': sev },
        h('td', {}, h('span', { class: `badge sev sev-${sev}` }, label('sev', sev))), h('td', {}, ack), h('td', {}, res));
    });
    const err = h('div', { class: 'field-error', hidden: true, testid: 'targets-error' });
    const save = h('button', { type: 'submit', class: 'btn primary', testid: 'targets-save' }, t('common.save'));
    const status = h('span', { class: 'muted small', testid: 'targets-default' }, targets.default ? t('targets.defaults') : t('targets.own'));
    const form = h('form', { class: 'card targets-card', testid: 'targets-form' },
      h('div', { class: 'table-wrap' }, h('table', { class: 'table targets-table' },
        h('thead', {}, h('tr', {}, h('th', {}, t('alert.severity')), h('th', {}, t('targets.acknowledge')), h('th', {}, t('targets.resolve')))),
        h('tbody', {}, rows))),
      h('p', { class: 'muted small' }, t('targets.hint')),
      err, h('div', { class: 'form-actions targets-actions' }, save, status));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      await submitting(save, err, async () => {
        const body = {};
        for (const sev of SEVERITIES) {
          const { ack, res } = inputs[sev];
          const entry = {};
          if (ack.value.trim()) entry.acknowledge = ack.value.trim();
          if (res.value.trim()) entry.resolve = res.value.trim();
          body[sev] = entry;
        }
        const saved = await api(path, { method: 'PUT', body, quiet: true });
        for (const sev of SEVERITIES) {
          inputs[sev].ack.value = saved[sev].acknowledge;
          inputs[sev].res.value = saved[sev].resolve;
        }
        status.textContent = saved.default ? t('targets.defaults') : t('targets.own');
        toast(t('common.saved'), 'ok', 2500);
      });
    });
    replace(box, form);
  }
}
