// Clock times about the applicant's side: in the time zone of the applicant's kiosk (its
// place's city, as the server says in the offer and the call) and, when the clerk's own clock
// reads differently at that instant, the clerk's in brackets: "10:05 (your time 03:05)".
// Offsets are compared at the instant shown, so a summer-time change is taken into account.

import { t } from "./i18n.js";

const CLOCK = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
const FULL = { ...CLOCK, year: "numeric", month: "2-digit", day: "2-digit" };

function format(ms, options, zone) {
  return new Intl.DateTimeFormat("en-GB", zone ? { ...options, timeZone: zone } : options).format(ms);
}

/** The time ``ms`` as the applicant reads it, with the clerk's when their clocks differ; the
 * clerk's alone when the applicant's zone is not known (a kiosk at no place) or not valid. */
export function applicantClock(ms, zone) {
  const mine = format(ms, CLOCK);
  if (!zone) return mine;
  try {
    if (format(ms, FULL, zone) === format(ms, FULL)) return format(ms, CLOCK, zone);
    return t("zones.pair", { applicant: format(ms, CLOCK, zone), mine });
  } catch (error) {
    if (error instanceof RangeError) return mine; // a zone this browser does not know
    throw error;
  }
}

function setText(el, text) {
  if (el && el.textContent !== text) el.textContent = text;
}

/** The incoming call's "queued at" and the call's "applicant's local time" (once a second). */
export function renderClocks(doc, m, now) {
  const offer = m.offer;
  if (offer) {
    const msg = offer.message;
    const queued = Date.now() - (now - offer.receivedAt) - msg.waited_s * 1000;
    setText(doc.getElementById("incoming-queued-at"), applicantClock(queued, msg.applicant_zone));
  }
  const info = m.callInfo;
  const row = doc.getElementById("call-applicant-time-row");
  if (!row) return;
  row.hidden = !(info && info.applicantZone);
  if (info && info.applicantZone) {
    setText(doc.getElementById("call-applicant-time"), applicantClock(Date.now(), info.applicantZone));
  }
}
