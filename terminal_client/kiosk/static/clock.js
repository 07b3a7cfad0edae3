// The clock in the top bar: the time where the applicant stands, in the time zone of the
// kiosk's place (the server says it in the hello; none: this machine's own clock). A mainland
// resident at a kiosk in Shenzhen reads Beijing time whichever department they call.

const EVERY_MS = 10000;
let zone = null;
let timer = null;

function draw() {
  const el = document.querySelector('[data-testid=local-clock]');
  if (!el) return;
  const now = new Date();
  let text;
  try {
    text = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', ...(zone ? { timeZone: zone } : {}) }).format(now);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    text = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(now);
  }
  if (el.textContent !== text) el.textContent = text;
  el.dataset.zone = zone ?? '';
  el.dateTime = now.toISOString();
}

/** Show the time in ``timeZone`` (IANA; null: this machine's), now and every ten seconds. */
export function setClockZone(timeZone) {
  zone = timeZone || null;
  draw();
  if (timer === null) timer = setInterval(draw, EVERY_MS);
}
