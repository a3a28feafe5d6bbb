// Integrator: bring devices on board and see what they really send.
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { mountTabs } from '../components/tabs.js';
import { mountRegister } from './integrator/register.js';
import { mountImport } from './integrator/import.js';
import { mountMessages } from './integrator/messages.js';
import { mountDeadLetters } from './integrator/dead-letters.js';
import { mountContract } from './integrator/contract.js';

const TABS = [
  { id: 'register', label: 'int.register', mount: mountRegister },
  { id: 'import', label: 'int.import', mount: mountImport },
  { id: 'messages', label: 'int.messages', mount: mountMessages },
  { id: 'dead-letters', label: 'int.dead_letters', mount: mountDeadLetters },
  { id: 'contract', label: 'int.contract', mount: mountContract },
];

export function mount(root, ctx) {
  const box = h('div', {});
  replace(root, h('div', { class: 'view-head' }, h('h1', {}, t('nav.integrator'))), box);
  return mountTabs(box, { view: 'integrator', tabs: TABS, current: ctx.sub, navigate: ctx.navigate, ctx });
}
