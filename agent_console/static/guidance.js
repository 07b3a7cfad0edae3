// Guiding the applicant during a call: the care-mode flag, the step the session is at (the
// kiosk's step indicator follows it) and prompts pushed to the kiosk's screen: a text, the
// service's materials as a checklist, or "please place your document on the scanner".
//
// What is pushed is in the applicant's language where the console knows it (the catalogue's
// names); what the clerk types goes as typed.

import { EVENTS } from "./protocol.js";
import { t } from "./i18n.js";

export const STEPS = 7;
const FIRST_CALL_STEP = 2; // the service was chosen at the kiosk: a call starts at the video link

export class Guidance {
  /** ``send(event, payload)`` emits a clerk event. */
  constructor(doc, send) {
    this.doc = doc;
    this.send = send;
    this.sessionId = null;
    this.step = FIRST_CALL_STEP;
    this.sentKey = null; // the last confirmation shown, as an i18n key
    this.renderedKey = null;
    const $ = (id) => doc.getElementById(id);
    this.el = {
      care: $("call-care"),
      incomingCare: $("incoming-care"),
      steps: $("guide-steps"),
      form: $("prompt-form"),
      text: $("prompt-text"),
      sendPlace: $("prompt-send-place"),
      sendChecklist: $("prompt-send-checklist"),
      sent: $("prompt-sent"),
    };
    this.info = null;
    this.service = null;
    this.el.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#sendText();
    });
    this.el.sendPlace.addEventListener("click", () => this.#sendPlace());
    this.el.sendChecklist.addEventListener("click", () => this.#sendChecklist());
  }

  /** Draw for the offer ringing (``offer``: CallOffered or null) and the call (``info``). */
  render(offer, info, service) {
    this.el.incomingCare.hidden = !(offer && offer.care_mode);
    this.info = info;
    this.service = service;
    if (!info) {
      this.sessionId = null;
      return;
    }
    if (info.sessionId !== this.sessionId) {
      this.sessionId = info.sessionId;
      this.step = FIRST_CALL_STEP;
      this.sentKey = null;
      this.el.text.value = "";
    }
    this.el.care.hidden = !info.careMode;
    this.el.sendChecklist.disabled = !this.#materials().length;
    this.el.sent.textContent = this.sentKey ? t(this.sentKey) : "";
    this.#renderSteps();
  }

  #renderSteps() {
    const key = `${this.sessionId}|${this.step}|${t("guide.step.1")}`;
    if (this.renderedKey === key) return;
    this.renderedKey = key;
    const items = [];
    for (let n = 1; n <= STEPS; n += 1) {
      const li = this.doc.createElement("li");
      const button = this.doc.createElement("button");
      button.type = "button";
      button.className = "step-button";
      button.dataset.testid = `guide-step-${n}`;
      button.dataset.step = String(n);
      button.textContent = `${n} · ${t(`guide.step.${n}`)}`;
      if (n === this.step) {
        button.setAttribute("aria-current", "step");
        li.className = "current";
      } else if (n < this.step) {
        li.className = "done";
      }
      button.addEventListener("click", () => this.#setStep(n));
      li.append(button);
      items.push(li);
    }
    this.el.steps.replaceChildren(...items);
  }

  #setStep(step) {
    if (!this.sessionId || step === this.step) return;
    this.step = step;
    this.send(EVENTS.SET_STEP, { session_id: this.sessionId, step });
    this.renderedKey = null;
    this.#renderSteps();
  }

  #push(kind, text, items = []) {
    if (!this.sessionId) return;
    this.send(EVENTS.PUSH_PROMPT, { session_id: this.sessionId, kind, text, items });
    this.sentKey = `guide.sent.${kind}`;
    this.el.sent.textContent = t(this.sentKey);
  }

  #sendText() {
    const text = this.el.text.value.trim();
    if (!text) {
      this.sentKey = "guide.emptyText";
      this.el.sent.textContent = t(this.sentKey);
      this.el.text.focus();
      return;
    }
    this.#push("text", text.slice(0, 500));
    this.el.text.value = "";
  }

  /** "Please place ... on the scanner": the typed text, else the first required material. */
  #sendPlace() {
    const typed = this.el.text.value.trim();
    const first = this.#materials()[0] || "";
    this.#push("place_document", (typed || first).slice(0, 500));
    this.el.text.value = "";
  }

  #sendChecklist() {
    const items = this.#materials().slice(0, 20);
    if (!items.length) return;
    this.#push("checklist", this.el.text.value.trim().slice(0, 500), items);
    this.el.text.value = "";
  }

  /** The service's material names in the applicant's language. */
  #materials() {
    if (!this.service || !this.info) return [];
    const lang = this.info.language;
    return this.service.materials
      .map((m) => (m.names && (m.names[lang] || m.names.en)) || "")
      .filter(Boolean)
      .map((name) => name.slice(0, 200));
  }
}
