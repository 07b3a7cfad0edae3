// The Callbacks panel: applicants who left a phone number instead of waiting. Lists the open
// tasks of the clerk's departments, oldest first (GET /api/callbacks), again whenever the
// server says one changed (``callbacks_changed``). "Take" claims one (refused while in a call,
// or when another clerk was first); the phone number comes only with a task the clerk holds.
// Then the clerk records how the call went: "no answer" puts the task back in the list.

import { whileBusy } from "./busy.js";
import { duration, language, localized, t } from "./i18n.js";
import { errorSentence } from "./server-errors.js";

export class CallbacksPanel {
  /** ``tokenOf()``: the signed-in clerk's token (or null); ``inCall()``: a call is ringing
   *  or in progress; ``notify(notice)``: a notice ({key, params}) for the console's banner. */
  constructor(doc, tokenOf, inCall, notify) {
    this.tokenOf = tokenOf;
    this.inCall = inCall;
    this.notify = notify;
    this.tasks = [];
    this.maxAttempts = 0;
    this.loaded = false;
    this.generation = 0;
    const $ = (id) => doc.getElementById(id);
    this.el = {
      root: $("callbacks-panel"),
      body: $("callbacks-body"),
      empty: $("callbacks-empty"),
      error: $("callbacks-error"),
      busy: $("callbacks-busy"),
      mine: $("callback-mine"),
      summary: $("callback-mine-summary"),
      phone: $("callback-phone"),
      attempts: $("callback-attempts"),
      note: $("callback-note"),
    };
    this.el.mine.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = this.el.mine.querySelector("[type=submit]");
      whileBusy(button, t("callbacks.recording"), () => this.#record());
    });
    this.el.body.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-reference]");
      if (button) whileBusy(button, t("callbacks.taking"), () => this.#take(button.dataset.reference));
    });
  }

  /** List the tasks again (signed in, on connecting, and at every ``callbacks_changed``). */
  async refresh() {
    if (!this.tokenOf()) return;
    const generation = ++this.generation;
    const response = await this.#fetch("/api/callbacks");
    if (generation !== this.generation) return; // a newer list is on its way
    const body = response ? await readJson(response) : null;
    if (!response || !response.ok) {
      this.#error(response ? errorSentence(body, language()) ?? t("error.unexplained") : t("error.network"));
      return;
    }
    this.tasks = body.tasks;
    this.maxAttempts = body.max_attempts;
    this.loaded = true;
    this.#error("");
    this.render();
  }

  /** Signed out: forget every task (the next clerk lists their own). */
  clear() {
    this.generation += 1;
    this.tasks = [];
    this.loaded = false;
    this.render();
  }

  render() {
    const mine = this.tasks.find((task) => task.state === "taken" && task.phone);
    const open = this.tasks.filter((task) => task.state === "open");
    const busy = this.inCall();
    this.el.busy.hidden = !busy || open.length === 0;
    this.el.empty.hidden = !this.loaded || open.length > 0;
    // redrawn every second for the waiting times: the rows are rebuilt only when the list
    // changed, so a button under the pointer stays the same button
    const shape = JSON.stringify([language(), busy, Boolean(mine), open.map((task) => [task.reference, task.attempts])]);
    if (shape === this.shape) {
      for (const row of this.el.body.children) {
        const task = open.find((item) => item.reference === row.dataset.reference);
        if (task) row.children[2].textContent = waited(task);
      }
    } else {
      this.shape = shape;
      this.el.body.replaceChildren(...open.map((task) => this.#row(task, busy || Boolean(mine))));
    }
    this.el.mine.hidden = !mine;
    if (mine) {
      if (this.el.mine.dataset.reference !== mine.reference) {
        this.el.mine.dataset.reference = mine.reference;
        this.el.mine.reset();
      }
      this.el.summary.textContent = `${t("callbacks.reference", { reference: mine.reference })} · ${localized(mine.service_name)} · ${t(`language.${mine.language}`)}`;
      this.el.phone.textContent = mine.phone;
      this.el.attempts.textContent = t("callbacks.attemptsSoFar", { n: mine.attempts, max: this.maxAttempts });
    } else {
      delete this.el.mine.dataset.reference;
    }
  }

  #row(task, disabled) {
    const row = document.createElement("tr");
    row.dataset.reference = task.reference;
    row.dataset.testid = "callback-row";
    cell(row, localized(task.service_name));
    cell(row, t(`language.${task.language}`));
    cell(row, waited(task), "num");
    cell(row, String(task.attempts), "num");
    const take = document.createElement("button");
    take.type = "button";
    take.className = "btn btn-secondary";
    take.dataset.reference = task.reference;
    take.dataset.testid = "callback-take";
    take.textContent = t("callbacks.take");
    // one task at a time, and none while a call rings or is in progress
    take.disabled = disabled;
    const action = document.createElement("td");
    action.append(take);
    row.append(action);
    return row;
  }

  async #take(reference) {
    if (this.inCall()) {
      this.#error(t("callbacks.busyHint"));
      return;
    }
    const response = await this.#fetch(`/api/callbacks/${encodeURIComponent(reference)}/take`, { method: "POST" });
    const body = response ? await readJson(response) : null;
    if (!response || !response.ok) {
      this.#error(response ? errorSentence(body, language()) ?? t("error.unexplained") : t("error.network"));
      await this.refresh();
      return;
    }
    this.tasks = [...this.tasks.filter((task) => task.reference !== reference), body];
    this.#error("");
    this.render();
  }

  async #record() {
    const reference = this.el.mine.dataset.reference;
    const chosen = this.el.mine.querySelector("input[name=callback-outcome]:checked");
    if (!reference) return;
    if (!chosen) {
      this.#error(t("callbacks.chooseOutcome"));
      return;
    }
    const response = await this.#fetch(`/api/callbacks/${encodeURIComponent(reference)}/attempt`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ outcome: chosen.value, note: this.el.note.value.trim() }),
    });
    const body = response ? await readJson(response) : null;
    if (!response || !response.ok) {
      this.#error(response ? errorSentence(body, language()) ?? t("error.unexplained") : t("error.network"));
      return;
    }
    this.#error("");
    this.notify({ key: body.state === "open" ? "callbacks.returned" : "callbacks.closed", params: { reference } });
    await this.refresh();
  }

  #error(text) {
    this.el.error.textContent = text;
    this.el.error.hidden = !text;
  }

  async #fetch(url, init = {}) {
    const token = this.tokenOf();
    if (!token) return null;
    try {
      return await fetch(url, { ...init, headers: { ...(init.headers || {}), Authorization: `Bearer ${token}` } });
    } catch {
      return null;
    }
  }
}

function waited(task) {
  return duration((Date.now() - Date.parse(task.created_at)) / 1000);
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}
