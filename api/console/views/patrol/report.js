// Field reports (issue 18): a patrol member raises an alert from the phone — what, where, how bad, a photo
// from the camera — with POST /reports. It becomes an alert like a device's (routed to the grid's team,
// escalated, notified); once sent, the console opens it in the alert list.
import { closesOn, h, replace } from '../../dom.js';
import { t, label } from '../../i18n.js';
import { api, asList } from '../../api.js';
import { toast } from '../../toast.js';

const SEVERITIES = ['warning', 'minor', 'major', 'critical'];
const MAX_SIDE = 1920; // the server keeps at most this much; a phone's 4000 px photo is shrunk before it is sent
const QUALITY = 0.85;
const MAX_BYTES = 4 * 1024 * 1024;

// The "Report" button of the patrol view; null for a role that may not report.
export function reportButton(host, { me }) {
  if (!me || !Array.isArray(me.permissions) || !me.permissions.includes('reports:write')) return null;
  const btn = h('button', { type: 'button', class: 'btn primary report-open', testid: 'report-open' }, `＋ ${t('report.open')}`);
  btn.addEventListener('click', () => openReportForm(host, { me }));
  return btn;
}

export function openReportForm(host, { me, onReported = focusWhenListed } = {}) {
  let preview = null; // the blob URL of the photo's preview
  const what = h('input', { type: 'text', maxlength: '200', required: true, testid: 'report-what', placeholder: t('report.what_placeholder'), autocomplete: 'off' });
  const where = h('input', { type: 'text', maxlength: '200', required: true, testid: 'report-where', placeholder: t('report.where_placeholder'), autocomplete: 'off' });
  const severity = h('select', { testid: 'report-severity' }, SEVERITIES.map((s) => h('option', { value: s }, label('sev', s))));
  severity.value = 'major';
  const critHint = h('div', { class: 'muted small', testid: 'report-critical-hint', hidden: true }, t('report.critical_hint'));
  severity.addEventListener('change', () => { critHint.hidden = severity.value !== 'critical'; });
  const grid = h('select', { testid: 'report-grid' });
  const gridField = field('report.grid', grid);
  const photo = h('input', { type: 'file', accept: 'image/*', capture: 'environment', testid: 'report-photo' });
  const img = h('img', { class: 'report-preview', alt: t('report.photo'), testid: 'report-preview', hidden: true });
  const clearPhoto = h('button', { type: 'button', class: 'btn small ghost', testid: 'report-photo-clear', hidden: true }, t('report.photo_clear'));
  const error = h('div', { class: 'field-error', testid: 'report-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn primary big', testid: 'report-submit' }, t('report.submit'));
  const close = h('button', { type: 'button', class: 'btn ghost', testid: 'report-close', 'aria-label': t('common.close') }, '✕');
  const form = h('form', { class: 'report-form', novalidate: true },
    field('report.what', what, true),
    field('report.where', where, true),
    field('report.severity', severity, false, critHint),
    gridField,
    field('report.photo', photo, false, h('div', { class: 'report-photo' }, img, clearPhoto)),
    error,
    h('div', { class: 'report-actions' }, submit));
  const panel = h('div', { class: 'sheet-panel', role: 'dialog', 'aria-modal': 'true', testid: 'report-form' },
    h('div', { class: 'sheet-head' }, h('h2', {}, t('report.title')), close), form);
  const sheet = h('div', { class: 'sheet' }, panel);
  host.append(sheet);
  what.focus();
  fillGrids(me, grid, gridField);

  function setPreview(file) {
    if (preview) URL.revokeObjectURL(preview);
    preview = file ? URL.createObjectURL(file) : null;
    img.hidden = !preview;
    clearPhoto.hidden = !preview;
    if (preview) img.src = preview;
    else img.removeAttribute('src');
  }
  photo.addEventListener('change', () => setPreview(photo.files && photo.files[0]));
  clearPhoto.addEventListener('click', () => {
    photo.value = '';
    setPreview(null);
  });

  function done() {
    setPreview(null);
    sheet.remove();
    stopListening();
  }
  const stopListening = closesOn(sheet, close, done);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    const body = { what: what.value.trim(), where: where.value.trim(), severity: severity.value };
    if (!body.what || !body.where) {
      showError(t('report.required'));
      (body.what ? where : what).focus();
      return;
    }
    if (grid.value) body.grid = grid.value;
    submit.disabled = true;
    submit.textContent = t('report.sending');
    try {
      const file = photo.files && photo.files[0];
      if (file) {
        const blob = await shrink(file);
        if (blob.size > MAX_BYTES) throw new Error(t('report.too_large'));
        body.photo = await base64(blob);
      }
      const alert = await api('/reports', { method: 'POST', body, quiet: true });
      toast(t('report.sent'), 'ok', 4000);
      done();
      if (alert && alert.id) onReported(alert);
    } catch (err) {
      showError(err.message);
    } finally {
      submit.disabled = false;
      submit.textContent = t('report.submit');
    }
  });

  function showError(message) {
    error.textContent = message;
    error.hidden = false;
  }
  return { close: done };
}

function field(key, input, required = false, extra = null) {
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, t(key), required ? ' *' : ''), input, extra);
}

// A patrol token reports in its own grids (the first is the default, a choice only when it has several);
// a role bound to none (admin, maintenance) picks one of the site's.
async function fillGrids(me, select, fieldEl) {
  let ids = Array.isArray(me && me.grids) ? me.grids : null;
  if (!ids) {
    try {
      ids = asList(await api('/grids', { quiet: true })).map((g) => g.id);
    } catch {
      ids = [];
    }
  }
  replace(select, ids.map((id) => h('option', { value: id }, id)));
  fieldEl.hidden = ids.length <= 1;
}

// The photo as a JPEG of at most MAX_SIDE px, turned upright: a phone's photo is several MB and the
// server would shrink it anyway. A picture this browser cannot decode is sent as it is (the server says why
// it refuses it, if it does).
async function shrink(file) {
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    if (bitmap.close) bitmap.close();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', QUALITY));
    if (blob) return blob;
  } catch {
    // fall through: the file as it is
  }
  return file;
}

function base64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ''));
    reader.onerror = () => reject(new Error(t('report.unreadable')));
    reader.readAsDataURL(blob);
  });
}

// Open the new alert once the live list shows it (it arrives on the alert stream, usually at once).
export function focusWhenListed(alert, timeoutMs = 10000) {
  const started = Date.now();
  const id = String(alert.id);
  const tick = () => {
    if (document.querySelector(`[data-testid=alert-item][data-alert-id="${CSS.escape(id)}"]`)) {
      window.dispatchEvent(new CustomEvent('anju:focus-alert', { detail: alert.id }));
    } else if (Date.now() - started < timeoutMs) {
      setTimeout(tick, 150);
    }
  };
  tick();
}
