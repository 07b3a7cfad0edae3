// A fee due before submission, on the signing panel: the order's QR code, the amount, a
// countdown to the code's expiry, and what to do when it failed or expired (a new code).
// The view comes from the kiosk process (SigningView.payment); the countdown is the page's.

import { t } from './i18n.js';

const $ = (selector) => document.querySelector(selector);
let expiresAt = null;
let timer = 0;

function remaining() {
  if (!expiresAt) return '';
  const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
  const minutes = Math.floor(left / 60);
  const seconds = String(left % 60).padStart(2, '0');
  return t('pay.expires_in', { time: `${minutes}:${seconds}` });
}

function tick() {
  const expiry = $('[data-testid=pay-expiry]');
  expiry.textContent = remaining();
}

/** Draw the payment block of ``signing`` (hidden when no fee is being paid). */
export function renderPayment(signing) {
  const panel = $('[data-testid=pay-panel]');
  const payment = signing && signing.state === 'paying' ? signing.payment : null;
  panel.hidden = !payment;
  if (!payment) {
    expiresAt = null;
    clearInterval(timer);
    timer = 0;
    return;
  }
  panel.dataset.state = payment.state;
  $('[data-testid=pay-amount]').textContent = t('pay.amount', { amount: payment.amount });
  const qr = $('[data-testid=pay-qr]');
  qr.hidden = !payment.qr;
  if (payment.qr && qr.getAttribute('src') !== payment.qr) qr.setAttribute('src', payment.qr);
  $('[data-testid=pay-status]').textContent = t(`pay.state.${payment.state}`);
  $('[data-testid=pay-help]').textContent = t(`pay.help.${payment.state}`);
  $('[data-testid=pay-again]').hidden = !['failed', 'expired'].includes(payment.state);
  expiresAt = payment.state === 'open' && payment.expires_at ? Date.parse(payment.expires_at) : null;
  if (expiresAt && !timer) timer = setInterval(tick, 1000);
  if (!expiresAt && timer) {
    clearInterval(timer);
    timer = 0;
  }
  tick();
}
