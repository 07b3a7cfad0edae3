// A clerk's work states on the console: the reason for stepping away (beside the availability
// toggle) and the wrap-up panel after each call: a live countdown, a required disposition
// code, a note, "then take a break". The server decides the state (clerk_status); this panel
// only shows it and sends the clerk's choices.

import { duration, localized, maybe, t } from "./i18n.js";
import { EVENTS } from "./protocol.js";

const IDS = [
  "away-reason", "wrap-up-panel", "wrap-up-countdown", "wrap-up-code", "wrap-up-note",
  "wrap-up-break", "wrap-up-break-reason", "wrap-up-extend", "wrap-up-file", "wrap-up-error",
];

/** A reason's words in the UI language (a reason the console has no words for: its id). */
function reasonName(id) {
  return maybe(`away.reason.${id}`) ?? id;
}

function fillOptions(select, items, key, placeholder) {
  if (select.dataset.key === key) return;
  select.dataset.key = key;
  const kept = select.value;
  const options = items.map(([value, label]) => {
    const option = select.ownerDocument.createElement("option");
    option.value = value;
    option.textContent = label;
    return option;
  });
  if (placeholder !== null) {
    const option = select.ownerDocument.createElement("option");
    option.value = "";
    option.textContent = placeholder;
    options.unshift(option);
  }
  select.replaceChildren(...options);
  if (items.some(([value]) => value === kept)) select.value = kept;
}

export class WorkStates {
  constructor(doc, send) {
    this.send = send;
    this.el = {};
    for (const id of IDS) {
      const el = doc.getElementById(id);
      if (!el) throw new Error(`console page is missing #${id}`);
      this.el[id.replace(/-(\w)/g, (_, c) => c.toUpperCase())] = el;
    }
    this.reasons = [];
    this.awayReasonNow = null;
    this.wrapUp = null; // {view: WrapUpView, receivedAt}
    this.error = null; // an i18n key, or {serverError} text shown in the panel
    this.pending = false;
    const e = this.el;
    e.awayReason.addEventListener("change", () => {
      // while away, another reason is another away: said to the server at once
      if (this.awayReasonNow && e.awayReason.value !== this.awayReasonNow) {
        this.send(EVENTS.SET_AVAILABILITY, { available: false, reason: e.awayReason.value });
      }
    });
    e.wrapUpExtend.addEventListener("click", () => this.#extend());
    e.wrapUpFile.addEventListener("click", () => this.#file());
    e.wrapUpBreak.addEventListener("change", () => this.onChange());
    e.wrapUpCode.addEventListener("change", () => {
      this.error = null;
      this.onChange();
    });
    this.onChange = () => {};
  }

  /** The reason to send with "away": the one chosen beside the toggle. */
  awayReason() {
    return this.el.awayReason.value || this.reasons[0] || null;
  }

  /** The server's clerk_status: reasons, the current one, the wrap-up if any. */
  status(status) {
    this.reasons = status.away_reasons || [];
    this.awayReasonNow = status.state === "away" ? status.away_reason ?? null : null;
    const before = this.wrapUp;
    const view = status.wrap_up ?? null;
    if (!view) {
      this.wrapUp = null;
      this.error = null;
    } else {
      const fresh = !before || before.view.session_id !== view.session_id;
      this.wrapUp = { view, receivedAt: performance.now() };
      if (fresh) {
        this.el.wrapUpCode.value = "";
        this.el.wrapUpNote.value = "";
        this.el.wrapUpBreak.checked = Boolean(status.away_reason);
        this.error = null;
      }
      if (fresh && status.away_reason) this.el.wrapUpBreakReason.dataset.want = status.away_reason;
    }
    this.pending = false;
  }

  /** A refusal of one of this panel's requests: shown in the panel, not only the banner. */
  refused(description) {
    this.pending = false;
    this.error = description;
  }

  /** Seconds left of the wrap-up (negative once over time), or null when not in one. */
  remaining(now = performance.now()) {
    if (!this.wrapUp) return null;
    return this.wrapUp.view.remaining_s - (now - this.wrapUp.receivedAt) / 1000;
  }

  render(state, resolve, now = performance.now()) {
    const e = this.el;
    const reasons = this.reasons.map((id) => [id, reasonName(id)]);
    const key = `${t("away.reasonLabel")}|${this.reasons.join(",")}`;
    fillOptions(e.awayReason, reasons, key, null);
    fillOptions(e.wrapUpBreakReason, reasons, key, null);
    if (this.awayReasonNow && document.activeElement !== e.awayReason) e.awayReason.value = this.awayReasonNow;
    if (e.wrapUpBreakReason.dataset.want) {
      e.wrapUpBreakReason.value = e.wrapUpBreakReason.dataset.want;
      delete e.wrapUpBreakReason.dataset.want;
    }
    e.awayReason.disabled = state === "offline" || state === "busy" || state === "wrap_up";

    const wrap = this.wrapUp;
    e.wrapUpPanel.hidden = !(wrap && state === "wrap_up");
    if (e.wrapUpPanel.hidden) return;
    const view = wrap.view;
    const codes = view.codes.map((c) => [c.id, localized(c.names)]);
    fillOptions(e.wrapUpCode, codes, `${t("wrapUp.choose")}|${codes.map((c) => c.join(":")).join(",")}`, t("wrapUp.choose"));
    const left = this.remaining(now);
    const over = left <= 0;
    e.wrapUpPanel.dataset.overtime = String(over);
    e.wrapUpCountdown.textContent = over
      ? t("wrapUp.over", { duration: duration(Math.floor(-left)) })
      : t("wrapUp.left", { duration: duration(Math.ceil(left)) });
    const total = (new Date(view.deadline) - new Date(view.started_at)) / 1000;
    e.wrapUpExtend.textContent = t("wrapUp.extend", { n: Math.round(view.extend_s) });
    e.wrapUpExtend.disabled = this.pending || total + view.extend_s > view.max_s + 0.001;
    e.wrapUpBreakReason.disabled = !e.wrapUpBreak.checked;
    e.wrapUpFile.disabled = this.pending;
    e.wrapUpError.hidden = !this.error;
    e.wrapUpError.textContent = this.error ? resolve(this.error) : "";
  }

  #file() {
    const e = this.el;
    if (!this.wrapUp || this.pending) return;
    if (!e.wrapUpCode.value) {
      this.error = "wrapUp.codeRequired";
      this.onChange();
      e.wrapUpCode.focus();
      return;
    }
    this.error = null;
    this.pending = true;
    this.send(EVENTS.FILE_WRAP_UP, {
      session_id: this.wrapUp.view.session_id,
      code: e.wrapUpCode.value,
      note: e.wrapUpNote.value.trim(),
      away_reason: e.wrapUpBreak.checked ? e.wrapUpBreakReason.value || null : null,
    });
    this.onChange();
  }

  #extend() {
    if (!this.wrapUp || this.pending) return;
    this.pending = true;
    this.send(EVENTS.EXTEND_WRAP_UP, { session_id: this.wrapUp.view.session_id });
    this.onChange();
  }
}
