// Drawing the console: one render() from the console's state to the page, called on every
// change and once a second for the clocks. No HTML strings: text goes in via textContent.

import { duration, language, localized, maybe, t, translatePage } from "./i18n.js";
import { Phase } from "./call.js";
import { errorSentence } from "./server-errors.js";
import { renderClocks } from "./zones.js";

const IDS = [
  "login-view", "login-form", "login-username", "login-password", "login-submit",
  "console-view", "signout", "connection-banner", "connection-text",
  "error-banner", "error-text", "error-code", "error-dismiss",
  "notice-banner", "notice-text", "notice-dismiss",
  "clerk-name", "clerk-departments", "clerk-state", "clerk-state-label", "availability-toggle", "availability-hint",
  "auto-answer", "idle-panel", "idle-text",
  "incoming-call", "incoming-service", "incoming-department", "incoming-language",
  "incoming-terminal", "incoming-waited", "incoming-expiry", "incoming-expiry-row",
  "accept-call", "decline-call",
  "call-panel", "call-service", "call-peer", "call-status", "call-language", "call-department",
  "call-materials", "call-second-approval", "hangup", "local-video", "remote-video",
  "media-banner", "media-banner-text", "media-banner-link", "media-banner-countdown",
  "link-figures", "link-rtt", "link-loss", "link-bitrate", "link-fps", "weak-connection",
];

// How long "connection restored" stays on the call after the server says so.
const RESTORED_SHOWN_MS = 3000;

/**
 * Text to show, kept as a description so it can be re-translated when the language changes:
 * an i18n key, {key, params} whose params may be {key, params}, {seconds} or plain values, or
 * {serverError: {code, message}}, a refusal of the server said in the UI language.
 */
export function resolve(desc) {
  if (desc === null || desc === undefined) return "";
  if (typeof desc === "string") return t(desc);
  if (desc.serverError) return errorSentence(desc.serverError, language()) ?? t("error.unexplained");
  const params = {};
  for (const [name, value] of Object.entries(desc.params || {})) {
    if (value && typeof value === "object" && "seconds" in value) params[name] = duration(value.seconds);
    else if (value && typeof value === "object" && "key" in value) params[name] = resolve(value);
    else params[name] = value;
  }
  return t(desc.key, params);
}

/** Why a call ended, for the notice: a known reason in words, else the server's reason code. */
export function describeEnd(reason, seconds) {
  const why =
    maybe(`reason.${reason}`) !== null
      ? { key: `reason.${reason}` }
      : { key: "reason.other", params: { reason } };
  return seconds > 0
    ? { key: "ended.summary", params: { reason: why, duration: { seconds } } }
    : { key: "ended.summaryShort", params: { reason: why } };
}

/** A typed server ``error`` (or error body): its code's sentence in the UI language. */
export function describeServerError(error) {
  return { serverError: { code: error.code, message: error.message } };
}

export class View {
  constructor(doc = document) {
    this.doc = doc;
    this.el = {};
    for (const id of IDS) {
      const el = doc.getElementById(id);
      if (!el) throw new Error(`console page is missing #${id}`);
      this.el[id.replace(/-(\w)/g, (_, c) => c.toUpperCase())] = el;
    }
    this.langButtons = [...doc.querySelectorAll("[data-lang]")];
    this.listKeys = { departments: null, materials: null };
    this.baseTitle = doc.title;
  }

  /** Wire the page's controls to the console's actions. */
  bind(actions) {
    const e = this.el;
    e.loginForm.addEventListener("submit", (event) => {
      event.preventDefault();
      actions.login(e.loginUsername.value.trim(), e.loginPassword.value);
    });
    e.availabilityToggle.addEventListener("click", () => actions.toggleAvailability());
    e.autoAnswer.addEventListener("change", () => actions.setAutoAnswer(e.autoAnswer.checked));
    e.acceptCall.addEventListener("click", () => actions.accept());
    e.declineCall.addEventListener("click", () => actions.decline());
    e.hangup.addEventListener("click", () => actions.hangup());
    e.signout.addEventListener("click", () => actions.signOut());
    e.errorDismiss.addEventListener("click", () => actions.dismissError());
    e.noticeDismiss.addEventListener("click", () => actions.dismissNotice());
    for (const button of this.langButtons) {
      button.addEventListener("click", () => actions.setLanguage(button.dataset.lang));
    }
  }

  /** Re-translate the fixed text of the page (after a language switch). */
  translate() {
    translatePage(this.doc);
    this.baseTitle = t("app.title");
    this.listKeys = { departments: null, materials: null };
  }

  focusIncoming() {
    this.el.incomingCall.focus({ preventScroll: false });
  }

  /** After a call: focus back on the page itself, not on a button that does something. */
  focusMain() {
    this.doc.getElementById("main").focus({ preventScroll: true });
  }

  focusLogin(field) {
    (field === "password" ? this.el.loginPassword : this.el.loginUsername).focus();
  }

  clearPassword() {
    this.el.loginPassword.value = "";
  }

  render(m, now = performance.now()) {
    const e = this.el;
    const signedIn = m.view === "console";
    for (const button of this.langButtons) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === language()));
    }

    e.connectionBanner.hidden = !(signedIn && m.connection === "reconnecting");
    e.connectionText.textContent = t("conn.reconnecting");

    e.errorBanner.hidden = !m.error;
    e.errorText.textContent = m.error ? resolve(m.error.text) : "";
    // the code is for support staff and tests (data-code), never words for the clerk
    e.errorCode.hidden = true;
    e.errorCode.textContent = "";
    if (m.error && m.error.code) e.errorBanner.dataset.code = m.error.code;
    else delete e.errorBanner.dataset.code;
    e.noticeBanner.hidden = !m.notice;
    e.noticeText.textContent = resolve(m.notice);

    e.loginView.hidden = signedIn;
    e.consoleView.hidden = !signedIn;
    e.signout.hidden = !signedIn;
    e.loginSubmit.disabled = m.loginPending;
    e.loginSubmit.textContent = t(m.loginPending ? "login.pending" : "login.submit");
    e.loginUsername.disabled = m.loginPending;
    e.loginPassword.disabled = m.loginPending;
    // the page's layout follows the screen: sign-in, waiting for calls, or a call (console.css)
    const screen = !signedIn ? "login" : m.callInfo ? "call" : "console";
    if (this.doc.body.dataset.screen !== screen) this.doc.body.dataset.screen = screen;
    if (!signedIn) {
      this.doc.title = this.baseTitle;
      return;
    }

    const state = m.connection === "connected" ? m.clerk.state : "offline";
    e.clerkName.textContent = m.clerk.displayName;
    this.#renderDepartments(m);
    e.clerkState.dataset.state = state;
    e.clerkStateLabel.dataset.state = state;
    const reason = state === "away" && m.clerk.awayReason ? maybe(`away.reason.${m.clerk.awayReason}`) ?? m.clerk.awayReason : null;
    e.clerkStateLabel.textContent = reason ? t("state.awayBecause", { reason }) : t(`state.${state}`);
    const active = state === "available" || state === "ringing";
    const toggle = e.availabilityToggle;
    toggle.textContent = t(active ? "availability.goAway" : "availability.goAvailable");
    toggle.setAttribute("aria-pressed", String(active || state === "busy"));
    toggle.classList.toggle("btn-primary", !active);
    toggle.classList.toggle("btn-secondary", active);
    toggle.disabled = m.availabilityPending || ["busy", "consulting", "offline", "wrap_up"].includes(state);
    e.availabilityHint.hidden = state !== "busy";
    e.autoAnswer.checked = m.autoAnswer;
    e.signout.disabled = Boolean(m.callInfo);

    e.idlePanel.hidden = Boolean(m.offer || m.callInfo) || state === "wrap_up";
    const idle = { available: "idle.available", offline: "idle.offline" }[state] ?? "idle.away";
    e.idleText.textContent = t(idle);

    this.#renderOffer(m, now);
    this.#renderCall(m, now);
    renderClocks(this.doc, m, now);
    this.doc.title = m.offer ? t("title.ringing", { title: this.baseTitle }) : this.baseTitle;
  }

  #renderDepartments(m) {
    const key = `${language()}|${m.clerk.departments.join(",")}|${Boolean(m.catalogue)}`;
    if (this.listKeys.departments === key) return;
    this.listKeys.departments = key;
    const items = m.clerk.departments.map((id) => {
      const li = this.doc.createElement("li");
      li.textContent = departmentName(m.catalogue, id);
      return li;
    });
    this.el.clerkDepartments.replaceChildren(...items);
  }

  #renderOffer(m, now) {
    const e = this.el;
    const offer = m.offer;
    e.incomingCall.hidden = !offer;
    if (!offer) return;
    const msg = offer.message;
    const elapsed = (now - offer.receivedAt) / 1000;
    e.incomingService.textContent = localized(msg.service_name);
    e.incomingDepartment.textContent = departmentName(m.catalogue, msg.department_id);
    e.incomingLanguage.textContent = t(`language.${msg.language}`);
    e.incomingTerminal.textContent = msg.terminal_name;
    e.incomingWaited.textContent = duration(msg.waited_s + elapsed);
    const left = Math.max(0, Math.ceil(msg.expires_in_s - elapsed));
    e.incomingExpiryRow.hidden = !(msg.expires_in_s > 0);
    e.incomingExpiry.textContent = t("incoming.seconds", { n: left });
    const usable = m.connection === "connected" && !offer.pending;
    e.acceptCall.disabled = !usable;
    e.declineCall.disabled = !usable;
    e.acceptCall.textContent = t(offer.pending === "accept" ? "incoming.accepting" : "incoming.accept");
  }

  #renderCall(m, now) {
    const e = this.el;
    const info = m.callInfo;
    e.callPanel.hidden = !info;
    if (!info) return;
    const call = m.call;
    e.callService.textContent = localized(info.serviceName);
    e.callPeer.textContent = t("call.with", { name: info.peerName });
    e.callLanguage.textContent = t(`language.${info.language}`);
    e.callDepartment.textContent = departmentName(m.catalogue, info.departmentId);
    const { phase, text } = callStatus(info, call, now);
    e.callStatus.dataset.phase = phase;
    e.callStatus.textContent = text;
    e.hangup.disabled = info.hangingUp || !call || call.closed;
    // the consulted side of a warm transfer: not their call to hang up (consult.js ends it)
    e.hangup.hidden = Boolean(info.consult);
    this.#renderLink(info, call, now);
    this.#renderMaterials(m, info);
  }

  /** The server's word on a break (a banner on the applicant's picture) and the figures. */
  #renderLink(info, call, now) {
    const e = this.el;
    const banner = mediaBanner(info.media, now);
    e.mediaBanner.dataset.state = banner ? banner.state : "none";
    // a live region: text is only replaced when it changes, or it would be read out again
    setText(e.mediaBannerText, banner ? banner.text : "");
    setText(e.mediaBannerLink, banner ? banner.link : "");
    setText(e.mediaBannerCountdown, banner ? banner.countdown : "");
    const figures = call && !call.closed ? call.link.snapshot() : null;
    e.linkFigures.hidden = !figures;
    e.weakConnection.hidden = !(figures && figures.weak) || Boolean(banner && banner.state !== "restored");
    if (!figures) return;
    setText(e.linkRtt, figure(figures.rtt_ms, "link.ms", 0));
    setText(e.linkLoss, figure(figures.loss_pct, "link.pct", 1));
    setText(e.linkBitrate, figure(figures.bitrate_kbps, "link.kbps", 0));
    setText(e.linkFps, figure(figures.fps, "link.fpsValue", 0));
  }

  #renderMaterials(m, info) {
    const service = findService(m.catalogue, info.serviceId);
    const key = `${language()}|${info.sessionId}|${Boolean(service)}`;
    if (this.listKeys.materials === key) return;
    this.listKeys.materials = key;
    const items = [];
    for (const material of service ? service.materials : []) {
      const li = this.doc.createElement("li");
      const name = this.doc.createElement("span");
      name.className = "material-name";
      name.textContent = localized(material.names);
      li.append(name);
      if (!material.required) {
        const tag = this.doc.createElement("span");
        tag.className = "tag";
        tag.textContent = t("call.materialOptional");
        li.append(" ", tag);
      }
      if (material.note) {
        const note = this.doc.createElement("span");
        note.className = "material-note";
        note.textContent = localized(material.note);
        li.append(note);
      }
      items.push(li);
    }
    if (service && items.length === 0) {
      const li = this.doc.createElement("li");
      li.textContent = t("call.noMaterials");
      items.push(li);
    }
    this.el.callMaterials.replaceChildren(...items);
    this.el.callSecondApproval.hidden = !(service && service.second_approval);
  }
}

function callStatus(info, call, now) {
  if (info.consult) return { phase: "consult", text: t("state.consulting") };
  if (info.hangingUp || !call) return { phase: "ending", text: t("call.phase.ending") };
  const length = { duration: duration(call.connectedSeconds(now)) };
  switch (call.phase) {
    case Phase.CONNECTED:
      return { phase: "connected", text: t("call.phase.connected", length) };
    case Phase.UNSTABLE:
      return { phase: "unstable", text: t("call.phase.unstable", length) };
    default:
      return { phase: "connecting", text: t("call.phase.connecting") };
  }
}

/** What the media banner says for the server's last ``media_state`` (null: nothing). */
function mediaBanner(media, now) {
  if (!media) return null;
  if (media.state === "restored") {
    if (now - media.since >= RESTORED_SHOWN_MS) return null;
    return { state: "restored", text: t("link.restored"), link: "", countdown: "" };
  }
  const text = t(media.state === "restarting" ? "link.restarting" : "link.interrupted");
  const link = media.link ? t("link.whose", { where: t(`link.where.${media.link}`) }) : "";
  const left = media.endsAt === null ? null : Math.max(0, Math.ceil((media.endsAt - now) / 1000));
  const countdown = left === null ? "" : t("link.endsIn", { n: left });
  return { state: media.state, text, link, countdown };
}

/** A figure in its unit, or a dash while it is unknown. */
function figure(value, key, digits) {
  if (value === null || value === undefined) return t("link.unknown");
  return t(key, { n: value.toFixed(digits) });
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function departmentName(catalogue, id) {
  const dept = catalogue && catalogue.departments.find((d) => d.id === id);
  return dept ? localized(dept.names) : id;
}

function findService(catalogue, id) {
  return (catalogue && id && catalogue.services.find((s) => s.id === id)) || null;
}
