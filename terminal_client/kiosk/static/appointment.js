// "I have an appointment": the booking number typed on the pad stays on the page (ui.appointment)
// until it is confirmed; the kiosk process checks it in and says what happens next.

import { t, has } from './i18n.js';

const $ = (selector) => document.querySelector(selector);
const NUMBER_MAX = 11; // the 10 digits and the check character after the printed "AP"

/** The APPOINTMENT screen: the pad, checking, waiting for the slot, or late. */
export function renderAppointment(view, ui) {
  const state = view.appointment || { state: 'enter', can_scan: false };
  const entering = ['enter', 'checking', 'scanning'].includes(state.state);
  const busy = state.state === 'checking' || state.state === 'scanning';
  $('[data-testid=appointment-enter]').hidden = !entering;
  $('[data-testid=appointment-waiting]').hidden = state.state !== 'waiting';
  $('[data-testid=appointment-late]').hidden = state.state !== 'late';
  $('[data-testid=appointment-number]').textContent = t('appointment.number', { digits: ui.appointment.digits });
  const error = $('[data-testid=appointment-error]');
  const key = state.error_key;
  error.hidden = !key;
  error.textContent = key ? t(has(key) ? key : 'appointment.error.refused') : '';
  $('[data-testid=appointment-checking]').hidden = !busy;
  $('[data-testid=appointment-checking]').textContent = t(state.state === 'scanning' ? 'appointment.scanning' : 'appointment.checking');
  document.querySelectorAll('[data-testid=appointment-pad] button').forEach((button) => { button.disabled = busy; });
  $('[data-testid=appointment-scan]').hidden = !state.can_scan || !entering;
  $('[data-testid=appointment-scan]').disabled = busy;
  $('[data-testid=appointment-confirm]').hidden = !entering;
  $('[data-testid=appointment-confirm]').disabled = busy || !ui.appointment.digits;
  $('[data-testid=appointment-walk-in]').hidden = state.state !== 'late';
  $('[data-testid=appointment-home]').hidden = state.state === 'waiting';
  if (state.state === 'waiting') {
    $('[data-testid=appointment-slot]').textContent = t('appointment.slot', { time: state.local_time, zone: state.zone_label });
  }
  if (state.state === 'late') {
    $('[data-testid=appointment-late-text]').textContent = t('appointment.late_text', {
      time: state.local_time, zone: state.zone_label, minutes: state.grace_minutes,
    });
  }
}

/** The screen's buttons. */
export function appointmentActions(ui, send, update) {
  return {
    'appointment-open': () => {
      ui.appointment.digits = '';
      send({ type: 'appointment', action: 'open' });
    },
    'appointment-key': (key) => {
      if (ui.appointment.digits.length < NUMBER_MAX) ui.appointment.digits += key;
      update();
    },
    'appointment-delete': () => {
      ui.appointment.digits = ui.appointment.digits.slice(0, -1);
      update();
    },
    'appointment-confirm': () => send({ type: 'check_in', number: `AP${ui.appointment.digits}` }),
    'appointment-scan': () => send({ type: 'appointment', action: 'scan' }),
    'appointment-walk-in': () => send({ type: 'appointment', action: 'walk_in' }),
  };
}
