// Supervisor console: live queues and clerks, service-level figures, search and replay.
// Everything comes from /api/supervisor/* with the supervisor's token; the server logs
// each action. The replay plays both recorded sides on one clock (seconds since the
// recording's t0, which is also what the WebM timestamps count), so an event at t seeks
// both videos to t.

import { duration, initLanguage, language, localized, setLanguage } from "./i18n.js";
import { errorSentence } from "./server-errors.js";
import { actorText, eventText } from "./supervisor-timeline.js";
import { forgetSession, keepFresh, loadSession, postLogin, startSession } from "./supervisor-session.js";
import { SUPERVISOR_TEXT } from "./supervisor-text.js";
import { MonitorView } from "./monitor-view.js";
import { SkillsPanel } from "./supervisor-skills.js";
import { BookingsPanel, fetchDay } from "./bookings.js";
import { PlacesPanel } from "./supervisor-places.js";
import { ComplaintsPanel } from "./supervisor-complaints.js";

const LIVE_POLL_MS = 1000;
const DRIFT_S = 0.2;
const SIDES = ["applicant", "clerk", "document"];

const $ = (id) => document.getElementById(id);

function has(key) {
  return Object.hasOwn(SUPERVISOR_TEXT[language()] ?? {}, key);
}

/** A refused request in the page's language: its code's sentence, else the server's. */
function refusal(body, status) {
  return errorSentence(body, language()) ?? st("error.server", { message: `HTTP ${status}` });
}

function st(key, params = {}) {
  const text = SUPERVISOR_TEXT[language()]?.[key] ?? SUPERVISOR_TEXT["zh-Hans"][key];
  if (text === undefined) throw new Error(`no supervisor text for "${key}"`);
  return text.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.hasOwn(params, name) ? String(params[name]) : whole,
  );
}

function translate() {
  document.documentElement.lang = language();
  for (const el of document.querySelectorAll("[data-st]")) el.textContent = st(el.dataset.st);
  for (const b of document.querySelectorAll(".lang-button")) {
    b.setAttribute("aria-pressed", String(b.dataset.lang === language()));
  }
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

function when(iso) {
  const locales = { en: "en-GB", "zh-Hant": "zh-HK", "zh-Hans": "zh-CN" };
  return new Date(iso).toLocaleString(locales[language()] ?? "zh-CN");
}

/** An away reason in the page's language (one the page has no words for: its id). */
function reasonName(id) {
  return has(`away.reason.${id}`) ? st(`away.reason.${id}`) : id;
}

function pct(rate) {
  return rate === null ? "–" : `${(rate * 100).toFixed(1)} %`;
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function isoDay(date) {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 10);
}

class SupervisorApp {
  constructor() {
    this.session = loadSession();
    this.services = new Map();
    this.departments = new Map();
    this.pollTimer = null;
    this.replay = null;
    this.monitor = new MonitorView(document, () => (this.session ? this.session.token : null), st);
    this.skills = new SkillsPanel({
      api: (path, options) => this.api(path, options),
      st,
      names: {
        service: (id) => this.serviceName(id),
        department: (id) => {
          const d = this.departments.get(id);
          return d ? localized(d.names) : id;
        },
        services: () => [...this.services.values()].map((s) => [s.id, s.department_id]),
      },
      failed: (err) => this.#failed(err),
      showError: (text) => this.showError(text),
    });
    this.bookings = new BookingsPanel($("tab-bookings"), {
      load: (day) => fetchDay(day, this.session ? this.session.token : null, st),
      text: st,
      localized,
    });
    this.places = new PlacesPanel({
      api: (path, options) => this.api(path, options),
      st,
      localized,
      serviceName: (id) => this.serviceName(id),
      failed: (err) => this.#failed(err),
    });
    this.complaints = new ComplaintsPanel({
      api: (path, options) => this.api(path, options),
      st,
      token: () => (this.session ? this.session.token : null),
      shown: () => this.tab === "complaints" && this.replay === null,
      names: { service: (id) => this.serviceName(id) },
      when,
      failed: (err) => this.#failed(err),
    });
  }

  async start() {
    initLanguage();
    translate();
    this.#bind();
    await this.#loadCatalogue();
    if (this.session) this.#enter();
    else this.#showLogin();
  }

  #bind() {
    for (const b of document.querySelectorAll(".lang-button")) {
      b.addEventListener("click", () => {
        setLanguage(b.dataset.lang);
        translate();
        this.monitor.translate();
        this.#fillServices();
        // every table on the page is drawn again in the new language
        if (this.lastOverview) this.#renderOverview(this.lastOverview);
        if (this.lastFigures) this.#renderFigures(this.lastFigures);
        if (this.lastWork) this.#renderWork(this.lastWork);
        if (this.lastSearch) this.#renderSearch(this.lastSearch);
        if (this.replay) this.#renderReplay(this.replay.view);
        this.skills.render();
        this.bookings.render();
        this.places.render();
        this.complaints.render();
      });
    }
    $("login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.login($("login-username").value.trim(), $("login-password").value);
    });
    // enabled once bound: without this script the browser would send the form itself, the
    // password in a request nothing answers
    $("login-form").querySelector("[type=submit]").disabled = false;
    $("signout").addEventListener("click", () => this.signOut());
    this.skills.bind();
    this.places.bind();
    this.complaints.bind();
    for (const tab of document.querySelectorAll(".sup-tab")) {
      tab.addEventListener("click", () => this.showTab(tab.dataset.tab));
    }
    $("figures-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.loadFigures();
    });
    $("search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.search();
    });
    $("replay-close").addEventListener("click", () => {
      history.pushState(null, "", "/supervisor");
      this.closeReplay();
    });
    window.addEventListener("popstate", () => this.#route());
    const today = isoDay(new Date());
    $("fig-since").value = today;
    $("fig-until").value = today;
  }

  async #loadCatalogue() {
    try {
      const response = await fetch("/api/catalogue", { cache: "no-store" });
      const catalogue = await response.json();
      for (const s of catalogue.services) this.services.set(s.id, s);
      for (const d of catalogue.departments) this.departments.set(d.id, d);
    } catch {
      this.showError(st("error.network"));
    }
    this.#fillServices();
  }

  #fillServices() {
    const select = $("q-service");
    const chosen = select.value;
    for (const opt of [...select.options].slice(1)) opt.remove();
    for (const s of this.services.values()) {
      const opt = document.createElement("option");
      opt.value = s.id;
      opt.textContent = localized(s.names);
      select.append(opt);
    }
    select.value = chosen;
  }

  serviceName(id) {
    const s = this.services.get(id);
    return s ? localized(s.names) : id;
  }

  showError(text) {
    $("error-text").textContent = text;
    $("error-banner").hidden = !text;
  }

  async api(path, { method = "GET", send = undefined } = {}) {
    let response;
    const headers = { Authorization: `Bearer ${this.session.token}`, Accept: "application/json" };
    if (send !== undefined) headers["Content-Type"] = "application/json";
    try {
      response = await fetch(path, {
        method,
        headers,
        body: send === undefined ? undefined : JSON.stringify(send),
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, st("error.network"));
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (response.status === 401) {
      this.signOut(st("login.expired"));
      throw new ApiError(401, st("login.expired"));
    }
    if (!response.ok) {
      throw new ApiError(response.status, refusal(body, response.status));
    }
    return body;
  }

  // a refused or failed request shows as a sentence; anything else is a bug and surfaces
  #failed(err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status !== 401) this.showError(err.message);
  }

  async login(username, password) {
    this.showError("");
    let response;
    let body;
    try {
      ({ response, body } = await postLogin(username, password));
    } catch {
      this.showError(st("error.network"));
      return;
    }
    if (!response.ok) {
      this.showError(response.status === 401 ? st("login.bad") : refusal(body, response.status));
      return;
    }
    if (body.role !== "supervisor") {
      this.showError(st("login.notSupervisor"));
      return;
    }
    this.session = startSession(body);
    $("login-password").value = "";
    this.#enter();
  }

  signOut(message = "") {
    this.monitor.disconnect();
    this.complaints.stop();
    forgetSession();
    this.session = null;
    clearInterval(this.pollTimer);
    this.pollTimer = null;
    this.bookings.clear();
    this.closeReplay();
    this.#showLogin();
    this.showError(message);
  }

  #showLogin() {
    $("login-view").hidden = false;
    $("app-view").hidden = true;
    $("signout").hidden = true;
  }

  #enter() {
    $("login-view").hidden = true;
    $("app-view").hidden = false;
    $("signout").hidden = false;
    keepFresh(() => this.session);
    this.#route();
  }

  #route() {
    if (!this.session) return;
    const params = new URLSearchParams(location.search);
    const id = params.get("session");
    if (id) this.openReplay(id, Number.parseFloat(params.get("t") || "0") || 0);
    else {
      this.closeReplay();
      this.showTab(this.tab || "live");
    }
  }

  showTab(name) {
    this.tab = name;
    for (const tab of document.querySelectorAll(".sup-tab")) {
      tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
    }
    for (const panel of document.querySelectorAll("[data-panel]")) {
      panel.hidden = panel.dataset.panel !== name || this.replay !== null;
    }
    clearInterval(this.pollTimer);
    this.pollTimer = null;
    if (name === "live" && this.replay === null) {
      this.monitor.prepare();
      this.refreshLive();
      this.pollTimer = setInterval(() => this.refreshLive(), LIVE_POLL_MS);
    }
    if (name === "skills" && this.replay === null) this.skills.load();
    if (name === "bookings" && this.replay === null) this.bookings.refresh();
    if (name === "places" && this.replay === null) this.places.start();
    else this.places.stop();
    if (name === "complaints" && this.replay === null) this.complaints.load();
  }

  async refreshLive() {
    try {
      const overview = await this.api("/api/supervisor/overview");
      this.lastOverview = overview;
      this.#renderOverview(overview);
      this.showError("");
    } catch (err) {
      this.#failed(err);
    }
  }

  #renderOverview(o) {
    $("live-updated").textContent = st("live.updated", { time: when(o.generated_at) });
    const queues = $("queues-body");
    queues.replaceChildren();
    for (const q of o.queues) {
      const row = document.createElement("tr");
      row.dataset.service = q.service_id;
      cell(row, localized(q.service_name));
      cell(row, String(q.waiting), "num");
      cell(row, duration(q.longest_wait_s), "num");
      cell(row, String(q.care_mode_waiting), "num");
      queues.append(row);
    }
    $("queues-empty").hidden = o.queues.length > 0;
    const waitingCalls = $("callbacks-body");
    waitingCalls.replaceChildren();
    for (const c of o.callbacks ?? []) {
      const row = document.createElement("tr");
      row.dataset.department = c.department_id;
      cell(row, localized(c.department_name));
      cell(row, String(c.open), "num");
      waitingCalls.append(row);
    }
    $("callbacks-empty").hidden = (o.callbacks ?? []).length > 0;
    const clerks = $("clerks-body");
    clerks.replaceChildren();
    for (const c of o.clerks) {
      const row = document.createElement("tr");
      row.dataset.clerk = c.username;
      cell(row, `${c.display_name} (${c.username})`);
      const said = [st(`state.${c.state}`)];
      if (c.state === "away" && c.away_reason) said.push(reasonName(c.away_reason));
      if (c.state === "wrap_up" && c.wrap_up_left_s !== null) {
        said.push(c.wrap_up_overtime ? st("live.overtime") : st("live.left", { duration: duration(c.wrap_up_left_s) }));
      }
      const stateCell = cell(row, said.join(" · "), `state-${c.state}`);
      stateCell.dataset.testid = "clerk-state";
      if (c.wrap_up_overtime) {
        row.dataset.overtime = "true";
        stateCell.classList.add("overtime");
      }
      const inState = cell(row, duration(c.in_state_s), "num");
      inState.dataset.testid = "clerk-in-state";
      cell(row, c.session_id ? c.session_id.slice(0, 8) : "–");
      clerks.append(row);
    }
    $("clerks-empty").hidden = o.clerks.length > 0;
    const sessions = $("live-sessions-body");
    sessions.replaceChildren();
    for (const s of o.sessions) {
      const row = document.createElement("tr");
      row.dataset.session = s.id;
      cell(row, s.id.slice(0, 8) + (s.care_mode ? " ♥" : ""));
      cell(row, this.serviceName(s.service_id));
      cell(row, st(`state.${s.state}`));
      cell(row, s.terminal_name);
      cell(row, s.clerk ?? "–");
      cell(row, duration(s.waited_s), "num");
      const watch = document.createElement("td");
      if (s.state === "in_call") {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "btn";
        button.dataset.testid = "monitor-open";
        button.textContent = st("monitor.open");
        button.addEventListener("click", () => this.monitor.open(s.id, s.id.slice(0, 8)));
        watch.append(button);
      }
      row.append(watch);
      sessions.append(row);
    }
    this.monitor.seen(o.sessions);
  }

  async loadFigures() {
    const since = new Date(`${$("fig-since").value}T00:00:00`);
    const until = new Date(`${$("fig-until").value}T00:00:00`);
    until.setDate(until.getDate() + 1);
    const q = new URLSearchParams({
      since: since.toISOString(),
      until: until.toISOString(),
      target_s: $("fig-target").value,
    });
    const period = new URLSearchParams({ since: since.toISOString(), until: until.toISOString() });
    try {
      this.lastFigures = await this.api(`/api/supervisor/figures?${q}`);
      this.#renderFigures(this.lastFigures);
      this.lastWork = await this.api(`/api/supervisor/work?${period}`);
      this.#renderWork(this.lastWork);
      this.showError("");
    } catch (err) {
      this.#failed(err);
    }
  }

  #renderWork(w) {
    const clerks = $("work-clerks-body");
    clerks.replaceChildren();
    for (const c of w.clerks) {
      const row = document.createElement("tr");
      row.dataset.clerk = c.username;
      cell(row, `${c.display_name} (${c.username})`);
      cell(row, duration(c.on_duty_s), "num");
      cell(row, duration(c.talk_s), "num");
      cell(row, duration(c.wrap_up_s), "num");
      const away = Object.entries(c.away_s).map(([reason, s]) => `${reasonName(reason)} ${duration(s)}`);
      cell(row, away.length ? away.join(", ") : "–");
      cell(row, String(c.calls), "num");
      cell(row, pct(c.occupancy), "num");
      clerks.append(row);
    }
    $("work-empty").hidden = w.clerks.length > 0;
    const services = $("work-services-body");
    services.replaceChildren();
    for (const s of w.services) {
      const row = document.createElement("tr");
      row.dataset.service = s.service_id;
      cell(row, s.service_name ? localized(s.service_name) : s.service_id);
      cell(row, String(s.calls), "num");
      cell(row, duration(s.average_talk_s), "num");
      cell(row, duration(s.average_wrap_up_s), "num");
      cell(row, duration(s.average_handling_s), "num");
      services.append(row);
    }
  }

  #renderFigures(f) {
    const body = $("figures-body");
    body.replaceChildren();
    for (const r of [f.total, ...f.services]) {
      const row = document.createElement("tr");
      row.dataset.service = r.service_id ?? "total";
      cell(row, r.service_id ? this.serviceName(r.service_id) : st("fig.total"));
      cell(row, String(r.requests), "num");
      cell(row, String(r.answered), "num");
      cell(row, String(r.abandoned), "num");
      cell(row, r.asa_s === null ? "–" : duration(r.asa_s), "num");
      cell(row, pct(r.abandonment_rate), "num");
      cell(row, pct(r.within_target_rate), "num");
      body.append(row);
    }
  }

  async search() {
    const q = new URLSearchParams();
    const put = (name, id) => {
      const v = $(id).value.trim();
      if (v) q.set(name, v);
    };
    put("acceptance_number", "q-acceptance");
    put("document_number", "q-document");
    put("clerk", "q-clerk");
    put("service_id", "q-service");
    put("outcome", "q-outcome");
    if ($("q-date").value) q.set("date", new Date(`${$("q-date").value}T00:00:00`).toISOString());
    try {
      this.lastSearch = await this.api(`/api/supervisor/sessions?${q}`);
      this.#renderSearch(this.lastSearch);
      this.showError("");
    } catch (err) {
      this.#failed(err);
    }
  }

  #renderSearch(found) {
    const n = found.sessions.length;
    $("search-count").textContent = found.truncated ? st("search.truncated", { n }) : st("search.count", { n });
    const body = $("results-body");
    body.replaceChildren();
    for (const s of found.sessions) {
      const row = document.createElement("tr");
      row.dataset.session = s.id;
      cell(row, when(s.created_at));
      cell(row, this.serviceName(s.service_id));
      cell(row, s.clerk ?? "–");
      cell(row, s.terminal_name);
      cell(row, this.#outcome(s));
      cell(row, s.recorded ? st("yes") : st("no"));
      const td = cell(row, "");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-quiet";
      button.dataset.testid = "replay-open";
      button.textContent = st("search.replay");
      button.addEventListener("click", () => {
        history.pushState(null, "", `/supervisor?session=${s.id}`);
        this.openReplay(s.id, 0);
      });
      td.append(button);
      body.append(row);
    }
  }

  #outcome(s) {
    // a state the page does not know yet is "other", never its code
    const key = `outcome.${s.decision ?? s.state}`;
    return has(key) ? st(key) : st("outcome.other");
  }

  // ------------------------------------------------------------------ replay

  async openReplay(id, t) {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
    let view;
    try {
      view = await this.api(`/api/supervisor/sessions/${encodeURIComponent(id)}`);
    } catch (err) {
      this.#failed(err);
      return;
    }
    this.showError("");
    for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = true;
    $("replay-view").hidden = false;
    const videos = {};
    for (const side of SIDES) {
      const video = $(`video-${side}`);
      const rec = view.recordings.find((r) => r.side === side);
      video.closest("figure").hidden = !rec;
      if (rec) {
        video.src = rec.url; // a signed, short-lived link: no token in the URL
        videos[side] = video;
      } else video.removeAttribute("src");
    }
    this.replay = { id, view, videos, end: Math.max(0, ...view.recordings.map((r) => r.end_s)) };
    $("replay-novideo").hidden = view.recordings.length > 0;
    this.#bindReplay();
    this.#renderReplay(view);
    this.seek(t);
  }

  closeReplay() {
    if (!this.replay) return;
    for (const video of Object.values(this.replay.videos)) {
      video.pause();
      video.removeAttribute("src");
      video.load();
    }
    this.replay = null;
    $("replay-view").hidden = true;
    this.showTab(this.tab || "sessions");
  }

  #bindReplay() {
    if (this.replayBound) return;
    this.replayBound = true;
    $("replay-play").addEventListener("click", () => this.togglePlay());
    $("replay-scrub").addEventListener("input", (e) => this.seek(Number(e.target.value)));
    $("replay-link").addEventListener("click", () => {
      const url = `${location.origin}/supervisor?session=${this.replay.id}&t=${this.now().toFixed(1)}`;
      navigator.clipboard?.writeText(url).catch(() => {});
      $("replay-link").dataset.url = url;
      this.showError("");
      $("replay-link").title = st("replay.linkCopied", { url });
    });
    for (const side of SIDES) {
      const video = $(`video-${side}`);
      video.addEventListener("timeupdate", () => this.#follow(video));
      video.addEventListener("ended", () => this.#updatePlayButton());
    }
  }

  master() {
    const { videos } = this.replay;
    return videos.applicant ?? videos.clerk ?? null;
  }

  now() {
    const m = this.master();
    return m ? m.currentTime : 0;
  }

  seek(t) {
    if (!this.replay) return;
    const target = Math.max(0, Math.min(t, this.replay.end || t));
    for (const video of Object.values(this.replay.videos)) video.currentTime = target;
    this.#showClock(target);
  }

  togglePlay() {
    const m = this.master();
    if (!m) return;
    const playing = !m.paused;
    for (const video of Object.values(this.replay.videos)) {
      if (playing) video.pause();
      else video.play().catch(() => {});
    }
    this.#updatePlayButton(!playing);
  }

  #updatePlayButton(playing = this.master() && !this.master().paused) {
    $("replay-play").textContent = st(playing ? "replay.pause" : "replay.play");
  }

  // the other side follows the master's clock: a few frames of drift are corrected at once
  #follow(video) {
    if (!this.replay || video !== this.master()) return;
    for (const other of Object.values(this.replay.videos)) {
      if (other === video) continue;
      if (Math.abs(other.currentTime - video.currentTime) > DRIFT_S) other.currentTime = video.currentTime;
      if (!video.paused && other.paused && !other.ended) other.play().catch(() => {});
    }
    this.#showClock(video.currentTime);
  }

  #showClock(t) {
    $("replay-clock").textContent = clock(t);
    $("replay-clock").dataset.t = t.toFixed(2);
    const scrub = $("replay-scrub");
    scrub.max = String(this.replay.end);
    scrub.value = String(t);
    for (const li of $("replay-timeline").children) {
      li.classList.toggle("current", li.dataset.t !== "" && Math.abs(Number(li.dataset.t) - t) < 0.5);
    }
  }

  #renderReplay(view) {
    const s = view.session;
    $("replay-summary").textContent = st("replay.summary", {
      service: this.serviceName(s.service_id),
      terminal: s.terminal_name,
      clerk: s.clerk ?? "–",
      time: when(s.created_at),
      outcome: this.#outcome(s),
    });
    const chain = $("replay-chain");
    chain.className = `replay-chain ${view.chain_ok ? "ok" : "broken"}`;
    chain.textContent = view.chain_ok
      ? st("replay.chainOk", { n: view.events.length })
      : st("replay.chainBroken", { problem: view.chain_problem });
    $("replay-watched").textContent = view.watched_by.length ? st("replay.watched", { list: view.watched_by.join(", ") }) : "";
    const list = $("replay-timeline");
    list.replaceChildren();
    for (const e of view.events) {
      if (e.kind === "recording.segment") continue;
      const li = document.createElement("li");
      li.dataset.seq = String(e.seq);
      li.dataset.kind = e.kind;
      li.dataset.t = e.t_s === null ? "" : String(e.t_s);
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.testid = "timeline-event";
      const t = document.createElement("span");
      t.className = "t";
      // events a moment before the recording's first frame show as 0:00, earlier ones negative
      t.textContent = e.t_s === null ? "–" : e.t_s <= -1 ? `-${clock(-e.t_s)}` : clock(Math.max(0, e.t_s));
      const what = document.createElement("span");
      what.textContent = `${eventText(e, st, has)} · ${actorText(e.actor, st, has)}`;
      button.append(t, what);
      button.addEventListener("click", () => {
        if (e.t_s !== null) this.seek(Math.max(0, e.t_s));
      });
      li.append(button);
      for (const digest of e.files) {
        if (e.kind === "recording.segment") continue;
        const a = document.createElement("a");
        const link = view.file_links?.[digest];
        if (!link) continue;
        a.href = link; // signed and short-lived: no token in the URL
        a.target = "_blank";
        a.rel = "noopener";
        a.textContent = `${st("replay.open")} ${digest.slice(0, 12)}…`;
        li.append(a);
      }
      list.append(li);
    }
  }
}

const app = new SupervisorApp();
window.vcounterSupervisor = app;
app.start();
