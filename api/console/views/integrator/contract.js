// The device contract as the running gateway knows it: topics, and per kind
// the events, telemetry and commands with their topic and example payloads.
import { h, replace, pretty } from '../../dom.js';
import { t, label } from '../../i18n.js';
import { api } from '../../api.js';

const GROUPS = [
  { key: 'events', topic: 'event', example: 'event' },
  { key: 'telemetry', topic: 'telemetry', example: 'telemetry' },
  { key: 'commands', topic: 'cmd', example: 'command' },
];

export function mountContract(root) {
  const box = h('div', { testid: 'contract' }, h('div', { class: 'muted' }, t('common.loading')));
  replace(root, h('div', { class: 'section-head' }, h('h2', {}, t('int.contract'))), box);

  api('/contract').then((c) => {
    const topics = c && typeof c.topics === 'object' && c.topics ? c.topics : {};
    const kinds = Array.isArray(c && c.kinds) ? c.kinds : [];
    replace(box,
      h('section', { class: 'card' }, h('h3', {}, t('int.topics')),
        Object.keys(topics).length ? h('dl', { class: 'kv topics' }, Object.entries(topics).map(([k, v]) => [
          h('dt', {}, k), h('dd', {}, typeof v === 'string' ? h('code', {}, v) : h('pre', { class: 'code' }, pretty(v)))]))
          : h('div', { class: 'empty' }, t('common.empty')),
        c && c.max_payload_bytes ? h('p', { class: 'muted small' }, t('int.max_payload', { n: c.max_payload_bytes })) : null,
        c && c.status_payloads ? h('p', { class: 'muted small' }, `${t('int.status_payloads')}: `, h('code', {}, pretty(c.status_payloads))) : null),
      kinds.length ? h('nav', { class: 'chips' }, kinds.map((k) => {
        const a = h('button', { type: 'button', class: 'chip', 'data-kind': k.kind }, label('kind', k.kind));
        // Scroll instead of an in-page link: a #fragment would replace the route.
        a.addEventListener('click', () => box.querySelector(`[data-kind-section="${CSS.escape(k.kind)}"]`)?.scrollIntoView({ behavior: 'smooth' }));
        return a;
      })) : null,
      kinds.map((k) => renderKind(k, topics)));
  }).catch((e) => replace(box, h('div', { class: 'error-box' }, e.message)));
}

// Groups come either as {type: schema} with examples under kind.examples, or
// as [{type, schema, example}]; both read the same here.
function entries(kind, group) {
  const value = kind[group.key];
  const examples = (kind.examples && (kind.examples[group.example] || kind.examples[group.key])) || {};
  if (Array.isArray(value)) {
    return value.map((it) => ({ type: it.type || it.name, schema: it.schema, example: it.example, description: it.description }));
  }
  if (value && typeof value === 'object') {
    return Object.entries(value).map(([type, schema]) => ({
      type, schema, example: examples[type], description: schema && schema.description,
    }));
  }
  return [];
}

function renderKind(k, topics) {
  const topicFor = (group) => (typeof topics[group.topic] === 'string' ? topics[group.topic].replace('{kind}', k.kind) : null);
  return h('section', { class: 'card kind', testid: 'contract-kind', 'data-kind-section': k.kind },
    h('h3', {}, label('kind', k.kind), ' ', h('code', {}, k.kind)),
    k.title ? h('div', { class: 'muted' }, k.title) : null,
    k.heartbeat_interval_s || k.offline_timeout_s ? h('div', { class: 'muted small' },
      t('int.timing', { hb: k.heartbeat_interval_s ?? '—', off: k.offline_timeout_s ?? '—' })) : null,
    k.safety ? h('div', { class: 'small', testid: 'contract-safety' }, t('int.safety_kind')) : null,
    k.aliases && Object.keys(k.aliases).length ? h('div', { class: 'small', testid: 'contract-aliases' }, `${t('int.aliases')}: `,
      Object.entries(k.aliases).map(([from, to]) => h('code', {}, `${from} → ${to} `))) : null,
    Array.isArray(k.deviations) && k.deviations.length ? h('div', { class: 'small', testid: 'contract-deviations' }, `${t('int.deviations')}: `,
      k.deviations.map((d) => h('span', { class: 'badge warn' }, `${d.reason} × ${d.count}`))) : null,
    GROUPS.map((group) => {
      const items = entries(k, group);
      if (!items.length) return null;
      const topic = topicFor(group);
      return h('div', { class: 'contract-group' },
        h('h4', {}, t(`int.${group.key}`)),
        topic ? h('div', { class: 'mono small topic' }, topic) : null,
        items.map((it) => h('div', { class: 'contract-item', 'data-type': it.type },
          h('div', {}, h('code', { class: 'type' }, it.type || '?'), it.description ? h('span', { class: 'muted' }, ` ${it.description}`) : null),
          it.example !== undefined ? h('pre', { class: 'code', testid: 'contract-example' }, pretty(it.example)) : null,
          it.schema ? h('details', {}, h('summary', {}, t('int.schema')), h('pre', { class: 'code' }, pretty(it.schema))) : null)));
    }));
}
