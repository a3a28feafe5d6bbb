// Admin: the community's set-up, one sub-tab per resource.
import { mountTabView } from '../components/tabs.js';
import { mountSites, mountGrids, mountTeams } from './admin/org.js';
import { mountEscalation } from './admin/escalation.js';
import { mountWatchlists } from './admin/watchlists.js';
import { mountRules } from './admin/rules.js';
import { mountSilences } from './admin/silences.js';
import { mountTokens } from './admin/tokens.js';
import { mountNotifications } from './admin/notifications.js';
import { mountTargets } from './admin/targets.js';
import { mountOffice } from './office/report.js';

const TABS = [
  { id: 'sites', label: 'admin.sites', mount: mountSites },
  { id: 'grids', label: 'admin.grids', mount: mountGrids },
  { id: 'teams', label: 'admin.teams', mount: mountTeams },
  { id: 'escalation', label: 'admin.escalation', mount: mountEscalation },
  { id: 'targets', label: 'admin.targets', mount: mountTargets },
  { id: 'watchlists', label: 'admin.watchlists', mount: mountWatchlists },
  { id: 'rules', label: 'admin.rules', mount: mountRules },
  { id: 'silences', label: 'admin.silences', mount: mountSilences },
  { id: 'tokens', label: 'admin.tokens', mount: mountTokens },
  { id: 'notifications', label: 'admin.notifications', mount: mountNotifications },
  { id: 'office', label: 'admin.office', mount: mountOffice },
];

export function mount(root, ctx) {
  return mountTabView(root, ctx, { view: 'admin', title: 'nav.admin', tabs: TABS });
}
