// Register one device by hand.
import { h, replace } from '../../dom.js';
import { t } from '../../i18n.js';
import { api } from '../../api.js';
import { toast } from '../../toast.js';
import { buildForm, submitting } from '../../components/form.js';
import { kindOptions, siteOptions, gridOptions } from '../../lookups.js';

const FIELDS = [
  { key: 'id', label: 'field.id', required: true, placeholder: 'btn-0101', hint: 'int.id_hint' },
  { key: 'site', label: 'field.site', required: true, suggest: siteOptions },
  { key: 'kind', label: 'field.kind', type: 'select', required: true, options: kindOptions },
  { key: 'grid', label: 'field.grid', suggest: gridOptions },
  { key: 'zone', label: 'field.zone' },
  { key: 'name', label: 'field.name' },
];
const PLACE = ['courtyard', 'building', 'unit', 'room', 'area'];

export function mountRegister(root) {
  const result = h('div', {});
  const box = h('div', {});
  replace(root, h('div', { class: 'section-head' }, h('h2', {}, t('int.register'))), box, result);

  function render() {
    const main = buildForm(FIELDS, {}, { testid: 'register-form' });
    const place = buildForm(PLACE.map((k) => ({ key: k, label: `loc.${k}` })), {});
    const extra = buildForm([
      { key: 'location', label: 'int.location_extra', type: 'json', rows: 2, placeholder: '{"floor": 5}' },
      { key: 'attributes', label: 'int.attributes', type: 'json', rows: 3, placeholder: '{"firmware": "1.2.0"}' },
    ], {});
    const err = h('div', { class: 'field-error', hidden: true, testid: 'register-error' });
    const save = h('button', { type: 'submit', class: 'btn primary', testid: 'register-submit' }, t('int.register_btn'));
    const f = h('form', { class: 'card' }, main.el,
      h('h3', {}, t('int.location')), place.el, extra.el, err, h('div', { class: 'form-actions' }, save));
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      await submitting(save, err, async () => {
        const body = main.value({ dropNulls: true });
        const more = extra.value({ dropNulls: true });
        // The named place fields and the free-form JSON make one location object.
        const location = { ...(more.location || {}), ...place.value({ dropNulls: true }) };
        if (Object.keys(location).length) body.location = location;
        if (more.attributes) body.attributes = more.attributes;
        const device = await api('/devices', { method: 'POST', body, quiet: true });
        toast(t('int.registered', { id: (device && device.id) || body.id }), 'ok', 3000);
        replace(result, h('div', { class: 'card ok-box', testid: 'register-result' },
          t('int.registered', { id: (device && device.id) || body.id }),
          h('pre', { class: 'code' }, JSON.stringify(device, null, 2))));
        render();
      });
    });
    replace(box, f);
  }
  render();
}
