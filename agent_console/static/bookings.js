// The day's appointments of the signed-in clerk's (or supervisor's) departments
// (GET /api/appointments/day): time, service, booking number, the name masked to its first
// letters, and the state (booked, checked in, in call, done, no-show, cancelled). One panel
// for both consoles: each passes how it fetches and its own words (t) and names (localized).

import { language } from "./i18n.js";
import { errorSentence } from "./server-errors.js";

const REFRESH_MS = 30000;

/** The day's bookings (``day`` YYYY-MM-DD, or null: today) with ``token``; an Error with a
 *  sentence in the page's language (``text``: its words) when refused or unreachable. */
export async function fetchDay(day, token, text) {
  const path = day ? `/api/appointments/day?date=${encodeURIComponent(day)}` : "/api/appointments/day";
  let response;
  try {
    response = await fetch(path, { headers: { Authorization: `Bearer ${token}`, Accept: "application/json" }, cache: "no-store" });
  } catch {
    throw new Error(text("error.network"));
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) throw new Error(errorSentence(body, language()) ?? `HTTP ${response.status}`);
  return body;
}

function make(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}

export class BookingsPanel {
  /**
   * @param {HTMLElement} root the panel's (empty) section
   * @param {object} how load(day or null: today) -> DayBookings (throws an Error with a sentence),
   *   text(key, params), localized(names)
   */
  constructor(root, how) {
    this.root = root;
    this.how = how;
    this.day = null; // the server's today (on the departments' clock) until one is picked
    this.body = null;
    this.error = "";
    this.timer = null;
    this.generation = 0;
    this.el = {
      heading: make("h2"),
      intro: make("p", { className: "hint" }),
      dayLabel: make("span"),
      day: make("input", { type: "date" }),
      refresh: make("button", { type: "button", className: "btn" }),
      summary: make("p", { className: "hint" }),
      error: make("p", { className: "callbacks-error", hidden: true }),
      table: make("table", { className: "sup-table bookings-table" }),
      empty: make("p", { className: "hint", hidden: true }),
    };
    this.el.day.dataset.testid = "bookings-day";
    this.el.refresh.dataset.testid = "bookings-refresh";
    this.el.summary.dataset.testid = "bookings-summary";
    this.el.error.dataset.testid = "bookings-error";
    this.el.error.setAttribute("role", "alert");
    this.el.table.dataset.testid = "bookings-table";
    this.el.empty.dataset.testid = "bookings-empty";
    const form = make("div", { className: "bookings-day" }, make("label", {}, this.el.dayLabel, " ", this.el.day), this.el.refresh);
    root.replaceChildren(this.el.heading, this.el.intro, form, this.el.summary, this.el.error, this.el.table, this.el.empty);
    this.el.day.addEventListener("change", () => {
      this.day = this.el.day.value || null;
      this.refresh();
    });
    this.el.refresh.addEventListener("click", () => this.refresh());
    this.render();
  }

  /** List the day again now, and every half minute while the console is open. */
  async refresh() {
    clearInterval(this.timer);
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
    const generation = ++this.generation;
    try {
      const body = await this.how.load(this.day);
      if (generation !== this.generation) return; // a newer list is on its way
      this.body = body;
      this.day = body.date;
      this.el.day.value = body.date;
      this.error = "";
    } catch (err) {
      if (generation !== this.generation) return;
      this.error = err.message;
    }
    this.render();
  }

  /** Signed out: forget the list and stop asking. */
  clear() {
    clearInterval(this.timer);
    this.timer = null;
    this.generation += 1;
    this.body = null;
    this.render();
  }

  render() {
    const t = this.how.text;
    this.el.heading.textContent = t("bookings.heading");
    this.el.intro.textContent = t("bookings.intro");
    this.el.dayLabel.textContent = t("bookings.day");
    this.el.refresh.textContent = t("bookings.refresh");
    this.el.error.textContent = this.error;
    this.el.error.hidden = !this.error;
    const rows = this.body ? this.body.bookings : [];
    this.el.summary.textContent = this.body ? t("bookings.count", { count: rows.length, zone: this.body.zone_label }) : "";
    this.el.empty.textContent = t("bookings.empty");
    this.el.empty.hidden = !this.body || rows.length > 0;
    this.el.table.hidden = rows.length === 0;
    const head = make("tr", {}, ...["time", "service", "number", "name", "state"].map((c) => make("th", {}, t(`bookings.col.${c}`))));
    const lines = rows.map((b) => {
      const state = t(`bookings.state.${b.state}`) + (b.late ? ` (${t("bookings.late")})` : "");
      const row = make("tr", {},
        make("td", {}, b.local_time), make("td", {}, this.how.localized(b.service_names)),
        make("td", {}, b.number), make("td", {}, b.name), make("td", { className: `booking-${b.state}` }, state));
      row.dataset.testid = "booking-row";
      row.dataset.number = b.number;
      row.dataset.state = b.state;
      return row;
    });
    this.el.table.replaceChildren(make("thead", {}, head), make("tbody", {}, ...lines));
  }
}
