// A fee on screen: the order's QR code, the amount, a countdown to the code's expiry, and
// what to do when it failed or expired (a new code). Two places show one: the signing panel
// (a fee due before submission, testids ``pay-*``) and "print my result" (a fee due on
// approval, ``result-pay-*``). The view comes from the kiosk process; the countdown is ours.

import { t } from './i18n.js';

const $ = (selector) => document.querySelector(selector);
const timers = {}; // prefix -> { expiresAt, timer }

function tick(prefix) {
  const clock = timers[prefix];
  const expiry = $(`[data-testid=${prefix}-expiry]`);
  if (!clock || !clock.expiresAt) {
    expiry.textContent = '';
    return;
  }
  const left = Math.max(0, Math.round((clock.expiresAt - Date.now()) / 1000));
  const time = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
  expiry.textContent = t('pay.expires_in', { time });
}

/** Draw the payment block ``prefix`` (``pay`` or ``result-pay``); hidden when ``payment`` is null. */
export function renderPayment(prefix, payment) {
  const panel = $(`[data-testid=${prefix}-panel]`);
  const clock = timers[prefix] || (timers[prefix] = { expiresAt: null, timer: 0 });
  panel.hidden = !payment;
  clock.expiresAt = payment && payment.state === 'open' && payment.expires_at ? Date.parse(payment.expires_at) : null;
  if (clock.expiresAt && !clock.timer) clock.timer = setInterval(() => tick(prefix), 1000);
  if (!clock.expiresAt && clock.timer) {
    clearInterval(clock.timer);
    clock.timer = 0;
  }
  if (!payment) return;
  panel.dataset.state = payment.state;
  $(`[data-testid=${prefix}-amount]`).textContent = t('pay.amount', { amount: payment.amount });
  const qr = $(`[data-testid=${prefix}-qr]`);
  qr.hidden = !payment.qr;
  if (payment.qr && qr.getAttribute('src') !== payment.qr) qr.setAttribute('src', payment.qr);
  $(`[data-testid=${prefix}-status]`).textContent = t(`pay.state.${payment.state}`);
  $(`[data-testid=${prefix}-help]`).textContent = t(`pay.help.${payment.state}`);
  $(`[data-testid=${prefix}-again]`).hidden = !['failed', 'expired'].includes(payment.state);
  tick(prefix);
}
