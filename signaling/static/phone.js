// The applicant's phone: send one file to the counter through a one-time link.
const TEXT = {
  'zh-Hant': { title: '上傳文件', lead: '選擇文件類別和檔案,然後按「傳送」。此連結只能使用一次。', material: '文件', file: '檔案', send: '傳送', sending: '正在傳送…', done: '已收到,職員正在查看。您可以關閉此頁。', pick: '請先選擇檔案。' },
  'zh-Hans': { title: '上传材料', lead: '选择材料类别和文件,然后按“发送”。此链接只能使用一次。', material: '材料', file: '文件', send: '发送', sending: '正在发送…', done: '已收到,工作人员正在查看。您可以关闭此页。', pick: '请先选择文件。' },
  en: { title: 'Upload a document', lead: 'Choose the document and the file, then Send. This link works once.', material: 'Document', file: 'File', send: 'Send', sending: 'Sending…', done: 'Received; the clerk is looking at it. You can close this page.', pick: 'Choose a file first.' },
};
const token = window.location.pathname.split('/').pop();
const $ = (id) => document.getElementById(id);
let text = TEXT.en;

function status(message) { $('status').textContent = message; }

async function load() {
  const response = await fetch(`/api/phone/${token}`, { cache: 'no-store' });
  const body = await response.json();
  if (!response.ok) { status(body.message); return; }
  text = TEXT[body.language] || TEXT.en;
  document.documentElement.lang = body.language;
  $('title').textContent = text.title;
  $('lead').textContent = text.lead;
  $('material-label').textContent = text.material;
  $('file-label').textContent = text.file;
  $('send').textContent = text.send;
  $('material').replaceChildren(...body.materials.map((m) => {
    const option = document.createElement('option');
    option.value = m.id;
    option.textContent = m.name;
    return option;
  }));
  const open = body.materials.find((m) => m.status !== 'accepted');
  if (open) $('material').value = open.id;
  $('form').hidden = false;
}

$('form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const file = $('file').files[0];
  if (!file) { status(text.pick); return; }
  $('send').disabled = true;
  status(text.sending);
  const query = new URLSearchParams({ material_id: $('material').value, filename: file.name });
  const response = await fetch(`/api/phone/${token}/upload?${query}`, { method: 'POST', body: file });
  const body = await response.json();
  if (response.ok) {
    $('form').hidden = true;
    status(text.done);
  } else {
    $('send').disabled = false;
    status(body.message);
  }
});

load().catch((error) => status(String(error)));
