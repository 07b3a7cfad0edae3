// The clerk console: sign-in, availability, incoming calls, the call itself.
// State lives in one object (``this.m``); every change goes through a handler here and ends
// with render(). The clerk's state is the server's (clerk_status): the console never guesses.

import { initLanguage, language, localized, setLanguage, t } from "./i18n.js";
import { EVENTS } from "./protocol.js";
import { Call, icePolicy } from "./call.js";
import { Camera } from "./camera.js";
import { Guidance } from "./guidance.js";
import { IdentityPanel } from "./identity.js";
import { DocumentsPanel } from "./documents.js";
import { Paperwork } from "./paperwork.js";
import { WorkNav } from "./worknav.js";
import { Ringer } from "./ringer.js";
import { WarmPeer } from "./warm-peer.js";
import { CallbacksPanel } from "./callbacks.js";
import { BookingsPanel, fetchDay } from "./bookings.js";
import { Supervision } from "./supervision.js";
import { WorkStates } from "./wrap-up.js";
import { TransferPanel } from "./transfer.js";
import { Consultation } from "./consult.js";
import {
  ClerkConnection,
  fetchCatalogue,
  forgetSession,
  login,
  LoginError,
  refreshToken,
  saveSession,
  savedSession,
} from "./session.js";
import { describeEnd, describeServerError, resolve, View } from "./ui.js";

// The longest a taken call's screen waits for its media to connect before it is drawn.
const SETUP_RENDER_WAIT_MS = 400;

// How long a kiosk's offer that overtook its call_offered is kept for it (a call rings less).
const EARLY_KEEP_MS = 30_000;

// States in which the clerk wanted calls; after a dropped connection they are restored.
const WANTED_CALLS = new Set(["available", "ringing", "busy", "wrap_up", "consulting"]);

class ClerkConsole {
  constructor(view) {
    this.view = view;
    this.ringer = new Ringer();
    this.camera = new Camera();
    this.warmPeer = new WarmPeer(this.camera);
    this.lastIceServers = null; // the last call's, for the next call's warm peer
    this.connection = null;
    this.call = null;
    // The kiosk's offer relayed while the call rings can overtake call_offered itself (the
    // server relays it the moment the kiosk sends it; call_offered leaves after its own
    // reads), and is then not sent again at the accept: kept here by session for #onOffered.
    this.early = new Map(); // session_id -> {offer, candidates, at}
    this.expiryTimer = null;
    this.m = {
      view: "login",
      loginPending: false,
      session: null, // {token, expiresAt, displayName, departments}
      clerk: { state: "offline", displayName: "", departments: [], sessionId: null },
      connection: "idle", // idle | connecting | connected | reconnecting
      availabilityPending: false,
      autoAnswer: false,
      offer: null, // {message: CallOffered, receivedAt, pending: null|"accept"|"decline"}
      callInfo: null, // what the call panel shows about the call in progress
      call: null,
      error: null, // {text, code}
      notice: null,
      catalogue: null,
      resync: null, // set while reconnecting: {wantCalls}
      statusVersion: null, // the last clerk_status's version
      expired: false,
    };
  }

  start() {
    initLanguage();
    this.view.translate();
    this.view.bind(this);
    this.guidance = new Guidance(document, (event, payload) => this.#send(event, payload));
    this.identity = new IdentityPanel(document, () => (this.m.session ? this.m.session.token : null));
    this.documents = new DocumentsPanel(document, () => (this.m.session ? this.m.session.token : ""));
    this.paperwork = new Paperwork(document, () => (this.m.session ? this.m.session.token : null));
    // before a form is made: what the identity and materials panels say is still missing
    this.paperwork.missing = () => {
      const missing = [];
      const identity = this.identity.panel ? this.identity.panel.status : "pending";
      if (!["verified", "overridden"].includes(identity)) missing.push("paper.missing.identity");
      // a checklist not loaded yet accepts nothing: the form would be made on an unknown
      // (a press right after the call opened found none and asked about the identity only)
      const checklist = this.documents.checklist;
      const open = checklist ? checklist.items.filter((i) => i.required && i.status !== "accepted") : null;
      if (open === null || open.length) missing.push("paper.missing.materials");
      return missing;
    };
    this.workNav = new WorkNav(document);
    this.callbacks = new CallbacksPanel(
      document,
      () => (this.m.session ? this.m.session.token : null),
      () => Boolean(this.m.callInfo || this.m.offer || ["ringing", "busy", "consulting"].includes(this.m.clerk.state)),
      (notice) => {
        this.m.notice = notice;
        this.render();
      },
    );
    this.bookings = new BookingsPanel(document.getElementById("bookings-panel"), {
      load: (day) => fetchDay(day, this.m.session ? this.m.session.token : null, t),
      text: t,
      localized,
    });
    this.consult = new Consultation(document, {
      send: (event, payload) => this.#send(event, payload),
      camera: this.camera,
      currentCall: () => this.call,
      consulting: (message) => this.#consulting(message),
      notice: (desc) => {
        this.m.notice = desc;
        this.render();
      },
      failed: (message) => this.#showError({ key: "error.webrtc", params: { message } }),
    });
    this.transfer = new TransferPanel(
      document,
      () => (this.m.session ? this.m.session.token : null),
      (event, payload) => this.#send(event, payload),
      (sessionId, clerk, departmentId) => this.consult.start(sessionId, clerk, departmentId),
    );
    this.supervision = new Supervision(document, (event, payload) => this.#send(event, payload), () => this.call);
    this.workStates = new WorkStates(document, (event, payload) => this.#send(event, payload));
    this.workStates.onChange = () => this.render();
    window.setInterval(() => this.render(), 1000);
    const saved = savedSession();
    if (saved) this.#enter(saved);
    this.render();
    if (!saved) this.view.focusLogin("username");
  }

  render() {
    if (this.#deferWhileSettingUp()) return;
    this.m.call = this.call;
    this.view.render(this.m);
    if (this.guidance) {
      const info = this.m.callInfo;
      const services = (this.m.catalogue && this.m.catalogue.services) || [];
      const service = info ? services.find((s) => s.id === info.serviceId) : null;
      this.guidance.render(this.m.offer && this.m.offer.message, info, service || null);
    }
    if (this.identity) this.identity.render(this.m.callInfo);
    if (this.documents) this.documents.render(this.m.callInfo);
    if (this.paperwork) this.paperwork.render(this.m);
    if (this.workNav) this.workNav.render(Boolean(this.m.callInfo));
    if (this.callbacks) this.callbacks.render();
    if (this.bookings) this.bookings.render();
    if (this.transfer) this.transfer.render(this.m.callInfo, this.consult.active);
    if (this.consult) this.consult.render();
    if (this.supervision) this.supervision.render();
    if (this.workStates) {
      const state = this.m.connection === "connected" ? this.m.clerk.state : "offline";
      this.workStates.render(state, resolve);
    }
  }

  /**
   * While the answer to a taken call is being made, the page is left as it is and drawn once
   * its media is connected. The answer is a chain of promise steps on the page's one thread,
   * and ICE, DTLS and the encoders' start share the machine with it: the call view's first
   * layout (tens of ms) in between went straight onto the set-up time.
   */
  #deferWhileSettingUp() {
    const call = this.call;
    const offer = this.m.offer;
    const taking = call && !call.closed && (call.settingUp || (offer && offer.pending === "accept"));
    if (!taking || call.connectedAt !== null) return false;
    if (this.heldCall !== call) {
      this.heldCall = call;
      this.heldSince = performance.now();
    }
    if (performance.now() - this.heldSince >= SETUP_RENDER_WAIT_MS) return false;
    if (!this.renderDeferred) {
      this.renderDeferred = true;
      const limit = new Promise((resolve) => window.setTimeout(resolve, SETUP_RENDER_WAIT_MS));
      Promise.race([call.setUp, limit]).then(() => {
        this.renderDeferred = false;
        this.render();
      });
    }
    return true;
  }

  // ------------------------------------------------------------------ actions (from the page)

  async login(username, password) {
    if (this.m.loginPending) return;
    if (!username || !password) {
      this.#showError("error.invalid_login");
      this.view.focusLogin(username ? "password" : "username");
      return;
    }
    this.m.loginPending = true;
    this.m.error = null;
    this.render();
    try {
      const body = await login(username, password);
      if (body.role === "supervisor") {
        // supervisors have their own console; hand the sign-in over instead of asking again
        // (localStorage, as the supervisor page keeps it: its links open in new tabs)
        localStorage.setItem(
          "vcounter.supervisor.session",
          JSON.stringify({ token: body.token, expiresAt: Date.now() + body.expires_in_s * 1000, name: body.display_name }),
        );
        window.location.assign("/supervisor");
        return;
      }
      const session = {
        token: body.token,
        expiresAt: Date.now() + body.expires_in_s * 1000,
        displayName: body.display_name,
        departments: body.departments,
      };
      saveSession(session);
      this.m.loginPending = false;
      this.m.notice = null;
      this.view.clearPassword();
      this.#enter(session);
    } catch (err) {
      this.m.loginPending = false;
      if (!(err instanceof LoginError)) throw err;
      this.#showError(err.text, err.code);
      this.render();
      this.view.focusLogin("password");
    }
  }

  toggleAvailability() {
    const state = this.m.clerk.state;
    if (this.m.availabilityPending || state === "busy" || state === "offline" || state === "wrap_up") return;
    this.m.availabilityPending = true;
    const available = !(state === "available" || state === "ringing");
    this.#send(EVENTS.SET_AVAILABILITY, available ? { available } : { available, reason: this.workStates.awayReason() });
    this.render();
  }

  setAutoAnswer(on) {
    this.m.autoAnswer = on;
    if (on && this.m.offer && !this.m.offer.pending) this.accept();
    this.render();
  }

  accept() {
    const offer = this.m.offer;
    if (!offer || offer.pending || !this.connection || !this.connection.connected) return;
    offer.pending = "accept";
    this.ringer.stop();
    if (this.call) this.call.prepareMedia();
    this.#send(EVENTS.ACCEPT, { session_id: offer.message.session_id });
    this.render();
  }

  decline() {
    const offer = this.m.offer;
    if (!offer || offer.pending) return;
    offer.pending = "decline";
    this.ringer.stop();
    this.#closeCall();
    this.#send(EVENTS.DECLINE, { session_id: offer.message.session_id });
    this.render();
  }

  hangup() {
    const info = this.m.callInfo;
    if (!info || info.hangingUp) return;
    info.hangingUp = true;
    this.#send(EVENTS.HANGUP, { session_id: info.sessionId, reason: "clerk_hangup" });
    // Media stops at once; the server's call_ended then only confirms.
    this.#finishCall("clerk_hangup");
  }

  signOut() {
    this.#leave(null);
  }

  setLanguage(lang) {
    setLanguage(lang);
    this.view.translate();
    this.render();
  }

  dismissError() {
    this.m.error = null;
    this.render();
  }

  dismissNotice() {
    this.m.notice = null;
    this.render();
  }

  // ------------------------------------------------------------------ signing in and out

  #enter(session) {
    this.m.session = session;
    this.m.view = "console";
    this.m.clerk = {
      state: "offline",
      displayName: session.displayName,
      departments: session.departments,
      sessionId: null,
    };
    this.m.connection = "connecting";
    this.#armExpiry();
    fetchCatalogue().then((catalogue) => {
      this.m.catalogue = catalogue;
      this.render();
    });
    this.connection = new ClerkConnection(session.token, {
      event: (name, payload) => this.#onEvent(name, payload),
      connected: (again) => this.#onConnected(again),
      lost: () => this.#onLost(),
      refused: (error) => this.#onRefused(error),
      replaced: () => this.#leave({ text: "error.replaced" }),
      badMessage: (name, problem) =>
        this.#showError({ key: "error.badMessage", params: { event: name, problem } }),
    });
    this.paperwork.listen(this.connection.socket);
    this.connection.open();
    this.render();
  }

  /** Back to the sign-in form, with ``error`` ({text, code}) shown if given. */
  #leave(error) {
    forgetSession();
    window.clearTimeout(this.expiryTimer);
    this.ringer.stop();
    this.#closeCall();
    this.#keepCamera(false);
    this.lastIceServers = null; // the next clerk to sign in here gets their own
    if (this.connection) this.connection.close();
    this.connection = null;
    if (this.callbacks) this.callbacks.clear();
    if (this.bookings) this.bookings.clear();
    Object.assign(this.m, {
      view: "login", session: null, connection: "idle", offer: null, callInfo: null,
      availabilityPending: false, resync: null, expired: false, error, notice: null,
    });
    this.m.clerk = { state: "offline", displayName: "", departments: [], sessionId: null };
    this.render();
    this.view.focusLogin("username");
  }

  #armExpiry() {
    window.clearTimeout(this.expiryTimer);
    window.clearTimeout(this.refreshTimer);
    const left = this.m.session.expiresAt - Date.now();
    // setTimeout cannot wait longer than ~24.8 days; tokens live minutes to hours.
    const delay = Math.max(0, Math.min(left, 2 ** 31 - 1));
    this.expiryTimer = window.setTimeout(() => this.#onExpired(), delay);
    // tokens are short-lived: trade this one for a fresh one at half its life
    this.refreshTimer = window.setTimeout(() => this.#refresh(), Math.max(5000, delay / 2));
  }

  async #refresh() {
    const session = this.m.session;
    if (!session) return;
    const body = await refreshToken(session.token);
    if (!body || this.m.session !== session) return; // refused: the expiry timer signs out
    session.token = body.token;
    session.expiresAt = Date.now() + body.expires_in_s * 1000;
    saveSession(session);
    if (this.connection && this.connection.setToken) this.connection.setToken(body.token);
    this.#armExpiry();
  }

  #onExpired() {
    // Never cut a call short: sign out once it is over.
    if (this.m.callInfo || this.m.offer) {
      this.m.expired = true;
      return;
    }
    this.#leave({ text: "error.sessionExpired" });
  }

  // ------------------------------------------------------------------ connection

  #onConnected(again) {
    this.m.connection = "connected";
    // what changed while the socket was down came with no callbacks_changed: list again
    this.callbacks.refresh();
    this.bookings.refresh();
    if (again) this.m.notice = "conn.restored";
    this.render();
  }

  #onLost() {
    if (this.m.connection === "connected") {
      this.m.resync = { wantCalls: WANTED_CALLS.has(this.m.clerk.state) };
    }
    this.m.connection = "reconnecting";
    this.m.availabilityPending = false;
    // The server hands a ringing call to the next clerk as soon as it sees the socket go; a
    // call in progress waits for the console through the server's grace period (its media is
    // peer to peer and may not have stopped). The status after reconnecting says which.
    if (this.m.offer) this.#dropOffer();
    this.render();
  }

  #onRefused(error) {
    if (error.code === "sign_in_expired") this.#leave({ text: "error.sessionExpired" });
    else this.#leave({ text: describeServerError(error), code: error.code });
  }

  // ------------------------------------------------------------------ server events

  #onEvent(name, payload) {
    switch (name) {
      case EVENTS.CLERK_STATUS:
        return this.#onStatus(payload);
      case EVENTS.CALL_OFFERED:
        return this.#onOffered(payload);
      case EVENTS.CALL_WITHDRAWN:
        return this.#onWithdrawn(payload);
      case EVENTS.CALL_ACCEPTED:
        return this.#onAccepted(payload);
      case EVENTS.CALL_ENDED:
        return this.#onEnded(payload);
      case EVENTS.CALL_TRANSFERRED:
        return this.#onTransferred(payload);
      case EVENTS.CONSULT:
        this.consult.onConsult(payload);
        return this.render();
      case EVENTS.CONSULT_SIGNAL:
        return this.consult.onSignal(payload);
      case EVENTS.DESCRIPTION:
        if (this.#isCurrent(payload)) this.call.handleDescription(payload);
        else if (payload.type === "offer" && !(payload.attempt ?? 0)) this.#keepEarly(payload, "offer");
        return undefined;
      case EVENTS.ICE_CANDIDATE:
        if (this.#isCurrent(payload)) this.call.handleCandidate(payload);
        else if (!(payload.attempt ?? 0)) this.#keepEarly(payload, "candidate");
        return undefined;
      case EVENTS.MEDIA_STATE:
        return this.#onMediaState(payload);
      case EVENTS.ERROR:
        return this.#onServerError(payload);
      case EVENTS.IDENTITY:
        return this.identity.changed(payload);
      case EVENTS.CALLBACKS_CHANGED:
        return this.callbacks.refresh();
      case EVENTS.KIOSK_DEVICES:
        // the kiosk said what it has, maybe after the panels first asked: both redraw
        this.identity.devicesReported(payload);
        return this.documents.devicesReported(payload);
      case EVENTS.DOCUMENT_ADDED:
      case EVENTS.CHECKLIST:
        return this.documents.handle(name, payload);
      case EVENTS.SUPERVISION:
        return this.supervision.onSupervision(payload);
      case EVENTS.MONITOR_SIGNAL:
        return this.supervision.onSignal(payload);
      default:
        return undefined;
    }
  }

  /** Camera on while the clerk takes calls (self-view shows it), off when away. */
  #keepCamera(on) {
    const video = this.view.el.localVideo;
    if (!on) {
      this.warmPeer.close();
      this.camera.release();
      video.srcObject = null;
      return;
    }
    if (this.lastIceServers && !this.call) this.warmPeer.prepare(this.lastIceServers);
    this.camera.acquire().then(
      (stream) => {
        if (stream && video.srcObject !== stream) {
          video.muted = true;
          video.srcObject = stream;
          video.play().catch(() => undefined);
        }
      },
      (err) =>
        this.#showError({ key: "error.media", params: { name: (err && err.name) || String(err) } }),
    );
  }

  /** Keep a kiosk's first offer (or a candidate of it) that came before its call_offered. */
  #keepEarly(payload, what) {
    const now = performance.now();
    for (const [id, kept] of this.early) if (now - kept.at > EARLY_KEEP_MS) this.early.delete(id);
    const kept = this.early.get(payload.session_id) || { offer: null, candidates: [], at: now };
    if (what === "offer") kept.offer = payload;
    else if (kept.candidates.length < 50) kept.candidates.push(payload);
    this.early.set(payload.session_id, kept);
    while (this.early.size > 4) this.early.delete(this.early.keys().next().value);
  }

  /** Whether a relayed description or candidate belongs to this console's call. */
  #isCurrent(payload) {
    return Boolean(this.call) && this.call.sessionId === payload.session_id;
  }

  #onStatus(status) {
    if (status.resume_token) this.connection.keepResume(status.resume_token);
    // versions count every change of the clerk's state: a jump means a status went missing
    const known = this.m.statusVersion;
    this.m.statusVersion = status.version;
    if (known !== null && known !== undefined && status.version > known + 1) {
      this.#send(EVENTS.SYNC, {});
    }
    this.m.clerk = {
      state: status.state,
      displayName: status.display_name,
      departments: status.departments,
      sessionId: status.session_id ?? null,
      awayReason: status.away_reason ?? null,
    };
    this.workStates.status(status);
    this.m.availabilityPending = false;
    // on connect: the servers a call will use, for the first call's warm peer
    if (status.ice_servers && !this.lastIceServers) this.lastIceServers = status.ice_servers;
    if (status.ice_transport_policy) icePolicy.value = status.ice_transport_policy;
    this.#keepCamera(WANTED_CALLS.has(status.state));
    // a page that came back (a reload) to the call it was in: the call carries on here
    if (status.state === "busy" && status.call && !this.call && !this.m.callInfo) this.#resumeCall(status.call);
    // call_ended / call_withdrawn always come before the status that follows them; a status
    // without them means they were lost, and the console must not keep a dead call open.
    const consulting = this.m.callInfo && this.m.callInfo.consult && status.state === "consulting";
    if (this.m.callInfo && status.state !== "busy" && !consulting) this.#finishCall("hangup");
    if (this.m.offer && status.state !== "ringing" && !this.m.offer.pending) this.#dropOffer();
    const resync = this.m.resync;
    this.m.resync = null;
    // back in the same call: a media report made while the socket was down never left
    if (resync && this.call && status.state === "busy" && status.session_id === this.call.sessionId) {
      this.call.link.resend();
    }
    if (resync && resync.wantCalls && status.state === "away") {
      this.m.availabilityPending = true;
      this.m.notice = "conn.restoredAvailable";
      this.#send(EVENTS.SET_AVAILABILITY, { available: true });
    }
    this.render();
  }

  #onOffered(message) {
    // The store rings only an available clerk, so the call on screen is over: its
    // call_ended comes from the process that ended it and can arrive after this offer from
    // another one. Close it now, or the offer would be ignored and ring out.
    if (this.m.callInfo) this.#finishCall("hangup");
    this.#closeCall();
    this.m.offer = { message, receivedAt: performance.now(), pending: null };
    this.m.notice = null;
    this.call = this.#newCall(message.session_id);
    // Warm the camera up while it rings: accepting then connects sooner, and a permission
    // prompt (first use) shows before the applicant is waiting on an open line.
    this.call.prepareMedia();
    if (message.ice_transport_policy) icePolicy.value = message.ice_transport_policy;
    const early = this.early.get(message.session_id);
    this.early.clear();
    this.call.ring(message.ice_servers ?? [], message.offer ?? (early && early.offer ? early.offer.sdp : null));
    if (early) for (const candidate of early.candidates) this.call.handleCandidate(candidate);
    if (this.m.autoAnswer) {
      this.accept();
      return;
    }
    this.ringer.start();
    this.render();
    this.view.focusIncoming();
  }

  #onWithdrawn(message) {
    const offer = this.m.offer;
    if (!offer || offer.message.session_id !== message.session_id) return;
    this.#dropOffer();
    if (this.#leaveIfExpired()) return;
    this.m.notice = `withdrawn.${message.reason}`;
    this.render();
  }

  #onAccepted(message) {
    const info = this.m.callInfo;
    if (!this.m.offer && info && info.consult && info.sessionId === message.session_id) {
      this.#takeOver(message);
      return;
    }
    const offer = this.m.offer;
    if (!offer || offer.message.session_id !== message.session_id || !this.call) return;
    this.ringer.stop();
    this.m.offer = null;
    this.m.callInfo = this.#callInfo(message, offer.message.service_id);
    if (message.ice_transport_policy) icePolicy.value = message.ice_transport_policy;
    this.call.start(message.ice_servers);
    this.render();
  }

  /** The consulted side of a warm transfer: the call panel opens for the call discussed (its
   * identity result and materials), with the other clerk's picture; null closes it. */
  #consulting(message) {
    if (!message) {
      if (this.m.callInfo && this.m.callInfo.consult) this.m.callInfo = null;
      this.render();
      return;
    }
    this.m.offer = null;
    this.m.callInfo = {
      ...this.#callInfo({ ...message, peer_name: message.peer_name }, message.service_id),
      consult: true,
    };
    this.render();
  }

  /** The call discussed is handed over to this console: its kiosk offers a new peer
   * connection, answered here. */
  #takeOver(message) {
    this.call = this.#newCall(message.session_id);
    this.m.callInfo = this.#callInfo(message, message.service_id);
    if (message.ice_transport_policy) icePolicy.value = message.ice_transport_policy;
    this.call.takeOver(message.ice_servers, message.attempt ?? 0);
    this.render();
  }

  /** The call this page was in before it was reloaded: its peer connection went with the old
   * page, so the kiosk is asked for the next one, answered by this page. */
  #resumeCall(message) {
    this.m.offer = null;
    this.call = this.#newCall(message.session_id);
    this.m.callInfo = this.#callInfo(message, message.service_id);
    if (message.ice_transport_policy) icePolicy.value = message.ice_transport_policy;
    this.call.resume(message.ice_servers, message.attempt);
  }

  #callInfo(message, serviceId) {
    return {
      sessionId: message.session_id,
      serviceId,
      serviceName: message.service_name,
      departmentId: message.department_id,
      language: message.language,
      careMode: message.care_mode,
      peerName: message.peer_name,
      applicantZone: message.applicant_zone ?? null, // zones.js
      hangingUp: false,
      media: null, // the server's last media_state for the call: {state, attempt, link, endsAt, since}
    };
  }

  #onEnded(message) {
    const info = this.m.callInfo;
    if (!info || info.sessionId !== message.session_id) return;
    this.#finishCall(message.reason);
  }

  /** This clerk handed the call on: it is over here as after a hang-up, and the notice says
   * to whom (the department, and the clerk it is kept for). */
  #onTransferred(message) {
    const info = this.m.callInfo;
    if (!info || info.sessionId !== message.session_id) return;
    this.#finishCall("transferred");
    const department = localized(message.department_name);
    this.m.notice = message.clerk_name
      ? { key: "transfer.doneClerk", params: { clerk: message.clerk_name, department } }
      : { key: "transfer.done", params: { department } };
    this.render();
  }

  /** The server says how the call's media stands after a break: the call panel shows it. */
  #onMediaState(message) {
    const info = this.m.callInfo;
    if (!info || info.sessionId !== message.session_id) return;
    // the server asks both sides how their media stands when a break begins: answering says
    // this console can reach it (the side that cannot is the one whose link broke)
    if (message.state === "interrupted" && this.call && this.call.link) this.call.link.resend();
    const attempt = message.attempt ?? 0;
    if (info.media && attempt < info.media.attempt) return; // overtaken by a newer attempt's
    const now = performance.now();
    info.media = {
      state: message.state,
      attempt,
      link: message.link ?? null,
      endsAt: message.ends_in_s === null || message.ends_in_s === undefined ? null : now + message.ends_in_s * 1000,
      since: now,
    };
    this.render();
  }

  #onServerError(error) {
    const offer = this.m.offer;
    // already over (a report crossed the server's end of the call): call_ended says so
    if (error.code === "not_your_session" && [EVENTS.HANGUP, EVENTS.MEDIA_STATUS].includes(error.event)) return;
    if (error.event === EVENTS.SET_AVAILABILITY) this.m.availabilityPending = false;
    if ([EVENTS.FILE_WRAP_UP, EVENTS.EXTEND_WRAP_UP].includes(error.event)) {
      this.workStates.refused(describeServerError(error));
    }
    if ([EVENTS.TRANSFER, EVENTS.CONSULT_START].includes(error.event) && this.transfer) {
      // said in the transfer form, which stays open to choose again
      this.transfer.refused(error);
      return;
    }
    if (offer && (error.event === EVENTS.ACCEPT || error.event === EVENTS.DECLINE)) {
      if (error.code === "not_your_session") this.#dropOffer();
      else offer.pending = null;
    }
    this.#showError(describeServerError(error), error.code);
  }

  // ------------------------------------------------------------------ the call

  #newCall(sessionId) {
    return new Call(
      sessionId,
      { localVideo: this.view.el.localVideo, remoteVideo: this.view.el.remoteVideo },
      this.camera,
      {
        send: (event, payload) => this.#send(event, payload),
        changed: () => this.render(),
        mediaError: (err) =>
          this.#showError({ key: "error.media", params: { name: (err && err.name) || String(err) } }),
        failed: (message) => this.#showError({ key: "error.webrtc", params: { message } }),
        documentTrack: (track) => this.documents.setTrack(track),
        takePeer: (iceServers) => {
          this.lastIceServers = iceServers;
          return this.warmPeer.take(iceServers);
        },
      },
    );
  }

  #dropOffer() {
    this.ringer.stop();
    this.m.offer = null;
    this.#closeCall();
  }

  #closeCall() {
    if (this.supervision) this.supervision.closeAll();
    if (this.consult && !(this.m.callInfo && this.m.callInfo.consult)) this.consult.closeAll();
    if (this.call) this.call.close();
    this.call = null;
    // the next call's peer, made now while nobody waits (not while signing out or away)
    if (this.lastIceServers && this.camera.promise) this.warmPeer.prepare(this.lastIceServers);
  }

  #finishCall(reason) {
    const call = this.call;
    const seconds = call ? call.connectedSeconds() : 0;
    this.#closeCall();
    this.m.callInfo = null;
    this.m.notice = describeEnd(reason, seconds);
    if (this.#leaveIfExpired()) return;
    this.render();
    this.view.focusMain();
  }

  /** Sign out now if the token expired while a call was ringing or in progress. */
  #leaveIfExpired() {
    if (!this.m.expired || this.m.offer || this.m.callInfo) return false;
    this.#leave({ text: "error.sessionExpired" });
    return true;
  }

  #send(event, payload) {
    // socket.io would queue an event sent while disconnected and deliver it, stale, on
    // reconnecting; the console re-syncs from clerk_status instead.
    if (!this.connection || !this.connection.connected) return;
    this.connection.send(event, payload);
  }

  #showError(text, code = null) {
    this.m.error = { text, code };
    this.render();
  }
}

const consoleApp = new ClerkConsole(new View(document));

// For tests, benchmarks and the curious: read-only views of the live state.
window.vcounterConsole = Object.freeze({
  peerConnection: () => (consoleApp.call ? consoleApp.call.pc : null),
  consultPeerConnection: () => consoleApp.consult.peerConnection(), // a warm transfer's
  warmStart: () => (consoleApp.call ? consoleApp.call.warmStart : null),
  // the figures on the call panel and whether the link counts as weak (link-quality.js)
  linkFigures: () => (consoleApp.call ? consoleApp.call.link.snapshot() : null),
  state: () => (consoleApp.m.connection === "connected" ? consoleApp.m.clerk.state : "offline"),
  language: () => language(),
  documentShownAt: (sha256) => consoleApp.documents.shownAt.get(sha256) ?? null, // bench
});

consoleApp.start();
