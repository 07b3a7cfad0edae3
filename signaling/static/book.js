// The booking page (/book): choose a service, a day and a time, give a name and an ID
// document number, get a booking number with a QR code; find or cancel a booking later.
// The server checks everything again and answers refusals with a code this page words.

const TEXT = {
  'zh-Hant': {
    title: '辦事預約', tab_book: '預約', tab_mine: '我的預約', step1: '1', step2: '2', step3: '3',
    choose_service: '選擇部門和服務', choose_time: '選擇日期和時間', your_details: '填寫資料',
    back: '返回', name: '姓名（與證件相同）', document: '身份證明文件號碼',
    document_hint: '只用作核對身份，不會以明文儲存。', phone: '電話（可選）', book: '確認預約',
    booked: '預約成功', another: '再預約一項', find_booking: '查詢或取消預約', number: '預約號碼',
    find: '查詢', cancel_booking: '取消此預約', closed: '休息', holiday: '公眾假期', full: '已滿',
    left: (n) => `餘 ${n} 個`, no_slots: '這一天沒有可預約的時段。',
    closed_day: '這一天不辦公。', holiday_day: '這一天是公眾假期，不辦公。',
    when: '時間', service: '服務', state: '狀態', check_in: (from, until) => `請於 ${from} 起到任何自助服務機「我有預約」報到；${until} 後未報到，預約將失效。`,
    show_qr: '報到時出示此二維碼，或輸入預約號碼。', cancelled_ok: '預約已取消。',
    weekdays: ['一', '二', '三', '四', '五', '六', '日'], weekday: (w) => `星期${'一二三四五六日'[w]}`,
    date: (m, d) => `${m}月${d}日`,
    states: { booked: '已預約', cancelled: '已取消', checked_in: '已報到', late: '已報到（遲到）', no_show: '逾時未到' },
    sending: '正在處理…',
    errors: {
      slot_full: '這個時段剛剛已滿，請選擇其他時間。',
      already_booked: '您在這個時段已有預約，每人一個名額。',
      booking_limit: '您持有的有效預約已達上限，請先取消一項或待其完結。',
      not_found: '找不到與此證件號碼相符的預約，請核對預約號碼和證件號碼。',
      bad_number_empty: '請輸入預約號碼。',
      bad_number_format: '預約號碼由 AP、10 位數字和 1 個校驗字元組成，請照預約記錄輸入。',
      bad_number_check: '預約號碼有誤：最後一個字元與其他字元不符，可能輸入錯了一個字元，請核對。',
      invalid_phone: '電話號碼不正確，請核對號碼及所選地區。',
      rate_limited: '請求過於頻繁，請稍後再試。',
      appointment_state: '此預約目前不能取消。',
      not_bookable: '這個時段不能預約，請選擇顯示的其他時段。',
      network: '無法連線，請檢查網絡後再試。',
    },
    field_errors: { name: '請輸入與證件相同的姓名。', document: '證件號碼為 5 至 20 個英文字母或數字（至少一個數字）。' },
  },
  'zh-Hans': {
    title: '办事预约', tab_book: '预约', tab_mine: '我的预约', step1: '1', step2: '2', step3: '3',
    choose_service: '选择部门和服务', choose_time: '选择日期和时间', your_details: '填写信息',
    back: '返回', name: '姓名（与证件一致）', document: '身份证明文件号码',
    document_hint: '仅用于核对身份，不会以明文保存。', phone: '电话（可选）', book: '确认预约',
    booked: '预约成功', another: '再预约一项', find_booking: '查询或取消预约', number: '预约号',
    find: '查询', cancel_booking: '取消此预约', closed: '休息', holiday: '公众假期', full: '已满',
    left: (n) => `余 ${n} 个`, no_slots: '这一天没有可预约的时段。',
    closed_day: '这一天不办公。', holiday_day: '这一天是公众假期，不办公。',
    when: '时间', service: '服务', state: '状态', check_in: (from, until) => `请于 ${from} 起到任一自助服务终端“我有预约”签到；${until} 后未签到，预约将失效。`,
    show_qr: '签到时出示此二维码，或输入预约号。', cancelled_ok: '预约已取消。',
    weekdays: ['一', '二', '三', '四', '五', '六', '日'], weekday: (w) => `星期${'一二三四五六日'[w]}`,
    date: (m, d) => `${m}月${d}日`,
    states: { booked: '已预约', cancelled: '已取消', checked_in: '已签到', late: '已签到（迟到）', no_show: '逾时未到' },
    sending: '正在处理…',
    errors: {
      slot_full: '这个时段刚刚已满，请选择其他时间。',
      already_booked: '您在这个时段已有预约，每人一个名额。',
      booking_limit: '您持有的有效预约已达上限，请先取消一项或待其结束。',
      not_found: '找不到与此证件号码相符的预约，请核对预约号和证件号码。',
      bad_number_empty: '请输入预约号。',
      bad_number_format: '预约号由 AP、10 位数字和 1 个校验字符组成，请按预约记录输入。',
      bad_number_check: '预约号有误：最后一个字符与其他字符不符，可能输错了一个字符，请核对。',
      invalid_phone: '电话号码不正确，请核对号码及所选地区。',
      rate_limited: '请求过于频繁，请稍后再试。',
      appointment_state: '此预约目前不能取消。',
      not_bookable: '这个时段不能预约，请选择显示的其他时段。',
      network: '无法连接，请检查网络后再试。',
    },
    field_errors: { name: '请输入与证件一致的姓名。', document: '证件号码为 5 至 20 个英文字母或数字（至少一个数字）。' },
  },
  en: {
    title: 'Book an appointment', tab_book: 'Book', tab_mine: 'My booking', step1: '1', step2: '2', step3: '3',
    choose_service: 'Choose the department and service', choose_time: 'Choose a day and time', your_details: 'Your details',
    back: 'Back', name: 'Name (as on your ID document)', document: 'ID document number',
    document_hint: 'Used only to check it is you; it is not stored as typed.', phone: 'Phone (optional)', book: 'Book',
    booked: 'Booked', another: 'Book another', find_booking: 'Find or cancel a booking', number: 'Booking number',
    find: 'Find', cancel_booking: 'Cancel this booking', closed: 'Closed', holiday: 'Holiday', full: 'Full',
    left: (n) => `${n} left`, no_slots: 'No times can be booked on this day.',
    closed_day: 'Closed on this day.', holiday_day: 'A public holiday: closed.',
    when: 'Time', service: 'Service', state: 'State', check_in: (from, until) => `Check in at any kiosk ("I have an appointment") from ${from}; after ${until} the booking lapses.`,
    show_qr: 'Show this QR code at check-in, or type the booking number.', cancelled_ok: 'The booking is cancelled.',
    weekdays: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'], weekday: (w) => ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'][w],
    date: (m, d) => `${d} ${['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][m - 1]}`,
    states: { booked: 'Booked', cancelled: 'Cancelled', checked_in: 'Checked in', late: 'Checked in (late)', no_show: 'Missed' },
    sending: 'Working…',
    errors: {
      slot_full: 'This time has just filled up; choose another.',
      already_booked: 'You have a booking at this time already; one place each.',
      booking_limit: 'You hold as many open bookings as one person may; cancel one, or wait until it has passed.',
      not_found: 'There is no booking with this number for this document number; check both.',
      bad_number_empty: 'Enter the booking number.',
      bad_number_format: 'A booking number is AP, 10 digits and a check character; type it as on your booking.',
      bad_number_check: 'This booking number is mistyped: its last character does not match the others. Check it.',
      invalid_phone: 'This phone number is not right; check it and the area chosen.',
      rate_limited: 'Too many requests; try again shortly.',
      appointment_state: 'This booking cannot be cancelled now.',
      not_bookable: 'This time cannot be booked; choose one shown.',
      network: 'No connection; check the network and try again.',
    },
    field_errors: { name: 'Enter your name as on your ID document.', document: 'An ID document number has 5 to 20 letters and digits, at least one digit.' },
  },
};

const $ = (id) => document.getElementById(id);
const state = {
  language: pickLanguage(), offer: null, service: null, department: null, slots: null,
  day: null, slot: null, done: null, found: null, foundDocument: '',
};

function pickLanguage() {
  const saved = localStorage.getItem('vcounter.book.language');
  if (saved && TEXT[saved]) return saved;
  const wanted = (navigator.language || '').toLowerCase();
  if (wanted.startsWith('zh-cn') || wanted.startsWith('zh-sg') || wanted.includes('hans')) return 'zh-Hans';
  if (wanted.startsWith('zh')) return 'zh-Hant';
  return 'en';
}

const t = () => TEXT[state.language];
const named = (names) => names[state.language];

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const [key, value] of Object.entries(props.dataset || {})) node.dataset[key] = value;
  node.append(...children);
  return node;
}

function showError(code, fallback) {
  const text = t().errors[code] || t().field_errors[code] || fallback || code;
  $('error').textContent = text;
  $('error').hidden = false;
  $('error').scrollIntoView({ block: 'nearest' });
}

function clearError() { $('error').hidden = true; }

async function api(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method, cache: 'no-store',
      headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch {
    return { ok: false, body: { code: 'network', message: '' } };
  }
  let parsed = {};
  try { parsed = await response.json(); } catch { parsed = { code: 'network', message: '' }; }
  return { ok: response.ok, body: parsed };
}

// ISO 7064 MOD 11-2, as the server checks it: a mistyped number is caught before a lookup
function checkCharacter(digits) {
  let p = 0;
  for (const ch of digits) p = ((p + Number(ch)) * 2) % 11;
  const r = (12 - p) % 11;
  return r === 10 ? 'X' : String(r);
}

function numberProblem(typed) {
  let value = typed.replace(/[\s-]/g, '').toUpperCase();
  if (!value) return 'bad_number_empty';
  if (!value.startsWith('AP')) value = `AP${value}`;
  const match = /^AP(\d{10})([0-9X])$/.exec(value);
  if (!match) return 'bad_number_format';
  return checkCharacter(match[1]) === match[2] ? null : 'bad_number_check';
}

function show(section) {
  for (const id of ['step-service', 'step-slot', 'step-details', 'step-done', 'mine']) $(id).hidden = id !== section;
  $('tab-book').setAttribute('aria-pressed', String(section !== 'mine'));
  $('tab-mine').setAttribute('aria-pressed', String(section === 'mine'));
  clearError();
}

function translate() {
  document.documentElement.lang = state.language;
  for (const node of document.querySelectorAll('[data-t]')) node.textContent = t()[node.dataset.t];
  for (const button of document.querySelectorAll('[data-lang]')) {
    button.setAttribute('aria-pressed', String(button.dataset.lang === state.language));
  }
  document.title = t().title;
  renderServices();
  renderSlots();
  renderChosenSlot();
  if (state.done) renderTicket($('ticket'), state.done, true);
  if (state.found) renderTicket($('found'), state.found, state.found.state === 'booked');
}

function renderServices() {
  if (!state.offer) return;
  const list = [];
  for (const department of state.offer.departments) {
    list.push(el('h3', {}, named(department.names)));
    for (const service of department.services) {
      const button = el('button', { type: 'button' }, named(service.names));
      button.dataset.testid = `service-${service.id}`;
      button.addEventListener('click', () => chooseService(department, service));
      list.push(button);
    }
  }
  $('services').replaceChildren(...list);
}

async function chooseService(department, service) {
  state.department = department;
  state.service = service;
  state.slot = null;
  const answer = await api('GET', `/api/appointments/slots?service=${encodeURIComponent(service.id)}`);
  if (!answer.ok) { showError(answer.body.code, answer.body.message); return; }
  state.slots = answer.body;
  const firstOpen = state.slots.days.find((d) => d.slots.some((s) => s.state === 'open'));
  state.day = (firstOpen || state.slots.days[0]).date;
  show('step-slot');
  renderSlots();
}

function renderSlots() {
  if (!state.slots || !state.service) return;
  $('chosen-service').textContent = `${named(state.department.names)} · ${named(state.service.names)}`;
  $('zone').textContent = state.slots.zone_label;
  const days = state.slots.days.map((day) => {
    const [, month, date] = day.date.split('-');
    const label = `${t().weekdays[day.weekday]}\n${t().date(Number(month), Number(date))}`;
    const button = el('button', { type: 'button', role: 'tab' });
    button.style.whiteSpace = 'pre-line';
    button.textContent = day.holiday ? `${label}\n${t().holiday}` : day.closed ? `${label}\n${t().closed}` : label;
    if (day.closed) button.classList.add('closed');
    button.dataset.testid = `day-${day.date}`;
    button.setAttribute('aria-selected', String(day.date === state.day));
    button.addEventListener('click', () => { state.day = day.date; renderSlots(); });
    return button;
  });
  $('days').replaceChildren(...days);
  const day = state.slots.days.find((d) => d.date === state.day);
  const note = day.holiday ? t().holiday_day : day.closed ? t().closed_day
    : day.slots.every((s) => s.state !== 'open') ? t().no_slots : '';
  $('day-note').textContent = note;
  $('day-note').hidden = !note;
  const slots = day.slots.filter((s) => s.state !== 'past').map((slot) => {
    const full = slot.state === 'full';
    const button = el('button', { type: 'button', disabled: full },
      slot.label, el('small', {}, full ? t().full : t().left(slot.free)));
    if (full) button.classList.add('full');
    button.dataset.testid = `slot-${slot.label.replace(':', '')}`;
    button.dataset.state = slot.state;
    button.addEventListener('click', () => { state.slot = slot; show('step-details'); renderChosenSlot(); });
    return button;
  });
  $('slots').replaceChildren(...slots);
}

function renderChosenSlot() {
  if (!state.slot || !state.service) return;
  const day = state.slots.days.find((d) => d.date === state.day);
  $('chosen-slot').textContent = `${named(state.service.names)} · ${day.date} ${t().weekday(day.weekday)}`
    + ` ${state.slot.label} ${state.slots.zone_label}`;
}

function renderTicket(target, booking, withQr) {
  const rows = [
    [t().service, `${named(booking.department_names)} · ${named(booking.service_names)}`],
    [t().when, `${booking.local_date} ${booking.local_time} ${booking.zone_label}`],
    [t().state, t().states[booking.state] || booking.state],
  ];
  const list = el('dl', {}, ...rows.flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]));
  const parts = [el('div', { className: 'number' }, booking.number)];
  parts[0].dataset.testid = 'booking-number';
  if (withQr && booking.qr_svg) {
    const image = el('img', { src: booking.qr_svg, alt: booking.number });
    image.dataset.testid = 'booking-qr';
    parts.push(image, el('p', {}, t().show_qr));
  }
  parts.push(list);
  if (booking.state === 'booked') parts.push(el('p', {}, t().check_in(booking.check_in_from, booking.grace_until)));
  target.replaceChildren(...parts);
  target.hidden = false;
}

async function book(event) {
  event.preventDefault();
  clearError();
  const name = $('name').value.trim();
  const documentNumber = $('document').value.replace(/[\s\-()]/g, '').toUpperCase();
  if (!name) { showError('name'); return; }
  if (!/^[A-Z0-9]{5,20}$/.test(documentNumber) || !/\d/.test(documentNumber)) { showError('document'); return; }
  $('submit').disabled = true;
  $('submit').textContent = t().sending;
  const answer = await api('POST', '/api/appointments', {
    service_id: state.service.id, slot_start: state.slot.start, name,
    document_number: documentNumber, phone: $('phone').value, region: $('region').value,
    language: state.language,
  });
  $('submit').disabled = false;
  $('submit').textContent = t().book;
  if (!answer.ok) {
    showError(answer.body.code, answer.body.message);
    if (answer.body.code === 'slot_full') await chooseService(state.department, state.service);
    return;
  }
  state.done = answer.body;
  show('step-done');
  renderTicket($('ticket'), state.done, true);
}

async function lookUp(event) {
  event.preventDefault();
  clearError();
  $('found').hidden = true;
  $('cancel').hidden = true;
  state.found = null;
  const number = $('lookup-number').value;
  const problem = numberProblem(number);
  if (problem) { showError(problem); return; }
  const documentNumber = $('lookup-document').value;
  const answer = await api('POST', '/api/appointments/lookup', { number, document_number: documentNumber });
  if (!answer.ok) { showError(answer.body.code, answer.body.message); return; }
  state.found = answer.body;
  state.foundDocument = documentNumber;
  renderTicket($('found'), state.found, state.found.state === 'booked');
  $('cancel').hidden = state.found.state !== 'booked';
}

async function cancel() {
  clearError();
  const answer = await api('POST', '/api/appointments/cancel', {
    number: state.found.number, document_number: state.foundDocument,
  });
  if (!answer.ok) { showError(answer.body.code, answer.body.message); return; }
  state.found = answer.body;
  renderTicket($('found'), state.found, false);
  $('cancel').hidden = true;
  $('error').hidden = true;
  const done = el('p', { role: 'status' }, t().cancelled_ok);
  done.dataset.testid = 'cancelled';
  $('found').append(done);
}

async function start() {
  for (const button of document.querySelectorAll('[data-lang]')) {
    button.addEventListener('click', () => {
      state.language = button.dataset.lang;
      localStorage.setItem('vcounter.book.language', state.language);
      translate();
    });
  }
  $('tab-book').addEventListener('click', () => show(state.done ? 'step-done' : 'step-service'));
  $('tab-mine').addEventListener('click', () => show('mine'));
  $('back-service').addEventListener('click', () => show('step-service'));
  $('back-slot').addEventListener('click', () => show('step-slot'));
  $('another').addEventListener('click', () => { state.done = null; show('step-service'); });
  $('details').addEventListener('submit', book);
  $('lookup').addEventListener('submit', lookUp);
  $('cancel').addEventListener('click', cancel);
  const answer = await api('GET', '/api/appointments/services');
  if (!answer.ok) { showError(answer.body.code, answer.body.message); return; }
  state.offer = answer.body;
  translate();
  show('step-service');
  document.body.dataset.ready = 'true';
}

start();
