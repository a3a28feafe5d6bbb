// Integrator: bring devices on board and see what they really send.
import { mountTabView } from '../components/tabs.js';
import { mountRegister } from './integrator/register.js';
import { mountImport } from './integrator/import.js';
import { mountMessages } from './integrator/messages.js';
import { mountDeadLetters } from './integrator/dead-letters.js';
import { mountContract } from './integrator/contract.js';
import { mountDeviations } from './integrator/deviations.js';

const TABS = [
  { id: 'register', label: 'int.register', mount: mountRegister },
  { id: 'import', label: 'int.import', mount: mountImport },
  { id: 'messages', label: 'int.messages', mount: mountMessages },
  { id: 'dead-letters', label: 'int.dead_letters', mount: mountDeadLetters },
  { id: 'deviations', label: 'int.deviations', mount: mountDeviations },
  { id: 'contract', label: 'int.contract', mount: mountContract },
];

export function mount(root, ctx) {
  return mountTabView(root, ctx, { view: 'integrator', title: 'nav.integrator', tabs: TABS });
}
