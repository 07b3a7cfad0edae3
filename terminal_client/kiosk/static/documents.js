// Step 4 on the call screen: the materials still missing, what the clerk said about each,
// and the ways to hand one over (document camera, scanner, USB stick, phone).
// All text comes through t(); the clerk's reasons and the server's refusals arrive already
// in the applicant's language.

import { t, has } from './i18n.js';
import { localized } from './catalogue.js';

const $ = (selector, root = document) => root.querySelector(selector);

const STATUS_KEYS = {
  missing: 'documents.status.missing',
  received: 'documents.status.received',
  accepted: 'documents.status.accepted',
  rejected: 'documents.status.rejected',
  rescan: 'documents.status.rescan',
  to_follow: 'documents.status.to_follow',
};

const DEVICE_KEYS = {
  camera: 'documents.camera',
  scanner: 'documents.scanner',
  usb: 'documents.usb',
  phone: 'documents.phone',
};

function make(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

function button(action, arg, key, testid) {
  const element = make('button', 'doc-button', t(key));
  element.type = 'button';
  element.dataset.action = action;
  if (arg !== undefined) element.dataset.arg = arg;
  element.dataset.testid = testid;
  return element;
}

/** The material the hand-over buttons act on: the chosen one, else the first still missing. */
export function chosenMaterial(docs, ui) {
  const open = docs.items.filter((i) => i.status !== 'accepted' && i.status !== 'received');
  const chosen = docs.items.find((i) => i.material_id === ui.material);
  return (chosen && chosen.status !== 'accepted' ? chosen : open[0] || null);
}

/** How many checklist lines fit at once: fewer, larger ones in care mode. */
function pageSize(care, orientation) {
  if (care) return orientation === 'portrait' ? 3 : 1;
  return orientation === 'portrait' ? 6 : 3;
}

export function renderDocuments(view, ui) {
  const box = $('[data-testid=kiosk-documents]');
  const docs = view.documents;
  box.hidden = !docs;
  $('[data-testid=screen-call]').classList.toggle('has-documents', Boolean(docs));
  if (!docs) return;
  const service = ui.catalogue.service(view.service_id);
  const names = new Map((service ? service.materials : []).map((m) => [m.id, localized(m.names, view.language)]));
  const target = chosenMaterial(docs, ui);
  $('[data-testid=documents-missing]').textContent = docs.complete
    ? t('documents.complete')
    : t('documents.missing', { count: docs.items.filter((i) => i.required && i.status !== 'accepted').length });
  // required first, as on the materials screen; lines keep their place as their state changes
  const sorted = [...docs.items].sort((a, b) => Number(b.required) - Number(a.required));
  const size = pageSize(view.care_mode, ui.orientation);
  const paging = ui.paging.documents || (ui.paging.documents = { index: 0 });
  const pages = Math.max(1, Math.ceil(sorted.length / size));
  paging.index = Math.min(Math.max(paging.index, 0), pages - 1);
  const shown = sorted.slice(paging.index * size, (paging.index + 1) * size);
  const pager = $('[data-testid=documents-pager]');
  pager.hidden = pages <= 1;
  $('[data-testid=documents-prev]').disabled = paging.index === 0;
  $('[data-testid=documents-next]').disabled = paging.index >= pages - 1;
  $('[data-testid=documents-page-label]').textContent = t('nav.page_short', { page: paging.index + 1, pages });
  const rows = shown.map((item) => {
    const row = make('li', `doc-row doc-${item.status}`);
    row.dataset.testid = `kiosk-doc-${item.material_id}`;
    row.dataset.status = item.status;
    const pick = make('button', 'doc-pick', names.get(item.material_id) || item.material_id);
    pick.type = 'button';
    pick.dataset.action = 'doc-choose';
    pick.dataset.arg = item.material_id;
    pick.dataset.testid = `kiosk-doc-pick-${item.material_id}`;
    if (target && target.material_id === item.material_id) pick.setAttribute('aria-pressed', 'true');
    row.append(pick, make('span', 'doc-state', t(STATUS_KEYS[item.status], { date: item.due_on || '' })));
    if (item.reason) row.append(make('span', 'doc-reason', t('documents.reason', { reason: item.reason })));
    return row;
  });
  $('[data-testid=documents-list]').replaceChildren(...rows);

  const actions = $('[data-testid=documents-actions]');
  const usb = docs.usb_files;
  const buttons = [];
  if (usb) {
    buttons.push(make('p', 'doc-lead', t('documents.usb_pick')));
    for (const name of usb) {
      const file = button('doc-import-usb', name, 'documents.usb', `usb-file-${name}`);
      file.textContent = name; // a file name is the same in every language
      buttons.push(file);
    }
    buttons.push(button('doc-close', undefined, 'documents.close', 'documents-close'));
  } else if (docs.phone_qr) {
    const img = make('img', 'doc-qr');
    img.src = docs.phone_qr;
    img.alt = t('documents.phone_scan');
    img.dataset.testid = 'phone-qr';
    buttons.push(make('p', 'doc-lead', t('documents.phone_scan')), img);
    buttons.push(button('doc-close', undefined, 'documents.close', 'documents-close'));
  } else if (target) {
    buttons.push(make('p', 'doc-lead', t('documents.for', { name: names.get(target.material_id) || target.material_id })));
    for (const device of docs.devices) buttons.push(button(`doc-${device}`, target.material_id, DEVICE_KEYS[device], `doc-${device}`));
  }
  actions.replaceChildren(...buttons);
  for (const element of actions.querySelectorAll('button')) element.disabled = docs.busy;
  $('[data-testid=documents-busy]').hidden = !docs.busy;
  const error = docs.error;
  const errorBox = $('[data-testid=documents-error]');
  errorBox.hidden = !error;
  errorBox.textContent = error ? (has(error.key) ? t(error.key) : error.detail) : '';
}

/** The page's actions for this panel; kiosk.js merges them into its own. */
export function documentActions(ui, send, update) {
  const material = () => {
    const target = ui.view && ui.view.documents ? chosenMaterial(ui.view.documents, ui) : null;
    return target ? target.material_id : null;
  };
  return {
    'doc-choose': (id) => {
      ui.material = id;
      update();
    },
    'doc-camera': () => material() && send({ type: 'capture', material_id: material(), device: 'camera' }),
    'doc-scanner': () => material() && send({ type: 'capture', material_id: material(), device: 'scanner' }),
    'doc-usb': () => send({ type: 'list_usb' }),
    'doc-import-usb': (name) => material() && send({ type: 'import_usb', material_id: material(), name }),
    'doc-phone': () => send({ type: 'phone_link' }),
    'doc-close': () => send({ type: 'close_documents' }),
    'doc-page': (step) => {
      ui.paging.documents.index += Number(step);
      update();
    },
  };
}
