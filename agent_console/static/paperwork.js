// Steps 5-7 at the console: show the application form (the kiosk asks for the signature),
// watch the applicant sign live, decide with a reason, send a document to the kiosk's
// printer; and, outside a call, the applications of my departments waiting for my decision.
//
// Talks REST with the clerk's token (signaling/paperwork/routes.py) and listens on the clerk's
// socket for ``signature_ink`` and ``application`` (signaling/paperwork/messages.py).

import { afterSetup } from "./settle.js";
import { whileBusy } from "./busy.js";
import { language, t } from "./i18n.js";
import { errorSentence } from "./server-errors.js";
import { followLines } from "./to-follow.js";

const OUTCOMES = ["approved", "returned", "rejected"];

async function call(token, method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    // the refusal in the console's language (its code's sentence), never the server's English
    throw new Error(errorSentence(data, language()) ?? t("error.http", { status: response.status }));
  }
  return data;
}

function drawInk(canvas, ink) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!ink || !ink.strokes) return 0;
  const scale = Math.min(canvas.width / ink.width, canvas.height / ink.height);
  ctx.strokeStyle = "#0d1a73";
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  let points = 0;
  for (const stroke of ink.strokes) {
    const pts = stroke.points || [];
    for (let i = 1; i < pts.length; i += 1) {
      ctx.lineWidth = 1 + 3 * ((pts[i].p || 0.5) + (pts[i - 1].p || 0.5)) / 2;
      ctx.beginPath();
      ctx.moveTo(pts[i - 1].x * scale, pts[i - 1].y * scale);
      ctx.lineTo(pts[i].x * scale, pts[i].y * scale);
      ctx.stroke();
    }
    points += pts.length;
  }
  return points;
}

export class Paperwork {
  /** ``token()`` gives the signed-in clerk's token (or null). */
  constructor(doc, token) {
    this.doc = doc;
    this.token = token;
    this.sessionId = null;
    this.application = null; // ApplicationView of the call's session
    this.previewUrl = null;
    this.pending = [];
    this.pendingLoaded = false;
    const $ = (id) => doc.getElementById(id);
    this.el = {
      makeForm: $("paper-form"),
      state: $("paper-state"),
      payment: $("paper-payment"),
      preview: $("paper-preview"),
      ink: $("paper-ink"),
      decision: $("paper-decision"),
      outcome: $("paper-outcome"),
      reason: $("paper-reason"),
      docs: $("paper-docs"),
      message: $("paper-message"),
      pendingPanel: $("pending-panel"),
      pendingList: $("pending-list"),
      pendingMessage: $("pending-message"),
      pendingRefresh: $("pending-refresh"),
    };
    this.el.makeForm.addEventListener("click", () => this.#makeForm());
    this.el.decide = this.el.decision.querySelector("[type=submit]");
    this.el.decision.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#decide(this.sessionId, this.el.outcome.value, this.el.reason.value, this.el.decide);
    });
    // a stale "please write a reason" goes as soon as the clerk writes one
    this.el.reason.addEventListener("input", () => {
      if (this.el.message.dataset.key === "paper.reasonNeeded") this.#say("");
    });
    this.el.pendingRefresh.addEventListener("click", () => this.refreshPending());
  }

  /** Listen on the clerk's socket.io socket. */
  listen(socket) {
    socket.on("signature_ink", (ink) => {
      if (ink.session_id !== this.sessionId) return;
      this.el.ink.dataset.points = String(drawInk(this.el.ink, ink));
    });
    socket.on("application", (view) => {
      if (view.session_id === this.sessionId) {
        this.application = view;
        this.#renderApplication();
      }
      this.refreshPending();
    });
  }

  /** Follow the console's model: the call in progress, signed in or not. */
  render(m) {
    const signedIn = m.view === "console";
    this.el.pendingPanel.hidden = !signedIn;
    if (signedIn && !this.pendingLoaded) {
      this.pendingLoaded = true;
      this.refreshPending();
    }
    if (!signedIn) this.pendingLoaded = false;
    const sessionId = m.callInfo ? m.callInfo.sessionId : null;
    if (sessionId !== this.sessionId) {
      this.sessionId = sessionId;
      this.application = null;
      this.el.preview.hidden = true;
      this.#say("");
      this.el.reason.value = "";
      drawInk(this.el.ink, null);
      this.el.ink.dataset.points = "0";
      if (sessionId) afterSetup(() => this.sessionId === sessionId, () => this.#load(sessionId));
      this.#renderApplication();
    } else if (this.drawnIn !== language()) {
      this.#renderApplication(); // the clerk switched language mid-call
    }
    if (this.drawnIn !== language()) {
      this.#renderPending(); // also outside a call: the list and its "nothing waiting"
      const pendingKey = this.el.pendingMessage.dataset.key;
      if (pendingKey) this.#say(pendingKey, {}, null, this.el.pendingMessage);
      const key = this.el.message.dataset.key;
      if (key && key !== "paper.confirmMissing") this.#say(key);
      if (!this.el.makeForm.getAttribute("aria-busy")) this.el.makeForm.textContent = t("paper.showForm");
    }
    this.drawnIn = language();
  }

  async refreshPending() {
    const token = this.token();
    if (!token) return;
    try {
      const data = await call(token, "GET", "/api/decisions/pending");
      this.pending = data.applications;
    } catch (err) {
      this.#say("", {}, err.message);
      return;
    }
    this.#renderPending();
  }

  async #load(sessionId) {
    try {
      const view = await call(this.token(), "GET", `/api/sessions/${sessionId}/application`);
      if (sessionId !== this.sessionId) return;
      this.application = view;
      if (view.signature) this.el.ink.dataset.points = String(drawInk(this.el.ink, view.signature));
      const form = [...view.documents].reverse().find((d) => d.kind === "form");
      if (form) this.#showPreview(form);
      this.#renderApplication();
    } catch (err) {
      this.#say("", {}, err.message);
    }
  }

  /** The message line under the paperwork: a text key (kept in data-key) or the server's words. */
  #say(key, params = {}, text = null, target = this.el.message) {
    target.dataset.key = key;
    target.textContent = text ?? (key ? t(key, params) : "");
  }

  async #makeForm() {
    if (!this.sessionId) return;
    const missing = this.missing ? this.missing() : [];
    if (missing.length && this.el.message.dataset.key !== "paper.confirmMissing") {
      // say what is missing and ask: a second press makes the form anyway
      this.#say("paper.confirmMissing", { missing: missing.map((k) => t(k)).join(t("paper.listSeparator")) });
      this.el.makeForm.textContent = t("paper.showFormAnyway");
      return;
    }
    await whileBusy(this.el.makeForm, t("paper.makingForm"), async () => {
      try {
        const sign = await call(this.token(), "POST", `/api/sessions/${this.sessionId}/form`);
        this.#showPreview(sign.form);
        this.#say("paper.formSent");
        await this.#load(this.sessionId);
      } catch (err) {
        this.#say("", {}, err.message);
      }
    });
    this.el.makeForm.textContent = t("paper.showForm");
  }

  async #showPreview(form) {
    const path = new URL(form.url, window.location.href).pathname.replace(/\.pdf$/, ".png");
    const response = await fetch(path, { headers: { Authorization: `Bearer ${this.token()}` } });
    if (!response.ok) return;
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = URL.createObjectURL(await response.blob());
    this.el.preview.src = this.previewUrl;
    this.el.preview.dataset.sha256 = form.sha256;
    this.el.preview.hidden = false;
  }

  async #decide(sessionId, outcome, reason, button, where = this.el.message) {
    if (!sessionId) return;
    const say = (key, params = {}, text = null) => this.#say(key, params, text, where);
    if (!reason.trim()) {
      say("paper.reasonNeeded");
      return;
    }
    // sealing the result takes seconds: the button says so and cannot be pressed again
    say("paper.deciding");
    await whileBusy(button, t("paper.deciding"), async () => {
      try {
        const view = await call(this.token(), "POST", `/api/sessions/${sessionId}/decision`, {
          outcome,
          reason: reason.trim().slice(0, 1000),
        });
        if (sessionId === this.sessionId) {
          this.application = view;
          this.el.reason.value = "";
        }
        say(`paper.decided.${view.state}`);
        this.#renderApplication();
        this.refreshPending();
      } catch (err) {
        say("", {}, err.message);
      }
    });
  }

  async #print(docId, button) {
    await whileBusy(button, t("paper.printing"), async () => {
      try {
        await call(this.token(), "POST", `/api/sessions/${this.sessionId}/print`, { doc_id: docId });
        this.#say("paper.printSent");
      } catch (err) {
        this.#say("", {}, err.message);
      }
    });
  }

  #renderApplication() {
    const app = this.application;
    const state = app ? app.state : "none";
    this.el.state.dataset.state = state;
    const number = app && app.acceptance_number ? ` · ${t("paper.number")} ${app.acceptance_number}` : "";
    this.el.state.textContent = `${t(`paper.state.${state}`)}${number}`;
    this.#renderPayment(app);
    this.el.decision.hidden = !(state === "submitted" || state === "awaiting_second_approval");
    // a new form only before signing, or when the applicant brings more materials
    this.el.makeForm.hidden = !["none", "form_shown", "returned"].includes(state);
    const items = (app ? app.documents : [])
      .filter((d) => d.kind !== "form")
      .map((d) => {
        const li = this.doc.createElement("li");
        const label = this.doc.createElement("span");
        label.textContent = `${t(`paper.kind.${d.kind}`)} · ${d.sha256.slice(0, 12)}…`;
        const button = this.doc.createElement("button");
        button.type = "button";
        button.className = "btn btn-secondary";
        button.dataset.testid = `paper-print-${d.kind}`;
        button.textContent = t("paper.print");
        button.addEventListener("click", () => this.#print(d.doc_id, button));
        li.append(label, " ", button);
        return li;
      });
    this.el.docs.replaceChildren(...items, ...followLines(this.doc, app));
  }

  /** The service's fee and where its latest payment order stands (paid, refunded, ...). */
  #renderPayment(app) {
    const el = this.el.payment;
    el.hidden = !(app && app.fee);
    if (el.hidden) return;
    const pay = app.payments.length ? app.payments[app.payments.length - 1] : null;
    const state = pay ? pay.state : "due";
    el.dataset.state = state;
    const refs = pay ? [pay.provider_order_id, pay.transaction_id, pay.refund_id].filter(Boolean) : [];
    const tail = refs.length ? ` · ${refs.join(" / ")}` : "";
    el.textContent = `${t("paper.fee", { amount: app.fee })} · ${t(`paper.pay.${state}`)}${tail}`;
  }

  #renderPending() {
    const items = this.pending.map((app) => {
      const li = this.doc.createElement("li");
      li.dataset.testid = `pending-${app.session_id}`;
      const title = this.doc.createElement("p");
      title.textContent = `${app.acceptance_number || ""} · ${app.service_id} · ${t(`paper.state.${app.state}`)}`;
      const select = this.doc.createElement("select");
      select.dataset.testid = "pending-outcome";
      for (const outcome of OUTCOMES) {
        const option = this.doc.createElement("option");
        option.value = outcome;
        option.textContent = t(`paper.outcome.${outcome}`);
        select.append(option);
      }
      const reason = this.doc.createElement("input");
      reason.dataset.testid = "pending-reason";
      reason.maxLength = 1000;
      reason.placeholder = t("paper.reason");
      const button = this.doc.createElement("button");
      button.type = "button";
      button.className = "btn btn-primary";
      button.dataset.testid = "pending-decide";
      button.textContent = t("paper.decide");
      button.addEventListener("click", () =>
        this.#decide(app.session_id, select.value, reason.value, button, this.el.pendingMessage),
      );
      // a stale "please write a reason" goes as soon as one is written
      reason.addEventListener("input", () => {
        if (this.el.pendingMessage.dataset.key === "paper.reasonNeeded") this.#say("", {}, null, this.el.pendingMessage);
      });
      const follow = this.doc.createElement("ul"); // materials to follow, and what they allow
      follow.replaceChildren(...followLines(this.doc, app, "pending-follow"));
      li.append(title, follow, select, " ", reason, " ", button);
      return li;
    });
    if (!items.length) {
      const li = this.doc.createElement("li");
      li.textContent = t("paper.noPending");
      items.push(li);
    }
    this.el.pendingList.replaceChildren(...items);
  }
}
