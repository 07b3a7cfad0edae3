// A supervisor's sign-in, shared by the supervisor console and the wallboard on one browser:
// kept in localStorage (a copied replay link, or the hall's display, opens signed in), and its
// short-lived token traded for a fresh one at half its remaining life.

const SESSION_KEY = "vcounter.supervisor.session";

// the saved sign-in, or null when there is none or it has expired
export function loadSession() {
  try {
    const saved = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    return saved && saved.expiresAt > Date.now() ? saved : null;
  } catch {
    return null;
  }
}

export function forgetSession() {
  localStorage.removeItem(SESSION_KEY);
}

// POST /api/login: { response, body } (body null when not JSON); throws on a network failure
export async function postLogin(username, password) {
  const response = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  const body = await response.json().catch(() => null);
  return { response, body };
}

// the session a successful sign-in's body makes, saved
export function startSession(body) {
  const session = { token: body.token, expiresAt: Date.now() + body.expires_in_s * 1000, name: body.display_name };
  localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  return session;
}

// Refresh the token of current() at half its remaining life, again and again, until current()
// is another session (signed out, or signed in anew: that one has its own refreshes).
export function keepFresh(current) {
  const session = current();
  if (!session) return;
  const left = Math.min(session.expiresAt - Date.now(), 2 ** 31 - 1);
  setTimeout(async () => {
    if (current() !== session) return;
    const response = await fetch("/api/token/refresh", {
      method: "POST",
      headers: { Authorization: `Bearer ${session.token}`, "Content-Type": "application/json" },
      body: "{}",
    }).catch(() => null);
    if (!response || !response.ok || current() !== session) return;
    const body = await response.json();
    session.token = body.token;
    session.expiresAt = Date.now() + body.expires_in_s * 1000;
    localStorage.setItem(SESSION_KEY, JSON.stringify(session));
    keepFresh(current);
  }, Math.max(5000, left / 2));
}
