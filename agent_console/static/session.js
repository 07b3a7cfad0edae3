// Talking to the server: the REST sign-in and the clerk's socket.io connection.
// Payloads are checked against the generated protocol on the way in and out (wire.js).

import { io } from "/vendor/socket.io/socket.io.esm.min.js";
import { EVENTS } from "./protocol.js";
import { incoming, outgoing, ProtocolError } from "./wire.js";

const SESSION_KEY = "vcounter.console.session";
// the socket's resume token, so that a reloaded page carries on with the clerk's call
const RESUME_KEY = "vcounter.console.resume";

/**
 * The signed-in session ({token, expiresAt, displayName, departments}) of this tab, kept in
 * sessionStorage so a reload does not sign the clerk out; null if none or about to expire.
 */
export function savedSession() {
  try {
    const saved = JSON.parse(window.sessionStorage.getItem(SESSION_KEY) || "null");
    if (saved && typeof saved.token === "string" && saved.expiresAt > Date.now() + 5000) return saved;
  } catch {
    // A damaged entry just means signing in again.
  }
  forgetSession();
  return null;
}

export function saveSession(session) {
  window.sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function forgetSession() {
  window.sessionStorage.removeItem(SESSION_KEY);
  window.sessionStorage.removeItem(RESUME_KEY);
}

/**
 * A fresh token for a still-valid one (POST /api/token/refresh): the body of a sign-in, or
 * null when the server refuses (revoked, expired) or cannot be reached.
 */
export async function refreshToken(token) {
  try {
    const response = await fetch("/api/token/refresh", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: "{}",
    });
    if (!response.ok) return null;
    const body = await response.json();
    return typeof body.token === "string" && Number.isInteger(body.expires_in_s) ? body : null;
  } catch {
    return null;
  }
}

/** A refused sign-in; ``key`` is the i18n key of the message to show. */
/** A refused or failed sign-in; ``text`` is what to show (an i18n description, ui.js). */
export class LoginError extends Error {
  constructor(text, code = null) {
    super(typeof text === "string" ? text : text.key ?? code ?? "login refused");
    this.text = text;
    this.code = code;
  }
}

/** POST /api/login; resolves to the LoginResponse or throws :class:`LoginError`. */
export async function login(username, password) {
  let response;
  try {
    response = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ username, password }),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new LoginError("error.network");
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const code = body && typeof body.code === "string" ? body.code : null;
  if (response.ok) {
    const valid =
      body &&
      typeof body.token === "string" &&
      Number.isInteger(body.expires_in_s) &&
      typeof body.display_name === "string" &&
      Array.isArray(body.departments);
    if (!valid) throw new LoginError({ key: "error.http", params: { status: response.status } });
    return body;
  }
  if (response.status === 401) throw new LoginError("error.bad_credentials", code);
  if (response.status === 400) throw new LoginError("error.invalid_login", code);
  // throttled, busy, draining: the server's reason, said in the console's language
  if (code !== null) throw new LoginError({ serverError: { code, message: body.message } }, code);
  throw new LoginError({ key: "error.http", params: { status: response.status } });
}

/** The service catalogue (department and service names, materials); null if unavailable. */
export async function fetchCatalogue() {
  try {
    const response = await fetch("/api/catalogue", { headers: { Accept: "application/json" } });
    if (!response.ok) return null;
    const body = await response.json();
    if (!body || !Array.isArray(body.departments) || !Array.isArray(body.services)) return null;
    return body;
  } catch {
    // Names fall back to ids; the console works without the catalogue.
    return null;
  }
}

const SERVER_EVENTS = [
  EVENTS.CLERK_STATUS,
  EVENTS.CALL_OFFERED,
  EVENTS.CALL_WITHDRAWN,
  EVENTS.CALL_ACCEPTED,
  EVENTS.CALL_ENDED,
  EVENTS.CALL_TRANSFERRED, // transfer.js
  EVENTS.CONSULT, // consult.js
  EVENTS.CONSULT_SIGNAL,
  EVENTS.DESCRIPTION,
  EVENTS.ICE_CANDIDATE,
  EVENTS.MEDIA_STATE,
  EVENTS.ERROR,
  EVENTS.IDENTITY,
  EVENTS.KIOSK_DEVICES, // documents.js and identity.js
  EVENTS.DOCUMENT_ADDED, // documents.js
  EVENTS.CHECKLIST,
  EVENTS.SUPERVISION, // supervision.js
  EVENTS.MONITOR_SIGNAL,
  EVENTS.CALLBACKS_CHANGED, // callbacks.js
];

/**
 * The clerk's socket on namespace /clerk. Reports through ``handlers``:
 *   event(name, payload)     a checked server event
 *   connected(isReconnect)   the socket is up (again)
 *   lost()                   the socket dropped; socket.io is reconnecting by itself
 *   refused(error)           the server refused the token ({code, message}): sign in again
 *   replaced()               the server closed this socket (the clerk signed in elsewhere)
 *   badMessage(name, problem) a server payload did not match the protocol
 */
// refusals that say "not now" rather than "not you": the console tries again by itself
const RETRY_REFUSALS = new Set(["server_busy", "server_draining"]);

export class ClerkConnection {
  constructor(token, handlers) {
    this.handlers = handlers;
    this.everConnected = false;
    this.retry = null; // the timer of a retry after a "busy" refusal
    // the server's token for carrying on (state and call) after a dropped socket or a reload
    this.resumeToken = window.sessionStorage.getItem(RESUME_KEY);
    this.token = token;
    this.socket = io("/clerk", {
      // read at every (re)connect: the newest sign-in token, and the resume token of the
      // socket it replaces
      auth: (cb) =>
        cb(this.resumeToken ? { token: this.token, resume: this.resumeToken } : { token: this.token }),
      transports: ["websocket"],
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      autoConnect: false,
    });
    for (const name of SERVER_EVENTS) {
      this.socket.on(name, (payload) => this.#receive(name, payload));
    }
    this.setToken = (fresh) => {
      // a reconnect presents the newest token, not the one the socket was opened with
      this.token = fresh;
    };
    this.socket.on("connect", () => {
      const again = this.everConnected;
      this.everConnected = true;
      this.handlers.connected(again);
    });
    this.socket.on("connect_error", (err) => {
      // An inactive socket means the server refused us (bad or expired token): socket.io
      // will not retry, so the clerk has to sign in again. Otherwise it is the network.
      if (!this.socket.active) {
        const data = err && err.data && typeof err.data === "object" ? err.data : {};
        if (RETRY_REFUSALS.has(data.code)) {
          // a process taking back many sockets at once: come back after a random pause, so
          // a hall's consoles do not all return in the same instant
          this.handlers.lost();
          this.retry = setTimeout(() => this.socket.connect(), 1000 + Math.random() * 4000);
          return;
        }
        this.handlers.refused({ code: data.code ?? null, message: String(err && err.message ? err.message : "") });
      }
      else if (!this.everConnected) this.handlers.lost();
    });
    this.socket.on("disconnect", (reason) => {
      if (reason === "io client disconnect") return;
      if (reason === "io server disconnect") this.handlers.replaced();
      else this.handlers.lost();
    });
  }

  open() {
    this.socket.connect();
  }

  /** The server's resume token for this socket: presented on reconnecting, and by a reload. */
  keepResume(token) {
    this.resumeToken = token;
    window.sessionStorage.setItem(RESUME_KEY, token);
  }

  get connected() {
    return this.socket.connected;
  }

  /** Check and send a clerk event; throws :class:`ProtocolError` for a malformed payload. */
  send(name, payload) {
    outgoing(name, payload);
    this.socket.emit(name, payload);
  }

  close() {
    clearTimeout(this.retry);
    this.socket.removeAllListeners();
    this.socket.disconnect();
  }

  #receive(name, payload) {
    try {
      incoming(name, payload);
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.handlers.badMessage(name, err.message);
        return;
      }
      throw err;
    }
    this.handlers.event(name, payload);
  }
}
