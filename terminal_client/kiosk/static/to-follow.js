// Bring a missing material: the acceptance number, the ID re-check (as for a result),
// then each material the application waits for, scanned page by page and finished.

import { t, has } from './i18n.js';

const $ = (selector) => document.querySelector(selector);
const PHASES = ['document', 'reading', 'face', 'challenge'];

function errorText(follow) {
  if (!follow.error_key) return '';
  return t(has(follow.error_key) ? follow.error_key : 'follow.error.other');
}

function renderItems(follow) {
  const list = $('[data-testid=follow-list]');
  const busy = follow.state === 'scanning' || follow.state === 'finishing';
  list.replaceChildren(...follow.items.map((item) => {
    const row = document.createElement('li');
    row.className = 'follow-item';
    row.dataset.material = item.material_id;
    row.dataset.done = String(item.done);
    const name = document.createElement('p');
    name.className = 'follow-name';
    name.textContent = item.name;
    const due = document.createElement('p');
    due.className = 'follow-due';
    due.textContent = t('follow.due', { date: item.due_on });
    const pages = document.createElement('p');
    pages.className = 'follow-pages';
    pages.dataset.testid = `follow-pages-${item.material_id}`;
    pages.textContent = item.done ? t('follow.item_done') : t('follow.pages', { count: item.pages });
    row.append(name, due, pages);
    if (!item.done) {
      const buttons = document.createElement('div');
      buttons.className = 'follow-buttons';
      for (const [action, key, style] of [['follow-scan', 'follow.scan', 'primary'], ['follow-finish', 'follow.finish', 'secondary']]) {
        const button = document.createElement('button');
        button.type = 'button';
        button.className = style;
        button.dataset.action = action;
        button.dataset.arg = item.material_id;
        button.dataset.testid = `${action}-${item.material_id}`;
        button.textContent = t(key);
        button.disabled = busy || (action === 'follow-finish' && item.pages === 0);
        buttons.append(button);
      }
      row.append(buttons);
    }
    return row;
  }));
}

/** The FOLLOW screen. */
export function renderFollow(view) {
  const follow = view.follow || { state: 'unavailable', items: [], scanner: false };
  const state = follow.state;
  const busy = PHASES.includes(state) || state === 'checking';
  const entering = ['enter', 'failed', 'unavailable', ...PHASES, 'checking'].includes(state);
  $('[data-testid=follow-form]').hidden = !entering;
  $('[data-testid=follow-submit]').disabled = busy || state === 'unavailable';
  $('[data-testid=follow-number]').disabled = busy || state === 'unavailable';
  const check = $('[data-testid=follow-check]');
  check.hidden = !(PHASES.includes(state) || state === 'failed');
  check.dataset.phase = state;
  if (!check.hidden) {
    $('[data-testid=follow-instruction]').textContent = t(`reprint.phase.${state}`);
    const action = $('[data-testid=follow-action]');
    action.hidden = !follow.action;
    action.textContent = follow.action ? t(`identity.action.${follow.action}`) : '';
  }
  $('[data-testid=follow-retry]').hidden = state !== 'failed';
  const error = $('[data-testid=follow-error]');
  error.hidden = !follow.error_key;
  error.textContent = errorText(follow);
  error.dataset.key = follow.error_key || '';
  const listed = ['list', 'scanning', 'finishing', 'done'].includes(state);
  $('[data-testid=follow-list]').hidden = !listed;
  if (listed) renderItems(follow);
  const status = $('[data-testid=follow-status]');
  status.dataset.state = state;
  if (state === 'unavailable') {
    status.textContent = t(follow.scanner ? 'reprint.unavailable' : 'follow.no_scanner');
  } else if (state === 'checking') {
    status.textContent = t('result.checking');
  } else if (state === 'scanning') {
    status.textContent = t('follow.scanning');
  } else if (state === 'list' || state === 'finishing') {
    status.textContent = t('follow.list_lead', { number: follow.acceptance_number });
  } else if (state === 'done') {
    status.textContent = t('follow.done', { number: follow.acceptance_number });
  } else {
    status.textContent = '';
  }
}

/** The screen's buttons. */
export function followActions(ui, send) {
  const lookUp = () => {
    const number = $('[data-testid=follow-number]').value.trim().slice(0, 40);
    if (number) send({ type: 'follow', action: 'look_up', acceptance_number: number });
  };
  return {
    'follow-open': () => {
      $('[data-testid=follow-number]').value = '';
      send({ type: 'follow', action: 'open' });
    },
    'follow-submit': lookUp,
    'follow-retry': lookUp,
    'follow-scan': (material) => send({ type: 'follow', action: 'scan', material_id: material }),
    'follow-finish': (material) => send({ type: 'follow', action: 'finish', material_id: material }),
  };
}
