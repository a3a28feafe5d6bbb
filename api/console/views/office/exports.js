// The report as a file: CSV (the group table), Excel (every table) and the monthly bulletin (PDF, in Chinese),
// for the period, grouping and site on screen; fetched with the token and saved under the API's file name.
import { h } from '../../dom.js';
import { t } from '../../i18n.js';
import { downloadFile } from '../../api.js';
import { toast } from '../../toast.js';

const FORMATS = [
  { id: 'csv', label: 'office.export_csv' },
  { id: 'xlsx', label: 'office.export_xlsx' },
  { id: 'pdf', label: 'office.export_pdf', primary: true },
];

// query(): the report's current query (month or from/to, group_by, site).
export function exportButtons(query) {
  return FORMATS.map((f) => {
    const b = h('button', { type: 'button', class: ['btn', 'small', f.primary ? 'primary' : ''], testid: `office-export-${f.id}` }, t(f.label));
    b.addEventListener('click', async () => {
      b.disabled = true;
      const was = b.textContent;
      b.textContent = t('office.exporting');
      try {
        const name = await downloadFile('/reports/alerts', { query: { ...query(), format: f.id }, fallback: `anju-alerts.${f.id}` });
        toast(t('office.exported', { name }), 'ok', 3000);
      } catch {
        // the toast says why
      } finally {
        b.disabled = false;
        b.textContent = was;
      }
    });
    return b;
  });
}
