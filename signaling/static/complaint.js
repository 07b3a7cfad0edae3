// The public complaint page on a phone: a complaint's state, due date and answer, for its
// number and access code (POST /api/complaints/status). No sign-in; the server limits lookups.
const TEXT = {
  'zh-Hant': {
    title: '投訴查詢', lead: '請輸入回條上的投訴編號及查詢碼。', number: '投訴編號', code: '查詢碼（6 位數字）',
    check: '查詢', checking: '正在查詢…', state: '投訴 {number}：{state}', due: '{department}會於 {date} 或之前答覆。',
    overdue: '答覆已逾期，謹此致歉。', answer: '答覆', answered_on: '{department}已於 {date} 答覆。',
    'state.open': '處理中', 'state.answered': '已答覆', 'state.closed': '已完結',
    empty: '請輸入投訴編號及查詢碼。',
    complaint_not_found: '找不到與此編號及查詢碼相符的投訴，請對照回條檢查兩者。',
    bad_complaint_number: '這不是投訴編號：CP 之後共 14 位，最後一位是數字或 X。請對照回條檢查。',
    bad_access_code: '查詢碼是 6 位數字。',
    rate_limited: '嘗試次數太多，請稍後再試，或向櫃檯查詢。',
    failed: '未能查詢，請稍後再試。',
  },
  'zh-Hans': {
    title: '投诉查询', lead: '请输入回执上的投诉编号及查询码。', number: '投诉编号', code: '查询码（6 位数字）',
    check: '查询', checking: '正在查询…', state: '投诉 {number}：{state}', due: '{department}会于 {date} 或之前答复。',
    overdue: '答复已逾期，谨此致歉。', answer: '答复', answered_on: '{department}已于 {date} 答复。',
    'state.open': '处理中', 'state.answered': '已答复', 'state.closed': '已办结',
    empty: '请输入投诉编号及查询码。',
    complaint_not_found: '找不到与此编号及查询码相符的投诉，请对照回执检查两者。',
    bad_complaint_number: '这不是投诉编号：CP 之后共 14 位，最后一位是数字或 X。请对照回执检查。',
    bad_access_code: '查询码是 6 位数字。',
    rate_limited: '尝试次数太多，请稍后再试，或向柜台查询。',
    failed: '未能查询，请稍后再试。',
  },
  en: {
    title: 'Check a complaint', lead: 'Type the complaint number and the access code from your slip.',
    number: 'Complaint number', code: 'Access code (6 digits)', check: 'Check', checking: 'Looking it up…',
    state: 'Complaint {number}: {state}', due: '{department} will answer by {date}.',
    overdue: 'The answer is overdue. We apologise for the delay.', answer: 'Answer',
    answered_on: '{department} answered on {date}.',
    'state.open': 'Being handled', 'state.answered': 'Answered', 'state.closed': 'Closed',
    empty: 'Type the complaint number and the access code.',
    complaint_not_found: 'No complaint matches this number and access code. Check both against your slip.',
    bad_complaint_number: 'This is not a complaint number: after CP it has 14 characters, the last a digit or X. Check it against your slip.',
    bad_access_code: 'The access code has 6 digits.',
    rate_limited: 'Too many tries. Please try again later, or ask at the counter.',
    failed: 'The lookup did not go through. Please try again later.',
  },
};
const NAMES = { 'zh-Hant': 'zh-Hant', 'zh-Hans': 'zh-Hans', en: 'en' };
const $ = (id) => document.getElementById(id);
let language = pickLanguage();
let shown = null; // the last status found, drawn again in another language

function pickLanguage() {
  const asked = new URLSearchParams(window.location.search).get('lang');
  if (asked && NAMES[asked]) return asked;
  const browser = (navigator.language || '').toLowerCase();
  if (browser.startsWith('zh')) return /cn|sg|hans/.test(browser) ? 'zh-Hans' : 'zh-Hant';
  return 'en';
}

function t(key, params = {}) {
  return TEXT[language][key].replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

function translate() {
  document.documentElement.lang = language;
  $('title').textContent = t('title');
  $('lead').textContent = t('lead');
  $('number-label').textContent = t('number');
  $('code-label').textContent = t('code');
  $('check').textContent = t('check');
  $('answer-label').textContent = t('answer');
  document.querySelectorAll('[data-lang]').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.lang === language)));
  if (shown) draw(shown);
}

function error(key) {
  $('error').hidden = !key;
  $('error').textContent = key ? t(key) : '';
  $('error').dataset.key = key || '';
}

function draw(status) {
  $('found').hidden = false;
  $('state').textContent = t('state', { number: status.number, state: t(`state.${status.state}`) });
  $('state').dataset.state = status.state;
  const department = status.department_name[language] ?? status.department_name.en;
  $('due').textContent = status.answered_on
    ? t('answered_on', { department, date: status.answered_on })
    : t('due', { department, date: status.due_on });
  $('overdue').hidden = !status.overdue;
  $('overdue').textContent = t('overdue');
  $('answer-label').hidden = !status.answer;
  $('answer').hidden = !status.answer;
  $('answer').textContent = status.answer || '';
}

$('form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const number = $('number').value.trim();
  const code = $('code').value.trim();
  shown = null;
  $('found').hidden = true;
  if (!number || !code) { error('empty'); return; }
  error('');
  $('check').disabled = true;
  $('check').textContent = t('checking');
  try {
    const response = await fetch('/api/complaints/status', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ number: number.slice(0, 40), access_code: code.slice(0, 20) }),
      cache: 'no-store',
    });
    const body = await response.json().catch(() => null);
    if (response.ok && body) {
      shown = body;
      draw(body);
    } else {
      error(body && TEXT[language][body.code] ? body.code : 'failed');
    }
  } catch {
    error('failed');
  } finally {
    $('check').disabled = false;
    $('check').textContent = t('check');
  }
});

document.querySelectorAll('[data-lang]').forEach((button) => {
  button.addEventListener('click', () => {
    language = button.dataset.lang;
    translate();
    if ($('error').dataset.key) error($('error').dataset.key);
  });
});

translate();
