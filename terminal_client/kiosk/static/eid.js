// Step 3 by e-ID: "Sign in with iAM Smart / Macau One Account" buttons, then the QR code the applicant scans
// with their phone, then what became of the sign-in. The view comes from the kiosk process
// (terminal_client/kiosk/eid_ui.py); the providers' names are the server's, in each language.

import { t, has } from './i18n.js';

const $ = (selector) => document.querySelector(selector);
const NAME = { 'zh-Hant': 'name_zh_hant', 'zh-Hans': 'name_zh_hans', en: 'name_en' };

function providerButtons(eid, language) {
  const box = $('[data-testid=eid-providers]');
  const offer = eid.phase === 'choose' || eid.phase === 'refused' || eid.phase === 'expired';
  box.hidden = !offer;
  const key = JSON.stringify([language, eid.providers.map((p) => p.id)]);
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren(...eid.providers.map((provider) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'primary';
    button.dataset.action = 'eid-start';
    button.dataset.arg = provider.id;
    button.dataset.testid = `eid-start-${provider.id}`;
    button.textContent = t('eid.sign_in_with', { name: provider[NAME[language]] || provider.name_en });
    return button;
  }));
}

let callStage = null; // where the page puts the card: the call's stage

/** Draw the e-ID card of ``view`` (hidden when the view has none). */
export function renderEid(view) {
  const panel = $('[data-testid=eid-panel]');
  // one card, in the call's stage or in the self-service screen, wherever the check is
  callStage = callStage || panel.parentElement;
  const slot = view.screen === 'self_service' ? $('[data-testid=self-service-eid]') : callStage;
  if (panel.parentElement !== slot) slot.appendChild(panel);
  const eid = view.eid;
  panel.hidden = !eid;
  if (!eid) return;
  panel.dataset.phase = eid.phase;
  const lead = eid.phase === 'done' && eid.assurance === 'lower' ? 'eid.phase.done_lower' : `eid.phase.${eid.phase}`;
  $('[data-testid=eid-lead]').textContent = t(lead, { minutes: Math.round((eid.expires_in_s || 0) / 60) });
  providerButtons(eid, view.language);
  const qr = $('[data-testid=eid-qr]');
  qr.hidden = !eid.qr;
  if (eid.qr && qr.getAttribute('src') !== eid.qr) qr.setAttribute('src', eid.qr);
  const error = $('[data-testid=eid-error]');
  error.hidden = !eid.error_key;
  if (eid.error_key) {
    error.dataset.key = eid.error_key;
    error.textContent = has(eid.error_key) ? t(eid.error_key) : t('eid.refused.other');
  }
  const detail = $('[data-testid=eid-detail]');
  detail.hidden = !eid.error_detail;
  detail.textContent = eid.error_detail;
  $('[data-testid=eid-close]').textContent = t(eid.phase === 'done' ? 'identity.close' : 'eid.close');
}
