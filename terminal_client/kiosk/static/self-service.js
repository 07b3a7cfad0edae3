// The SELF_SERVICE screen: a service without a clerk. The kiosk process does the work (identity
// check, the department's document, printing); this page says where it is, in large type, and
// offers "Ask a clerk" when the department failed or refused (view.self_service).

import { t, has } from './i18n.js';
import { renderEid } from './eid.js';

const $ = (selector) => document.querySelector(selector);
const IDENTITY = ['document', 'reading', 'face', 'challenge', 'sending'];
const STOPPED = ['refused', 'failed', 'unavailable'];

/** Show the self-service state: identity step, waiting (slow), printing, printed, or why not. */
export function renderSelfService(view) {
  const s = view.self_service || { state: 'opening' };
  const state = s.state;
  const status = $('[data-testid=self-service-status]');
  status.dataset.state = state;
  const check = $('[data-testid=self-service-check]');
  check.hidden = !IDENTITY.includes(state);
  if (!check.hidden) {
    $('[data-testid=self-service-instruction]').textContent = t(`identity.phase.${state}`);
    const action = $('[data-testid=self-service-action]');
    action.hidden = !s.action;
    action.textContent = s.action ? t(`identity.action.${s.action}`) : '';
  }
  const busy = ['opening', 'fetching', 'slow', 'printing'].includes(state);
  $('[data-testid=self-service-spinner]').hidden = !busy;
  const words = {
    opening: 'self_service.opening', fetching: 'self_service.fetching', slow: 'self_service.slow',
    printing: 'self_service.printing', printed: 'self_service.printed',
    refused: 'self_service.refused_title', failed: 'self_service.failed_title',
    unavailable: 'self_service.unavailable', eid: 'self_service.eid_only',
  };
  status.textContent = words[state] ? t(words[state]) : '';
  const reason = $('[data-testid=self-service-reason]');
  const key = s.error_key;
  reason.hidden = !(STOPPED.includes(state) && key);
  reason.textContent = reason.hidden ? '' : t(has(key) ? key : 'self_service.error.other');
  reason.dataset.key = key || '';
  const number = $('[data-testid=self-service-number]');
  number.hidden = !s.acceptance_number;
  number.textContent = s.acceptance_number ? t('self_service.number', { number: s.acceptance_number }) : '';
  $('[data-testid=self-service-verify]').hidden = state !== 'printed';
  $('[data-testid=self-service-print-error]').hidden = !s.print_error;
  $('[data-testid=self-service-print-error]').textContent = s.print_error && has(s.print_error) ? t(s.print_error) : '';
  $('[data-testid=self-service-ask-clerk]').hidden = !s.can_ask_clerk;
  $('[data-testid=self-service-ask-hint]').hidden = !s.can_ask_clerk || state === 'unavailable';
  $('[data-testid=self-service-finish]').hidden = busy || IDENTITY.includes(state);
  renderEid(view);
}

/** The screen's buttons. */
export function selfServiceActions(send) {
  return { ask_clerk: () => send({ type: 'ask_clerk' }) };
}
