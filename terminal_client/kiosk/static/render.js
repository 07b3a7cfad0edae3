// Draws the kiosk's view: one function per screen, all text through t().
// The view comes whole from the kiosk process; `ui` holds only what is local to the page
// (the page of a long list, the star picked before sending).

import { t, has, applyTranslations, setLanguage } from './i18n.js';
import { localized } from './catalogue.js';
import { renderDocuments } from './documents.js';
import { renderAppointment } from './appointment.js';
import { renderFollow } from './to-follow.js';
import { renderPayment } from './payment.js';
import { renderSelfService } from './self-service.js';
import { renderEid } from './eid.js';

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

/** How many entries a screen shows at once: fewer, larger ones in care mode (a portrait
 *  screen has room for a few more materials). The layout test holds these to the screen. */
export function pageSize(kind, care, orientation) {
  const portrait = orientation === 'portrait';
  const sizes = {
    tiles: care ? 4 : 8,
    materials: care ? (portrait ? 5 : 3) : (portrait ? 8 : 5),
    items: care ? 2 : 6,
  };
  return sizes[kind];
}

function make(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

/** The slice of items on the current page; resets to the first page when `key` changes. */
function paged(ui, slot, key, items, size) {
  const paging = ui.paging[slot] || (ui.paging[slot] = { key: '', index: 0 });
  if (paging.key !== key) Object.assign(paging, { key, index: 0 });
  const pages = Math.max(1, Math.ceil(items.length / size));
  paging.index = Math.min(Math.max(paging.index, 0), pages - 1);
  return { items: items.slice(paging.index * size, (paging.index + 1) * size), index: paging.index, pages };
}

function showPager(pager, page, labelKey = 'nav.page') {
  pager.hidden = page.pages <= 1;
  const [prev, label, next] = pager.children;
  prev.disabled = page.index === 0;
  next.disabled = page.index >= page.pages - 1;
  label.textContent = t(labelKey, { page: page.index + 1, pages: page.pages });
}

export function noticeText(notice) {
  return has(notice.key) ? t(notice.key) : t('notice.unknown');
}

function renderTopbar(view) {
  $$('.topbar .lang').forEach((button) => {
    button.setAttribute('aria-pressed', String(button.dataset.arg === view.language));
  });
  $('[data-testid=care-toggle]').setAttribute('aria-pressed', String(view.care_mode));
}

function renderServices(view, ui) {
  const { catalogue } = ui;
  const language = view.language;
  const search = view.search.trim();
  const department = view.department_id ? catalogue.department(view.department_id) : null;
  let title;
  let entries;
  if (search) {
    title = t('services.search_results');
    entries = catalogue.search(search, language).map((s) => ({ kind: 'service', entry: s }));
  } else if (department) {
    title = localized(department.names, language);
    entries = catalogue.servicesOf(department.id).map((s) => ({ kind: 'service', entry: s }));
  } else {
    title = t('services.title');
    entries = catalogue.departments.map((d) => ({ kind: 'department', entry: d }));
  }
  $('[data-testid=services-title]').textContent = title;
  const input = $('[data-testid=search]');
  // never rewrite the box under the applicant's fingers: a late echo would eat letters
  if (document.activeElement !== input && input.value !== view.search) input.value = view.search;
  $('[data-testid=search-clear]').hidden = !view.search;

  const key = [view.department_id, search, language, view.care_mode, ui.orientation].join('|');
  const page = paged(ui, 'tiles', key, entries, pageSize('tiles', view.care_mode, ui.orientation));
  const tiles = $('[data-testid=tiles]');
  tiles.replaceChildren(...page.items.map(({ kind, entry }) => {
    const tile = make('button', `tile tile-${kind}`);
    tile.type = 'button';
    tile.dataset.action = kind === 'department' ? 'browse-department' : 'choose-service';
    tile.dataset.arg = entry.id;
    tile.dataset.testid = `${kind}-${entry.id}`;
    tile.append(make('span', 'tile-name', localized(entry.names, language)));
    if (kind === 'department') {
      tile.append(make('span', 'tile-detail', localized(entry.description, language)));
    } else {
      tile.append(make('span', 'tile-detail', t('materials.duration', { minutes: entry.typical_minutes })));
    }
    return tile;
  }));
  tiles.classList.toggle('few', page.items.length <= 2);
  $('[data-testid=no-results]').hidden = !(search && entries.length === 0);
  showPager($('[data-testid=services-pager]'), page);
}

function renderMaterials(view, ui) {
  const { catalogue } = ui;
  const language = view.language;
  const service = catalogue.service(view.service_id);
  if (!service) return;
  const department = catalogue.department(service.department_id);
  $('[data-testid=materials-department]').textContent = department ? localized(department.names, language) : '';
  $('[data-testid=materials-service]').textContent = localized(service.names, language);
  $('[data-testid=materials-duration]').textContent = t('materials.duration', { minutes: service.typical_minutes });
  // required documents first: they decide whether the applicant can go ahead today
  const materials = [...service.materials].sort((a, b) => Number(b.required) - Number(a.required));
  const key = [service.id, language, view.care_mode, ui.orientation].join('|');
  const page = paged(ui, 'materials', key, materials, pageSize('materials', view.care_mode, ui.orientation));
  $('[data-testid=materials-list]').replaceChildren(...page.items.map((material) => {
    const item = make('li', `material ${material.required ? 'required' : 'optional'}`);
    item.dataset.testid = `material-${material.id}`;
    item.append(make('span', 'badge', t(material.required ? 'materials.required' : 'materials.optional')));
    const words = make('span', 'material-words');
    words.append(make('span', 'material-name', localized(material.names, language)));
    if (material.note) words.append(make('span', 'material-note', localized(material.note, language)));
    item.append(words);
    return item;
  }));
  $('[data-testid=materials-none]').hidden = materials.length > 0;
  // a service without a clerk starts at once; the others call a clerk
  const start = $('[data-testid=call-clerk] span');
  start.dataset.i18n = service.self_service ? 'self_service.start' : 'materials.call';
  start.textContent = t(start.dataset.i18n);
  showPager($('[data-testid=materials-pager]'), page);
}

function renderQueue(view, ui) {
  const service = ui.catalogue.service(view.service_id);
  $('[data-testid=queue-service]').textContent = service ? localized(service.names, view.language) : '';
  const position = $('[data-testid=queue-position]');
  const wait = $('[data-testid=queue-wait]');
  const queue = view.queue;
  const transfer = $('[data-testid=queue-transfer]');
  transfer.hidden = !view.transfer;
  $('[data-testid=queue-title]').hidden = Boolean(view.transfer);
  if (view.transfer) {
    transfer.textContent = view.transfer.clerk
      ? t('transfer.to_clerk', { clerk: view.transfer.clerk, department: view.transfer.department })
      : t('transfer.to_department', { department: view.transfer.department });
  }
  if (!queue) {
    position.textContent = t('queue.joining');
    wait.textContent = '';
  } else if (queue.position === 0) {
    position.textContent = t('queue.offered');
    wait.textContent = '';
  } else {
    position.textContent = t('queue.position', { position: queue.position });
    if (queue.estimated_wait_s === null || queue.estimated_wait_s === undefined) {
      wait.textContent = t('queue.wait_unknown');
    } else if (queue.estimated_wait_s < 60) {
      wait.textContent = t('queue.wait_soon');
    } else {
      wait.textContent = t('queue.wait', { minutes: Math.ceil(queue.estimated_wait_s / 60) });
    }
  }
  wait.hidden = !wait.textContent;
  $('[data-testid=callback-offer]').hidden = !(queue && queue.callback_offered);
}

/** The number pad: the digits stay on the page (ui.callback) until "Call me back". */
function renderCallback(view, ui) {
  const callback = view.callback || { state: 'enter', region: 'HK' };
  const entering = callback.state !== 'done';
  if (ui.callback.region === null) ui.callback.region = callback.region;
  $('[data-testid=callback-enter]').hidden = !entering;
  $('[data-testid=callback-done]').hidden = entering;
  $$('[data-action=callback-region]').forEach((button) => {
    button.setAttribute('aria-checked', String(button.dataset.arg === ui.callback.region));
  });
  $('[data-testid=callback-number]').textContent = ui.callback.digits;
  const error = $('[data-testid=callback-error]');
  const key = callback.error_key;
  error.hidden = !key;
  error.textContent = key ? t(has(key) ? key : 'callback.error.refused') : '';
  if (key) error.dataset.key = key;
  const sending = callback.state === 'sending';
  $('[data-testid=callback-sending]').hidden = !sending;
  $$('[data-testid=callback-pad] button').forEach((button) => { button.disabled = sending; });
  $('[data-testid=callback-confirm]').hidden = !entering;
  $('[data-testid=callback-confirm]').disabled = sending;
  $('[data-testid=callback-back]').hidden = !entering;
  $('[data-testid=callback-back]').disabled = sending;
  $('[data-testid=callback-finish]').hidden = entering;
  if (!entering) {
    $('[data-testid=callback-reference]').textContent = t('callback.reference', { reference: callback.reference });
    const seconds = callback.expect_within_s || 0;
    $('[data-testid=callback-expect]').textContent = seconds >= 7200
      ? t('callback.expect_hours', { hours: Math.round(seconds / 3600) })
      : t('callback.expect_minutes', { minutes: Math.ceil(seconds / 60) });
  }
}

function renderPrompt(view, ui) {
  const box = $('[data-testid=prompts]');
  // one prompt at a time, the newest: dismissing it shows the one before
  const prompt = view.prompts[view.prompts.length - 1];
  box.hidden = !prompt;
  $('[data-testid=screen-call]').classList.toggle('has-prompt', Boolean(prompt));
  if (!prompt) {
    box.replaceChildren();
    return;
  }
  const card = $('#prompt-template').content.firstElementChild.cloneNode(true);
  card.dataset.kind = prompt.kind;
  card.dataset.promptId = prompt.id;
  applyTranslations(card);
  const lead = { checklist: 'prompt.checklist', place_document: 'prompt.place_document' }[prompt.kind];
  $('.prompt-lead', card).textContent = lead ? t(lead) : '';
  $('.prompt-lead', card).hidden = !lead;
  $('.prompt-icon', card).hidden = prompt.kind !== 'place_document';
  $('.prompt-text', card).textContent = prompt.text;
  $('.prompt-text', card).hidden = !prompt.text;
  const key = [prompt.id, view.care_mode, ui.orientation].join('|');
  const page = paged(ui, 'items', key, prompt.items, pageSize('items', view.care_mode, ui.orientation));
  $('.prompt-items', card).replaceChildren(...page.items.map((text) => make('li', 'prompt-item', text)));
  $('.prompt-items', card).hidden = prompt.items.length === 0;
  showPager($('.prompt-pager', card), page, 'nav.page_short');
  $('[data-action=dismiss-prompt]', card).dataset.arg = prompt.id;
  box.replaceChildren(card);
}

function renderIdentity(view) {
  const box = $('[data-testid=identity-step]');
  const step = view.identity;
  box.hidden = !step;
  if (!step) return;
  box.dataset.phase = step.phase;
  $('[data-testid=identity-instruction]').textContent = step.confirmed_by_clerk
    ? t('identity.confirmed_by_clerk') : t(`identity.phase.${step.phase}`);
  const action = $('[data-testid=identity-action]');
  const asking = (step.phase === 'face' || step.phase === 'challenge') && step.action;
  action.hidden = !asking;
  action.dataset.action = asking ? step.action : '';
  action.textContent = asking ? t(`identity.action.${step.action}`) : '';
  const error = $('[data-testid=identity-error]');
  error.hidden = !step.error_key;
  if (step.error_key) {
    error.dataset.key = step.error_key;
    error.textContent = has(step.error_key) ? t(step.error_key) : t('identity.error.identity_error');
  }
  $('[data-testid=identity-retry]').hidden = step.phase !== 'failed';
  const close = $('[data-testid=identity-cancel]');
  close.hidden = step.phase === 'sending';
  // once checked there is nothing to put off: the same button just closes the card
  close.textContent = t(step.phase === 'done' ? 'identity.close' : 'identity.cancel');
}

// the text of each supervision state, when the server named the supervisor and when not
const SUPERVISION = {
  joined: ['call.supervision.joined', 'call.supervision.joined_unnamed'],
  monitored: ['call.supervision.monitored', 'call.supervision.monitored_unnamed'],
};
const SUPERVISOR_ROLES = { supervisor: 'call.supervision.role.supervisor' };

/** A supervisor in the call, as the applicant is told: who joined it, or who listens in. */
function renderSupervision(call) {
  const line = $('[data-testid=call-supervision]');
  const notice = call.supervision;
  line.hidden = !notice;
  $('.call-side').classList.toggle('has-supervision', Boolean(notice));
  if (!notice) {
    line.textContent = '';
    delete line.dataset.state;
    return;
  }
  const [named, unnamed] = SUPERVISION[notice.state];
  // a role the page has no word for is shown as the server gave it
  const role = Object.hasOwn(SUPERVISOR_ROLES, notice.role) ? t(SUPERVISOR_ROLES[notice.role]) : notice.role;
  line.dataset.state = notice.state;
  // someone new speaking in the call is said at once; being listened to can wait its turn
  line.setAttribute('aria-live', notice.state === 'joined' ? 'assertive' : 'polite');
  line.textContent = notice.name ? t(named, { name: notice.name, role }) : t(unnamed);
}

function renderCall(view, ui) {
  const call = view.call;
  if (!call) return;
  const department = ui.catalogue.department(call.department_id);
  $('[data-testid=clerk-name]').textContent = t('call.clerk', { name: call.clerk_name });
  $('[data-testid=clerk-department]').textContent = department ? localized(department.names, view.language) : '';
  $('[data-testid=call-connecting]').hidden = call.connected;
  const reconnecting = $('[data-testid=call-reconnecting]');
  reconnecting.hidden = !call.reconnecting;
  reconnecting.textContent = t('call.reconnecting', { name: call.clerk_name });
  $('[data-testid=call-weak]').hidden = !call.weak_connection;
  $('[data-testid=call-hold]').hidden = !call.on_hold;
  renderSupervision(call);
  $$('[data-testid=step-indicator] li').forEach((item) => {
    const step = Number(item.dataset.step);
    item.classList.toggle('done', step < call.step);
    item.classList.toggle('current', step === call.step);
    if (step === call.step) item.setAttribute('aria-current', 'step');
    else item.removeAttribute('aria-current');
  });
  renderPrompt(view, ui);
  renderIdentity(view);
  renderEid(view);
  renderDocuments(view, ui);
  renderSigning(view, ui);
}

const PRINTING = { queued: 'print.queued', printed: 'print.printed', retrying: 'print.retrying' };

function printingText(printing, problem) {
  if (!printing) return '';
  const text = t(PRINTING[printing]);
  return problem && printing === 'retrying' && has(problem) ? `${text} ${t(problem)}` : text;
}

/** Step 5: the form and the pad while signing, then the acceptance number and printing. */
function renderSigning(view, ui) {
  const panel = $('[data-testid=sign-panel]');
  const signing = view.signing;
  panel.hidden = !signing;
  // the form gets a column of its own: the clerk's video stays in sight through signing
  $('[data-testid=screen-call]').classList.toggle('has-signing', Boolean(signing));
  $('[data-testid=screen-call]').classList.toggle('signed', Boolean(signing && signing.state === 'signed'));
  renderPayment('pay', signing && signing.state === 'paying' ? signing.payment : null);
  if (!signing) {
    ui.pad?.reset('');
    ui.formZoomed = false;
    return;
  }
  const zoom = $('[data-testid=sign-zoom]');
  zoom.textContent = t(ui.formZoomed ? 'sign.zoom_out' : 'sign.zoom_in');
  zoom.setAttribute('aria-pressed', String(Boolean(ui.formZoomed)));
  panel.classList.toggle('zoomed', Boolean(ui.formZoomed));
  const decided = $('[data-testid=sign-decision]');
  decided.hidden = !signing.decision;
  if (signing.decision) {
    decided.dataset.decision = signing.decision;
    $('[data-testid=sign-decision-text]').textContent = t(`sign.decision.${signing.decision}`);
    const reason = $('[data-testid=sign-decision-reason]');
    reason.hidden = !signing.decision_reason;
    reason.textContent = signing.decision_reason ? t('sign.decision_reason', { reason: signing.decision_reason }) : '';
  }
  const img = $('[data-testid=sign-form]');
  if (img.getAttribute('src') !== signing.preview_url) img.setAttribute('src', signing.preview_url);
  ui.pad?.reset(signing.form_sha256);
  panel.dataset.state = signing.state;
  $('[data-testid=sign-lead]').textContent = t(`sign.lead.${signing.state}`);
  $('[data-testid=sign-submit]').disabled = signing.state !== 'sign';
  $('[data-testid=sign-clear]').disabled = signing.state !== 'sign';
  $('[data-testid=sign-number]').textContent = signing.acceptance_number
    ? t('sign.number', { number: signing.acceptance_number }) : '';
  $('[data-testid=sign-printing]').textContent = printingText(signing.printing, signing.print_error);
}

const RECHECK_PHASES = ['document', 'reading', 'face', 'challenge'];

/** Print my result: the number, the ID re-check (reader, camera), what was found, printing. */
function renderResult(view) {
  const lookup = view.lookup;
  const state = lookup ? lookup.state : 'unavailable';
  const status = $('[data-testid=result-status]');
  const busy = RECHECK_PHASES.includes(state) || state === 'checking';
  $('[data-testid=result-submit]').disabled = busy || state === 'unavailable';
  $('[data-testid=result-number]').disabled = busy || state === 'unavailable';
  renderRecheck(lookup);
  renderPayment('result-pay', state === 'paying' ? lookup.payment : null);
  status.dataset.state = state;
  status.dataset.printing = (lookup && lookup.printing) || '';
  if (state === 'unavailable') {
    status.textContent = t('reprint.unavailable');
  } else if (state === 'checking') {
    status.textContent = t('result.checking');
  } else if (state === 'paying') {
    status.textContent = t('result.paying', { number: lookup.acceptance_number });
  } else if (state === 'found') {
    const found = t('result.found', { number: lookup.acceptance_number, outcome: t(`outcome.${lookup.outcome}`) });
    status.textContent = `${found} ${printingText(lookup.printing, lookup.print_error)}`.trim();
  } else {
    status.textContent = '';
  }
}

function renderRecheck(lookup) {
  const box = $('[data-testid=result-check]');
  const state = lookup ? lookup.state : '';
  box.hidden = !(RECHECK_PHASES.includes(state) || state === 'failed');
  if (box.hidden) return;
  box.dataset.phase = state;
  $('[data-testid=result-instruction]').textContent = t(`reprint.phase.${state}`);
  const action = $('[data-testid=result-action]');
  action.hidden = !lookup.action;
  action.textContent = lookup.action ? t(`identity.action.${lookup.action}`) : '';
  const error = $('[data-testid=result-error]');
  error.hidden = state !== 'failed';
  error.textContent = state !== 'failed' ? '' : t(has(lookup.error_key) ? lookup.error_key : 'reprint.error.other');
  if (!error.hidden) error.dataset.key = lookup.error_key || '';
  $('[data-testid=result-retry]').hidden = state !== 'failed';
}

function renderInterrupted(view, ui) {
  const service = ui.catalogue.service(view.service_id);
  $('[data-testid=interrupted-service]').textContent = service
    ? t('interrupted.service', { service: localized(service.names, view.language) }) : '';
}

function renderEnded(view, ui) {
  $$('[data-action=rate-star]').forEach((star) => {
    const value = Number(star.dataset.arg);
    star.setAttribute('aria-checked', String(value === ui.rating));
    star.classList.toggle('lit', value <= ui.rating);
  });
  $('[data-testid=rating-label]').textContent = ui.rating ? t(`rating.${ui.rating}`) : '';
  $('[data-testid=rating-submit]').disabled = !ui.rating || view.rated;
}

const COMPLAINT_TEXT_MAX = 500;

/** The complaint form (what is typed stays on the page), then the number, code and slip. */
function renderComplaint(view, ui) {
  const complaint = view.complaint || { state: 'enter', region: 'HK' };
  const entering = complaint.state !== 'done';
  const sending = complaint.state === 'sending';
  if (ui.complaint.region === null) ui.complaint.region = complaint.region;
  if (ui.complaint.category === null && complaint.category) ui.complaint.category = complaint.category;
  $('[data-testid=complaint-enter]').hidden = !entering;
  $('[data-testid=complaint-done]').hidden = entering;
  $('[data-testid=complaint-lead]').textContent = t(complaint.after_low_rating ? 'complaint.sorry' : 'complaint.lead');
  $$('[data-action=complaint-category]').forEach((button) => {
    button.setAttribute('aria-checked', String(button.dataset.arg === ui.complaint.category));
    button.disabled = sending;
  });
  $$('[data-action=complaint-region]').forEach((button) => {
    button.setAttribute('aria-checked', String(button.dataset.arg === ui.complaint.region));
  });
  const text = $('[data-testid=complaint-text]');
  text.disabled = sending;
  const count = $('[data-testid=complaint-count]');
  count.textContent = t('complaint.count', { count: text.value.trim().length, max: COMPLAINT_TEXT_MAX });
  count.classList.toggle('over', text.value.trim().length > COMPLAINT_TEXT_MAX);
  $('[data-testid=complaint-phone]').textContent = ui.complaint.phone;
  $$('[data-testid=complaint-pad] button').forEach((button) => { button.disabled = sending; });
  const error = $('[data-testid=complaint-error]');
  const key = complaint.error_key;
  error.hidden = !key;
  error.textContent = key ? t(has(key) ? key : 'complaint.error.refused') : '';
  error.dataset.field = complaint.error_field || '';
  $('[data-testid=complaint-sending]').hidden = !sending;
  // two parts: what it is about and what happened, then the optional phone number
  const words = ui.complaint.step !== 'phone';
  $('[data-testid=complaint-step-words]').hidden = !words;
  $('[data-testid=complaint-step-phone]').hidden = words;
  $('[data-testid=complaint-next]').hidden = !entering || !words;
  $('[data-testid=complaint-back]').hidden = !entering || words;
  $('[data-testid=complaint-back]').disabled = sending;
  $('[data-testid=complaint-send]').hidden = !entering || words;
  $('[data-testid=complaint-send]').disabled = sending;
  $('[data-testid=complaint-cancel]').hidden = !entering || !words;
  $('[data-testid=complaint-cancel]').disabled = sending;
  $('[data-testid=complaint-finish]').hidden = entering;
  if (!entering) {
    $('[data-testid=complaint-number]').textContent = complaint.number;
    $('[data-testid=complaint-code]').textContent = complaint.access_code;
    $('[data-testid=complaint-due]').textContent = t('complaint.due', { department: complaint.department, date: complaint.due_on });
    $('[data-testid=complaint-keep]').textContent = t('complaint.keep_url', { url: complaint.status_url });
    const printing = $('[data-testid=complaint-printing]');
    printing.textContent = printingText(complaint.printing, complaint.print_error);
    printing.dataset.printing = complaint.printing || '';
  }
}

/** A complaint's status: the two entries on one pad, then the state, due date and answer. */
function renderComplaintStatus(view, ui) {
  const status = view.complaint_status || { state: 'enter' };
  const entries = ui.complaintStatus;
  $$('[data-action=complaint-field]').forEach((button) => {
    button.setAttribute('aria-checked', String(button.dataset.arg === entries.field));
  });
  $('[data-testid=complaint-status-number]').textContent = entries.number ? `CP ${entries.number}` : '';
  $('[data-testid=complaint-status-code]').textContent = entries.code;
  const checking = status.state === 'checking';
  $('[data-testid=complaint-status-check]').disabled = checking;
  $('[data-testid=complaint-status-checking]').hidden = !checking;
  const error = $('[data-testid=complaint-status-error]');
  error.hidden = status.state !== 'failed';
  const key = status.error_key;
  error.textContent = status.state === 'failed' ? t(has(key) ? key : 'complaint_status.error.refused') : '';
  error.dataset.key = key || '';
  const found = status.state === 'found';
  $('[data-testid=complaint-status-found]').hidden = !found;
  if (!found) return;
  $('[data-testid=complaint-status-state]').textContent = t('complaint_status.state_line', {
    number: status.number, state: t(`complaint_status.state.${status.ticket_state}`),
  });
  $('[data-testid=complaint-status-state]').dataset.state = status.ticket_state;
  $('[data-testid=complaint-status-due]').textContent = status.answered_on
    ? t('complaint_status.answered_on', { department: status.department, date: status.answered_on })
    : t('complaint.due', { department: status.department, date: status.due_on });
  $('[data-testid=complaint-status-overdue]').hidden = !status.overdue;
  $('[data-testid=complaint-status-answer-label]').hidden = !status.answer;
  const answer = $('[data-testid=complaint-status-answer]');
  answer.hidden = !status.answer;
  answer.textContent = status.answer || '';
}

function renderNotice(view, ui) {
  const notice = ui.notice || view.notice;
  const box = $('[data-testid=notice]');
  box.hidden = !notice;
  if (notice) {
    $('[data-testid=notice-text]').textContent = noticeText(notice);
    box.dataset.key = notice.key;
  }
}

function renderIdle(view) {
  const overlay = $('[data-testid=idle-warning]');
  const seconds = view.idle_warning_s;
  overlay.hidden = seconds === null || seconds === undefined;
  if (!overlay.hidden) $('[data-testid=idle-countdown]').textContent = t('idle.countdown', { seconds });
}

const SCREENS = {
  services: renderServices,
  materials: renderMaterials,
  queue: renderQueue,
  call: renderCall,
  ended: renderEnded,
  interrupted: renderInterrupted,
  result: renderResult,
  callback: renderCallback,
  appointment: renderAppointment,
  complaint: renderComplaint,
  complaint_status: renderComplaintStatus,
  self_service: renderSelfService,
  follow: renderFollow,
};

/** Show `ui.view` (the page's own OFFLINE screen while its websocket is down). */
export function render(ui) {
  const view = ui.view;
  if (!view) return;
  const screen = ui.connected ? view.screen : 'offline';
  setLanguage(view.language);
  document.documentElement.lang = view.language;
  document.body.classList.toggle('care', view.care_mode);
  document.body.classList.remove('loading');
  document.body.dataset.screen = screen;
  applyTranslations(document);
  renderTopbar(view);
  $$('main > .screen').forEach((section) => { section.hidden = section.dataset.screen !== screen; });
  SCREENS[screen]?.(view, ui);
  renderNotice(view, ui);
  renderIdle(view);
}
