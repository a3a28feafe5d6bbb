// The printable sheet of a site's QR codes, inside the console (its CSP allows no inline markup from the API:
// each code is fetched as SVG with the token and shown as an image). The browser's Print prints only the
// sheet (style.css, @media print).
import { h, replace } from '../../dom.js';
import { t } from '../../i18n.js';
import { api, asList, getToken } from '../../api.js';

export function mountPrint(root, { site, back }) {
  const urls = [];
  let stopped = false;
  const grid = h('div', { class: 'qr-sheet', testid: 'qr-sheet' }, h('div', { class: 'muted' }, t('common.loading')));
  replace(root,
    h('div', { class: 'view-head no-print' },
      h('button', { type: 'button', class: 'btn ghost', testid: 'print-back', onClick: back }, `← ${t('rounds.back')}`),
      h('h1', {}, t('rounds.print_title')),
      h('button', { type: 'button', class: 'btn primary', testid: 'print-now', onClick: () => window.print() }, t('rounds.print_now'))),
    grid);

  (async () => {
    let points;
    try {
      points = asList(await api('/patrol/points', { query: { site } }));
    } catch (err) {
      replace(grid, h('div', { class: 'error-box' }, err.message));
      return;
    }
    if (stopped) return;
    replace(grid, points.length ? points.map((p) => {
      const img = h('img', { class: 'qr-img', alt: p.name, testid: 'qr-img', 'data-point': p.id });
      fetch(`/api/v1/patrol/points/${encodeURIComponent(p.id)}/qr.svg`, { headers: { Authorization: `Bearer ${getToken()}` } })
        .then((res) => (res.ok ? res.blob() : Promise.reject(new Error(String(res.status)))))
        .then((blob) => {
          if (stopped) return;
          const url = URL.createObjectURL(blob);
          urls.push(url);
          img.src = url;
        })
        .catch(() => img.replaceWith(h('div', { class: 'error-box' }, t('rounds.qr_failed'))));
      const where = Object.values(p.location || {}).filter((v) => typeof v !== 'object').join(' · ');
      return h('figure', { class: 'qr-card', testid: 'qr-card' }, img,
        h('figcaption', {}, h('strong', {}, p.name), h('span', { class: 'muted small' }, [p.id, p.grid].filter(Boolean).join(' · ')),
          where ? h('span', { class: 'small' }, where) : null,
          p.code ? h('code', { class: 'small' }, `${p.id}.${p.code}`) : null));
    }) : h('div', { class: 'empty' }, t('common.empty')));
  })();

  return () => {
    stopped = true;
    for (const url of urls) URL.revokeObjectURL(url);
  };
}
