// Handing the call on (blind transfer): the clerk picks a department, and maybe one of its
// clerks signed in now, and sends ``transfer``. The server puts the applicant back in the
// line in their old place with everything the call gathered; this console's call ends as
// after a hang-up (``call_transferred`` says to whom, main.js shows it).
//
// The list comes from GET /api/transfer-targets with the clerk's token; it only offers clerks
// who serve the chosen department (the server checks again and refuses with a reason).

import { whileBusy } from "./busy.js";
import { language, localized, t } from "./i18n.js";
import { EVENTS } from "./protocol.js";
import { errorSentence } from "./server-errors.js";

export class TransferPanel {
  /** ``tokenOf()`` gives the clerk's token; ``send(event, payload)`` sends on the socket. */
  constructor(doc, tokenOf, send, consult) {
    this.tokenOf = tokenOf;
    this.send = send;
    this.consult = consult; // (sessionId, clerk, departmentId): ask them first (consult.js)
    this.sessionId = null;
    this.departmentId = null; // the call's own department, the form's first choice
    this.targets = null; // {departments: [{id, names}], clerks: [{username, display_name, departments, state}]}
    this.pending = null; // the session a transfer was sent for, until the server answers
    const $ = (id) => doc.getElementById(id);
    this.el = {
      open: $("transfer-open"),
      form: $("transfer-form"),
      department: $("transfer-department"),
      clerk: $("transfer-clerk"),
      submit: $("transfer-submit"),
      consultButton: $("transfer-consult"),
      cancel: $("transfer-cancel"),
      error: $("transfer-error"),
    };
    this.el.open.addEventListener("click", () =>
      whileBusy(this.el.open, t("transfer.loading"), () => this.#open()),
    );
    this.el.cancel.addEventListener("click", () => this.#close());
    this.el.department.addEventListener("change", () => this.#fillClerks());
    this.el.clerk.addEventListener("change", () => this.#label());
    this.el.consultButton.addEventListener("click", () => this.#askFirst());
    this.el.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#submit();
    });
  }

  /** Follow the call in progress (``info``: the console's callInfo, or null). */
  render(info, consulting = false) {
    const sessionId = info ? info.sessionId : null;
    if (sessionId !== this.sessionId) {
      this.sessionId = sessionId;
      this.departmentId = info ? info.departmentId : null;
      this.pending = null;
      this.#close();
    }
    // a consultation under way (either side) is finished in its own bar (consult.js)
    if (consulting && !this.el.form.hidden) this.#close();
    if (consulting) this.pending = null;
    this.el.open.hidden = !info || Boolean(info.consult) || consulting;
    this.el.open.disabled = !info || info.hangingUp || !this.el.form.hidden;
    this.el.submit.disabled = this.pending !== null;
    this.el.consultButton.disabled = this.pending !== null || !this.el.clerk.value;
    if (!this.el.form.hidden && this.targets) this.#label();
  }

  /** The server refused the transfer: say why in the form, which stays open. */
  refused(error) {
    this.pending = null;
    this.el.submit.disabled = false;
    this.el.consultButton.disabled = !this.el.clerk.value;
    this.el.submit.textContent = t("transfer.submit");
    this.#showError(errorSentence(error, language()) ?? error.message);
  }

  async #open() {
    const token = this.tokenOf();
    this.#showError(null);
    let response = null;
    try {
      response = await fetch("/api/transfer-targets", {
        headers: { Authorization: `Bearer ${token}` },
        cache: "no-store",
        credentials: "same-origin",
      });
    } catch {
      response = null;
    }
    if (!response || !response.ok) {
      this.el.form.hidden = false;
      this.#showError(t("transfer.loadFailed"));
      return;
    }
    this.targets = await response.json();
    this.el.department.replaceChildren(
      ...this.targets.departments.map((d) => {
        const option = new Option(localized(d.names), d.id);
        option.selected = d.id === this.departmentId;
        return option;
      }),
    );
    this.#fillClerks();
    this.el.form.hidden = false;
    this.el.open.disabled = true;
    this.el.department.focus();
  }

  #fillClerks() {
    const department = this.el.department.value;
    const clerks = (this.targets ? this.targets.clerks : []).filter((c) => c.departments.includes(department));
    this.el.clerk.replaceChildren(
      new Option(t("transfer.anyone"), ""),
      ...clerks.map((c) => {
        const option = new Option("", c.username);
        option.dataset.name = c.display_name;
        option.dataset.state = c.state;
        return option;
      }),
    );
    this.#label();
  }

  /** The clerks' options in the UI language (their state changes words with it). */
  #label() {
    for (const option of this.el.clerk.options) {
      if (!option.value) option.textContent = t("transfer.anyone");
      else option.textContent = t("transfer.clerkOption", { name: option.dataset.name, state: t(`state.${option.dataset.state}`) });
    }
    // only a free clerk can be asked first; anyone named can be sent the call
    const chosen = this.el.clerk.selectedOptions[0];
    const free = chosen && chosen.value && chosen.dataset.state === "available";
    this.el.consultButton.disabled = this.pending !== null || !free;
  }

  #submit() {
    if (!this.sessionId || this.pending) return;
    const payload = { session_id: this.sessionId, department_id: this.el.department.value };
    if (this.el.clerk.value) payload.clerk = this.el.clerk.value;
    this.pending = this.sessionId;
    this.el.submit.disabled = true;
    this.el.submit.textContent = t("transfer.sending");
    this.#showError(null);
    this.send(EVENTS.TRANSFER, payload);
  }

  /** Talk to the chosen clerk first (a warm transfer): the applicant holds meanwhile. */
  #askFirst() {
    if (!this.sessionId || this.pending || !this.el.clerk.value) return;
    this.pending = this.sessionId;
    this.el.consultButton.disabled = true;
    this.#showError(null);
    this.consult(this.sessionId, this.el.clerk.value, this.el.department.value);
  }

  #close() {
    this.el.form.hidden = true;
    this.el.submit.textContent = t("transfer.submit");
    this.#showError(null);
  }

  #showError(text) {
    this.el.error.hidden = !text;
    this.el.error.textContent = text || "";
  }
}
