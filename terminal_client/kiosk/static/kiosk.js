// The kiosk page: shows the view the kiosk process sends over /ws and sends back commands.
// It holds no state of its own beyond the page of a list and a star not yet sent: a reload
// shows the same screen.

import { loadCatalogues } from './i18n.js';
import { Catalogue } from './catalogue.js';
import { setClockZone } from './clock.js';
import { render } from './render.js';
import { Speaker } from './speech.js';
import { CallMedia } from './call-media.js';
import { documentActions } from './documents.js';
import { SignaturePad } from './signature-pad.js';
import { appointmentActions } from './appointment.js';
import { selfServiceActions } from './self-service.js';
import { followActions } from './to-follow.js';
import { fillPads, padActions } from './number-pad.js';

const RECONNECT_MS = 1000;
const NOTICE_MS = 6000;
const TOUCH_EVERY_MS = 1000;
const QUIET_NOTICES = ['error.command_refused', 'error.invalid_command'];

const ui = {
  view: null,
  catalogue: new Catalogue({}),
  connected: false,
  paging: {},
  rating: 0,
  notice: null, // a refusal of one of our commands, shown for a few seconds
  orientation: '',
  notices: [], // every notice received, for tests and the developer console
  material: null, // the material the applicant picked to hand over (documents.js)
  // the phone number being typed on the callback pad: it leaves the page only when confirmed
  callback: { digits: '', region: null },
  // the booking number being typed on the appointment pad (without its printed "AP")
  appointment: { digits: '' },
  // the complaint form's choices and phone number, and the status lookup's two entries: they
  // leave the page only when sent
  complaint: { category: null, phone: '', region: null, step: 'words', refusals: 0 },
  complaintStatus: { number: '', code: '', field: 'number' },
};
const PHONE_MAX = 15;
const COMPLAINT_NUMBER_MAX = 16; // CP + 14, typed without the CP
const ACCESS_CODE_MAX = 6;
let socket = null;
let noticeTimer = 0;
let lastTouch = 0;
const speaker = new Speaker(document.querySelector('[data-testid=speech]'));
const media = new CallMedia(document);
// the applicant's strokes go to the kiosk (and on to the clerk) as each one is finished
ui.pad = new SignaturePad(document.querySelector('[data-testid=sign-pad]'), (ink) => send({ type: 'signature_ink', ...ink }));

function send(command) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(command));
}

function update() {
  ui.orientation = window.matchMedia('(orientation: portrait)').matches ? 'portrait' : 'landscape';
  render(ui);
  if (ui.view) {
    speaker.update(ui.view);
    media.follow(ui.connected ? ui.view.screen : 'offline');
  }
}

function receive(message) {
  if (message.type === 'hello') {
    ui.catalogue = new Catalogue(message.catalogue);
    media.available = message.media;
    setClockZone(message.time_zone);
  } else if (message.type === 'view') {
    if (ui.view && ui.view.screen !== message.view.screen) {
      ui.rating = 0;
      ui.callback = { digits: '', region: null };
      ui.appointment = { digits: '' };
      ui.complaint = { category: null, phone: '', region: null, step: 'words', refusals: 0 };
      ui.complaintStatus = { number: '', code: '', field: 'number' };
      complaintText().value = '';
    }
    // a refused complaint: back to the part of the form that holds what was wrong
    const refused = message.view.complaint;
    if (refused && refused.refusals !== ui.complaint.refusals) {
      ui.complaint.refusals = refused.refusals;
      ui.complaint.step = refused.error_field === 'phone' ? 'phone' : 'words';
    }
    ui.view = message.view;
  } else if (message.type === 'notice') {
    ui.notices.push(message.notice);
    // A refused or malformed command comes from a double tap or a stale screen: nothing the
    // applicant can act on, so it goes to the console only.
    if (QUIET_NOTICES.includes(message.notice.key)) {
      console.warn(`kiosk: ${message.notice.detail}`);
      return;
    }
    ui.notice = message.notice;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { ui.notice = null; update(); }, NOTICE_MS);
  }
  update();
}

function connect() {
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  socket = new WebSocket(`${scheme}://${window.location.host}/ws`);
  socket.addEventListener('open', () => { ui.connected = true; update(); });
  socket.addEventListener('message', (event) => receive(JSON.parse(event.data)));
  socket.addEventListener('close', () => {
    ui.connected = false;
    update();
    setTimeout(connect, RECONNECT_MS);
  });
}

const commentBox = () => document.querySelector('[data-testid=rating-comment]');
const complaintText = () => document.querySelector('[data-testid=complaint-text]');

// where each number pad types (number-pad.js)
function padSlot(name) {
  const slot = (holder, field, max) => ({ get: () => holder[field], set: (v) => { holder[field] = v; }, max });
  if (name === 'callback') return slot(ui.callback, 'digits', PHONE_MAX);
  if (name === 'complaint') return slot(ui.complaint, 'phone', PHONE_MAX);
  if (name === 'lookup') {
    const field = ui.complaintStatus.field;
    return slot(ui.complaintStatus, field, field === 'number' ? COMPLAINT_NUMBER_MAX : ACCESS_CODE_MAX);
  }
  return null;
}

// Each action is a data-action on a button; a touch on anything else just keeps us awake.
const actions = {
  'set-language': (language) => send({ type: 'set_language', language }),
  'choose-language': (language) => {
    send({ type: 'set_language', language });
    send({ type: 'start' });
  },
  'toggle-care': () => send({ type: 'set_care_mode', on: !ui.view.care_mode }),
  'browse-department': (id) => send({ type: 'browse', department_id: id, search: '' }),
  'choose-service': (id) => send({ type: 'choose_service', service_id: id }),
  'clear-search': () => send({ type: 'browse', department_id: ui.view.department_id, search: '' }),
  'dismiss-prompt': (id) => send({ type: 'dismiss_prompt', prompt_id: id }),
  'identity-start': () => send({ type: 'identity', action: 'start' }),
  'identity-cancel': () => send({ type: 'identity', action: 'cancel' }),
  'eid-start': (provider) => send({ type: 'eid', action: 'start', provider }),
  'eid-close': () => send({ type: 'eid', action: 'close' }),
  'dismiss-notice': () => {
    if (ui.notice) {
      ui.notice = null;
      update();
    } else {
      send({ type: 'dismiss_notice' });
    }
  },
  page: (step) => {
    const slot = ui.view.screen === 'materials' ? 'materials' : 'tiles';
    ui.paging[slot].index += Number(step);
    update();
  },
  'prompt-page': (step) => {
    ui.paging.items.index += Number(step);
    update();
  },
  'rate-star': (value) => {
    ui.rating = Number(value);
    update();
  },
  'open-result': () => send({ type: 'open_result' }),
  'callback-region': (region) => {
    ui.callback.region = region;
    update();
  },
  'callback-confirm': () => send({ type: 'leave_number', phone: ui.callback.digits, region: ui.callback.region || 'HK' }),
  'sign-clear': () => ui.pad.clear(),
  'sign-zoom': () => {
    ui.formZoomed = !ui.formZoomed;
    update();
  },
  'sign-submit': () => send({ type: 'submit_signature', ...ui.pad.ink() }),
  'complaint-category': (category) => {
    ui.complaint.category = category;
    update();
  },
  'complaint-region': (region) => {
    ui.complaint.region = region;
    update();
  },
  'complaint-send': () => send({
    type: 'send_complaint',
    category: ui.complaint.category || ui.view.complaint?.category || '',
    text: complaintText().value.slice(0, 4000),
    phone: ui.complaint.phone,
    region: ui.complaint.region || ui.view.complaint?.region || 'HK',
  }),
  'complaint-step': (step) => {
    ui.complaint.step = step;
    update();
  },
  'complaint-field': (field) => {
    ui.complaintStatus.field = field;
    update();
  },
  'complaint-check': () => send({
    type: 'check_complaint', number: ui.complaintStatus.number, access_code: ui.complaintStatus.code,
  }),
  'submit-rating': () => {
    send({ type: 'rate', rating: ui.rating, comment: commentBox().value.trim() });
    commentBox().value = '';
  },
};
Object.assign(actions, documentActions(ui, send, update));
Object.assign(actions, appointmentActions(ui, send, update));
Object.assign(actions, selfServiceActions(send));
Object.assign(actions, followActions(ui, send));
Object.assign(actions, padActions(padSlot, update));
fillPads(document);
complaintText().addEventListener('input', update);
for (const simple of ['back', 'home', 'call', 'call_again', 'cancel', 'hangup', 'touch', 'callback', 'callback_back', 'pay_again', 'complain', 'complaint_status']) {
  actions[simple] = () => send({ type: simple });
}

document.addEventListener('click', (event) => {
  const target = event.target.closest('[data-action]');
  if (!target || target.disabled || !ui.view) return;
  actions[target.dataset.action]?.(target.dataset.arg);
});

// Any touch or key resets the kiosk's idle timer (at most once a second).
function touched() {
  const now = Date.now();
  if (now - lastTouch < TOUCH_EVERY_MS) return;
  lastTouch = now;
  send({ type: 'touch' });
}
document.addEventListener('pointerdown', touched, { capture: true });
document.addEventListener('keydown', touched, { capture: true });

document.querySelector('[data-testid=search]').addEventListener('input', (event) => {
  send({ type: 'browse', department_id: ui.view.department_id, search: event.target.value.slice(0, 100) });
});

// The number is typed; the ID document is read by the kiosk's reader, never typed.
function lookUp() {
  const number = document.querySelector('[data-testid=result-number]').value.trim().slice(0, 40);
  if (number) send({ type: 'look_up', acceptance_number: number });
}
actions['result-retry'] = lookUp;
document.querySelector('[data-testid=result-form]').addEventListener('submit', (event) => {
  event.preventDefault();
  lookUp();
});

window.matchMedia('(orientation: portrait)').addEventListener('change', update);

// For tests and whoever debugs a kiosk from the developer console.
window.vcounterKiosk = {
  view: () => ui.view,
  connected: () => ui.connected,
  notices: () => ui.notices.slice(),
  send,
};

loadCatalogues().then(connect, (error) => {
  console.error(`kiosk: ${error.message}`);
  setTimeout(() => window.location.reload(), RECONNECT_MS * 5);
});
