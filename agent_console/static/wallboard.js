// The wallboard: signs in as a supervisor (or reuses the supervisor console's sign-in on this
// browser), then holds /api/wallboard/stream open and draws every view the server pushes.
// Nothing is polled: the server sends a view when something changes; between views only
// the clock and the longest wait count on here. ?department=ID shows one department's board,
// ?lang=en or ?lang=zh-Hans the language (kept for the next visit).

import { forgetSession, keepFresh, loadSession, postLogin, startSession } from "./supervisor-session.js";

const LANG_KEY = "vcounter.wallboard.lang";
const LANGUAGES = ["zh-Hans", "en"];

export const WALLBOARD_TEXT = Object.freeze({
  "zh-Hans": {
    title: "远程视频柜台",
    "login.heading": "主管登录",
    "login.hint": "大屏由主管账号登录后显示。",
    "login.username": "用户名",
    "login.password": "密码",
    "login.submit": "登录",
    "login.bad": "用户名或密码错误。",
    "login.notSupervisor": "此账号不是主管账号,不能打开大屏。",
    "login.expired": "登录已过期,请重新登录。",
    "error.network": "无法连接服务器,请检查网络。",
    "error.refused": "服务器拒绝了请求:{message}",
    "tile.waiting": "等待人数",
    "tile.longest": "最长等待",
    "tile.calls": "通话中",
    "tile.level": "今日 {target} 秒内接听",
    "level.sub": "已接听 {answered} · 放弃 {abandoned}",
    "level.none": "今日尚无",
    "clerk.available": "空闲",
    "clerk.busy": "通话中",
    "clerk.ringing": "振铃",
    "clerk.away": "暂离",
    "col.service": "办理事项",
    "col.waiting": "等待",
    "col.longest": "最长等待",
    "queues.empty": "目前无人排队。",
    "queues.more": "另有 {services} 项事项,共 {waiting} 人等待",
    "link.live": "● 实时",
    "link.connecting": "连接中…",
    "link.lost": "● 连接中断,正在重连…",
    "all": "全部部门",
  },
  en: {
    title: "Remote Video Counter",
    "login.heading": "Supervisor sign-in",
    "login.hint": "The wallboard shows once a supervisor signs in.",
    "login.username": "Username",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.bad": "Wrong username or password.",
    "login.notSupervisor": "This account is not a supervisor's; it cannot open the wallboard.",
    "login.expired": "Your sign-in has expired; please sign in again.",
    "error.network": "Cannot reach the server; check the network.",
    "error.refused": "The server refused: {message}",
    "tile.waiting": "Waiting",
    "tile.longest": "Longest wait",
    "tile.calls": "Calls in progress",
    "tile.level": "Answered within {target} s, today",
    "level.sub": "answered {answered} · abandoned {abandoned}",
    "level.none": "none yet today",
    "clerk.available": "available",
    "clerk.busy": "in a call",
    "clerk.ringing": "ringing",
    "clerk.away": "away",
    "col.service": "Service",
    "col.waiting": "Waiting",
    "col.longest": "Longest wait",
    "queues.empty": "Nobody is waiting.",
    "queues.more": "{services} more services, {waiting} waiting",
    "link.live": "● live",
    "link.connecting": "connecting…",
    "link.lost": "● connection lost, reconnecting…",
    "all": "All departments",
  },
});

const $ = (id) => document.getElementById(id);

function pickLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (LANGUAGES.includes(asked)) {
    localStorage.setItem(LANG_KEY, asked);
    return asked;
  }
  const kept = localStorage.getItem(LANG_KEY);
  return LANGUAGES.includes(kept) ? kept : "zh-Hans";
}

let lang = pickLanguage();

function wt(key, params = {}) {
  const text = WALLBOARD_TEXT[lang][key];
  if (text === undefined) throw new Error(`no wallboard text for "${key}"`);
  return text.replace(/\{(\w+)\}/g, (whole, name) => (Object.hasOwn(params, name) ? String(params[name]) : whole));
}

// 75 -> "1:15", 3700 -> "1:01:40": minutes and seconds read from across a room
export function clockText(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

class Wallboard {
  constructor() {
    this.session = loadSession();
    this.department = new URLSearchParams(location.search).get("department") || "";
    this.view = null;
    this.receivedAt = 0;
    this.abort = null;
    this.retryMs = 1000;
  }

  start() {
    for (const b of document.querySelectorAll(".wb-lang")) {
      b.addEventListener("click", () => {
        lang = b.dataset.lang;
        localStorage.setItem(LANG_KEY, lang);
        this.translate();
      });
    }
    $("wb-login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.login($("wb-username").value.trim(), $("wb-password").value);
    });
    // enabled once bound: without this script the browser would send the form itself, the
    // password in a request nothing answers
    $("wb-login-form").querySelector("[type=submit]").disabled = false;
    this.translate();
    setInterval(() => this.tick(), 1000);
    this.tick();
    if (this.session) this.enter();
    else this.showLogin();
  }

  translate() {
    document.documentElement.lang = lang;
    document.title = `${wt("title")} · Wallboard`;
    for (const el of document.querySelectorAll("[data-wt]")) el.textContent = wt(el.dataset.wt);
    for (const b of document.querySelectorAll(".wb-lang")) b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
    this.showLink(this.linkState || "connecting");
    if (this.view) this.render(this.view);
  }

  showError(text) {
    $("wb-error").textContent = text;
    $("wb-error").hidden = !text;
  }

  showLogin(message = "") {
    $("wb-login").hidden = false;
    $("wb-board").hidden = true;
    this.showError(message);
  }

  async login(username, password) {
    this.showError("");
    let response;
    let body;
    try {
      ({ response, body } = await postLogin(username, password));
    } catch {
      this.showError(wt("error.network"));
      return;
    }
    if (!response.ok) {
      const message = (body && body.message) || `HTTP ${response.status}`;
      this.showError(response.status === 401 ? wt("login.bad") : wt("error.refused", { message }));
      return;
    }
    if (body.role !== "supervisor") {
      this.showError(wt("login.notSupervisor"));
      return;
    }
    this.session = startSession(body);
    $("wb-password").value = "";
    this.enter();
  }

  enter() {
    $("wb-login").hidden = true;
    $("wb-board").hidden = false;
    keepFresh(() => this.session);
    this.follow();
  }

  signOut(message) {
    forgetSession();
    this.session = null;
    if (this.abort) this.abort.abort();
    this.showLogin(message);
  }

  showLink(state) {
    this.linkState = state;
    const link = $("wb-link");
    link.dataset.state = state;
    link.textContent = wt(`link.${state}`);
  }

  // Hold the stream open; when it ends (a restart, the network, the server's periodic
  // re-check of the sign-in) open it again, waiting a little longer after each failure.
  async follow() {
    while (this.session) {
      const session = this.session;
      this.abort = new AbortController();
      const query = this.department ? `?department=${encodeURIComponent(this.department)}` : "";
      try {
        const response = await fetch(`/api/wallboard/stream${query}`, {
          headers: { Authorization: `Bearer ${session.token}`, Accept: "text/event-stream" },
          cache: "no-store",
          signal: this.abort.signal,
        });
        if (response.status === 401) {
          this.signOut(wt("login.expired"));
          return;
        }
        if (!response.ok) {
          const body = await response.json().catch(() => null);
          this.showLogin(wt("error.refused", { message: (body && body.message) || `HTTP ${response.status}` }));
          return;
        }
        await this.read(response.body.getReader());
      } catch (err) {
        // a dropped stream (a restart, the network) is expected: open it again below
        if (err && err.name === "AbortError" && !this.session) return;
      }
      this.showLink("lost");
      await new Promise((r) => setTimeout(r, this.retryMs));
      this.retryMs = Math.min(this.retryMs * 2, 10000);
    }
  }

  async read(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data: "))
          .map((line) => line.slice(6))
          .join("\n");
        if (!data) continue; // a keep-alive comment
        this.retryMs = 1000;
        this.showLink("live");
        this.view = JSON.parse(data);
        this.receivedAt = Date.now();
        try {
          this.render(this.view);
        } catch (err) {
          // a bug in drawing must show, not pass for a dropped stream
          console.error("wallboard: cannot draw the view:", err);
        }
      }
    }
  }

  // the server's clock now, as far as this page can tell (the view says when it was made)
  serverNow() {
    return Date.parse(this.view.generated_at) + (Date.now() - this.receivedAt);
  }

  waitedText(since) {
    return since ? clockText((this.serverNow() - Date.parse(since)) / 1000) : "–";
  }

  tick() {
    const now = new Date();
    $("wb-clock").textContent = now.toLocaleTimeString(lang === "en" ? "en-GB" : "zh-CN", { hour: "2-digit", minute: "2-digit" });
    if (!this.view) return;
    $("wb-longest").textContent = this.waitedText(this.view.oldest_enqueued_at);
    for (const cell of document.querySelectorAll("[data-since]")) cell.textContent = this.waitedText(cell.dataset.since);
  }

  render(view) {
    document.body.dataset.generatedAt = view.generated_at;
    $("wb-department").textContent = view.department_name ? view.department_name[lang] : wt("all");
    $("wb-waiting").textContent = String(view.waiting);
    $("wb-calls").textContent = String(view.calls_in_progress);
    $("wb-level-label").textContent = wt("tile.level", { target: view.target_s });
    const level = $("wb-level");
    if (view.within_target_rate === null) {
      level.textContent = "–";
      level.dataset.level = "";
      $("wb-level-sub").textContent = wt("level.none");
    } else {
      const pct = Math.round(view.within_target_rate * 100);
      level.textContent = `${pct}%`;
      level.dataset.level = pct >= 80 ? "good" : pct >= 60 ? "warn" : "bad";
      $("wb-level-sub").textContent = wt("level.sub", { answered: view.answered_today, abandoned: view.abandoned_today });
    }
    for (const state of ["available", "busy", "ringing", "away"]) $(`wb-c-${state}`).textContent = String(view.clerks[state]);
    this.renderQueues(view.queues);
    this.tick();
  }

  renderQueues(queues) {
    const body = $("wb-rows");
    body.replaceChildren();
    $("wb-empty").hidden = queues.length > 0;
    for (const q of queues) body.append(this.row(q.service_name[lang], String(q.waiting), q.oldest_enqueued_at));
    // as many lines as the screen holds; the rest summed up in one last line
    const limit = window.innerHeight * 0.98;
    const fits = () => $("wb-queues").getBoundingClientRect().bottom <= limit;
    if (fits()) return;
    const more = this.row("", "", null);
    more.classList.add("wb-more");
    more.dataset.testid = "wb-more";
    body.append(more);
    let shown = queues.length;
    do {
      more.previousElementSibling.remove();
      shown -= 1;
      const rest = queues.slice(shown);
      const waiting = rest.reduce((n, q) => n + q.waiting, 0);
      more.cells[0].textContent = wt("queues.more", { services: rest.length, waiting });
    } while (shown > 0 && !fits());
  }

  row(name, waiting, since) {
    const tr = document.createElement("tr");
    tr.dataset.testid = "wb-row";
    const a = document.createElement("td");
    a.textContent = name;
    const b = document.createElement("td");
    b.className = "num";
    b.textContent = waiting;
    const c = document.createElement("td");
    c.className = "num";
    if (since) c.dataset.since = since;
    tr.append(a, b, c);
    return tr;
  }
}

new Wallboard().start();
