// The supervisor's Complaints tab: the tickets of their departments (GET
// /api/supervisor/complaints), soonest due first and overdue marked; a ticket chosen shows what
// the applicant wrote, and is assigned, answered and closed (POST .../{number}/assign, /answer,
// /close), or reopened once closed (/reopen). The server tells the page of every change (``complaints_changed`` on the
// /supervisor socket), so the list stays current while the tab is open.

import { io } from "/vendor/socket.io/socket.io.esm.min.js";

const $ = (id) => document.getElementById(id);

export class ComplaintsPanel {
  /**
   * @param {object} page what the panel needs of the supervisor page: api(path, options),
   *   st(key, params), token(), shown() (the tab is on screen), names ({service(id)}),
   *   when(iso), failed(err)
   */
  constructor(page) {
    this.page = page;
    this.view = null; // GET /api/supervisor/complaints
    this.chosen = null; // number
    this.socket = null;
  }

  bind() {
    $("complaints-state").addEventListener("change", () => this.load());
    $("complaints-body").addEventListener("click", (e) => {
      const row = e.target.closest("tr[data-number]");
      if (row) this.#choose(row.dataset.number);
    });
    $("complaint-assign-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.#act("assign", { username: $("complaint-assignee").value }, "complaints.assignedTo");
    });
    $("complaint-answer-send").addEventListener("click", () =>
      this.#act("answer", { answer: $("complaint-answer").value }, "complaints.answerSaved"),
    );
    $("complaint-close").addEventListener("click", () => this.#act("close", {}, "complaints.closedDone"));
    $("complaint-reopen").addEventListener("click", () => this.#act("reopen", {}, "complaints.reopened"));
  }

  async load() {
    this.#listen();
    const state = $("complaints-state").value;
    try {
      this.view = await this.page.api(`/api/supervisor/complaints${state ? `?state=${state}` : ""}`);
    } catch (err) {
      this.page.failed(err);
      return;
    }
    this.render();
  }

  /** Signed out: no more news for this page. */
  stop() {
    if (this.socket) this.socket.disconnect();
    this.socket = null;
    this.view = null;
    this.chosen = null;
  }

  #listen() {
    if (this.socket) return;
    this.socket = io("/supervisor", {
      auth: (cb) => cb({ token: this.page.token() }),
      transports: ["websocket"],
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
    this.socket.on("complaints_changed", () => {
      if (this.page.shown()) this.load();
    });
  }

  #ticket() {
    return this.view?.tickets.find((t) => t.number === this.chosen) ?? null;
  }

  #choose(number) {
    this.chosen = number;
    $("complaints-status").textContent = "";
    const ticket = this.#ticket();
    $("complaint-answer").value = ticket?.answer ?? "";
    this.render();
  }

  async #act(action, body, doneKey) {
    const ticket = this.#ticket();
    if (!ticket) return;
    const status = $("complaints-status");
    status.classList.remove("complaint-refused");
    try {
      const changed = await this.page.api(`/api/supervisor/complaints/${ticket.number}/${action}`, {
        method: "POST",
        send: body,
      });
      status.textContent = this.page.st(doneKey, {
        number: changed.number,
        name: changed.assigned_to ?? "",
        date: changed.due_on,
      });
    } catch (err) {
      // a refusal is said next to the form, which keeps what was typed
      if (err.status === undefined) throw err;
      status.textContent = err.message;
      status.classList.add("complaint-refused");
      return;
    }
    await this.load();
  }

  render() {
    if (!this.view) return;
    const st = this.page.st;
    const body = $("complaints-body");
    body.replaceChildren();
    $("complaints-none").hidden = this.view.tickets.length > 0;
    for (const t of this.view.tickets) {
      const row = document.createElement("tr");
      row.dataset.number = t.number;
      row.setAttribute("data-testid", "complaint-row");
      row.classList.toggle("selected", t.number === this.chosen);
      row.classList.toggle("overdue", t.overdue);
      const cells = [
        t.number,
        st(`complaints.category.${t.category}`),
        this.page.names.service(t.service_id),
        this.page.when(t.filed_at),
        t.overdue ? `${t.due_on} · ${st("complaints.overdue")}` : t.due_on,
        st(`complaints.state.${t.state}`),
        t.assigned_to ?? st("complaints.unassigned"),
      ];
      for (const text of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        row.append(td);
      }
      row.children[4].setAttribute("data-testid", "complaint-due");
      row.children[5].setAttribute("data-testid", "complaint-state");
      body.append(row);
    }
    this.#renderDetail();
  }

  #renderDetail() {
    const ticket = this.#ticket();
    $("complaint-detail").hidden = !ticket;
    if (!ticket) return;
    const st = this.page.st;
    $("complaint-detail-title").textContent = `${ticket.number} · ${st(`complaints.state.${ticket.state}`)}`;
    $("complaint-detail-text").textContent = ticket.text;
    $("complaint-detail-phone").textContent = ticket.phone ?? st("complaints.noPhone");
    $("complaint-detail-served").textContent = ticket.served_by ?? "–";
    const session = $("complaint-detail-session");
    session.textContent = ticket.session_id;
    session.href = `?session=${ticket.session_id}`;
    const select = $("complaint-assignee");
    select.replaceChildren(
      ...this.view.staff
        .filter((s) => s.departments.includes(ticket.department_id))
        .map((s) => new Option(`${s.display_name} (${s.username})`, s.username)),
    );
    if (ticket.assigned_to) select.value = ticket.assigned_to;
    const closed = ticket.state === "closed";
    for (const id of ["complaint-assignee", "complaint-answer", "complaint-answer-send", "complaint-close"]) {
      $(id).disabled = closed;
    }
    $("complaint-assign-form").querySelector("button").disabled = closed;
    $("complaint-close").hidden = closed;
    $("complaint-reopen").hidden = !closed;
  }
}
