// A development e-ID provider: panva's certified `oidc-provider`, configured for vcounter's
// tests and `./run demo`. It plays the part of 智方便 (iAM Smart) or 一戶通: one confidential
// client, PKCE (S256) required, test accounts whose claims and assurance (acr, amr) come
// from a JSON file, and a small sign-in page that an applicant's phone opens.
//
//   node signaling/eid/dev_provider.mjs --issuer URL --client-id ID --client-secret S \
//        --redirect-uri URL [--port 0] [--host 127.0.0.1] [--accounts FILE] [--keys FILE]
//        [--clock-offset-s N] [--id-token-ttl-s N]
//
// --port 0 takes a free port; the first line on stdout is JSON {"port": N, "issuer": URL}
// once it listens. --keys: a JSON Web Key Set with private keys (default: a fresh RSA key).
// --clock-offset-s shifts this process's clock (a provider whose clock is wrong issues
// tokens that are already expired): a real provider, only its time is off. Give a negative
// offset with "=" (--clock-offset-s=-600).

import { generateKeyPairSync, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

// the package is installed with the console's (agent_console/package.json), not beside this file
const consolePackages = createRequire(new URL("../../agent_console/package.json", import.meta.url));
const { default: Provider } = await import(pathToFileURL(consolePackages.resolve("oidc-provider")).href);

const { values: args } = parseArgs({
  options: {
    issuer: { type: "string" },
    "client-id": { type: "string" },
    "client-secret": { type: "string" },
    "redirect-uri": { type: "string", multiple: true },
    port: { type: "string", default: "0" },
    host: { type: "string", default: "127.0.0.1" },
    accounts: { type: "string" },
    keys: { type: "string" },
    "clock-offset-s": { type: "string", default: "0" },
    "id-token-ttl-s": { type: "string", default: "600" },
  },
});

function need(name) {
  if (!args[name]) {
    console.error(`dev_provider: --${name} is required (see the comment at the top of this file)`);
    process.exit(2);
  }
  return args[name];
}

const offsetMs = Number(args["clock-offset-s"]) * 1000;
if (!Number.isFinite(offsetMs)) {
  console.error("dev_provider: --clock-offset-s must be a number of seconds");
  process.exit(2);
}
if (offsetMs !== 0) {
  const realNow = Date.now;
  Date.now = () => realNow() + offsetMs;
}

// the demo's applicants: a strong sign-in (as good as a card read and a face match) and a
// weaker one (password only) that the clerk must confirm in person
const DEMO_ACCOUNTS = [
  {
    login: "chan.taiman", password: "demo",
    claims: { name: "陳大文", name_en: "CHAN TAI MAN", document_number: "A1234563",
              document_type: "HKIC", birthdate: "1980-01-01" },
    acr: "urn:vcounter:loa:high", amr: ["face", "hwk"],
  },
  {
    login: "wong.siuming", password: "demo",
    claims: { name: "黃小明", name_en: "WONG SIU MING", document_number: "1234567(8)",
              document_type: "BIR", birthdate: "1975-06-30" },
    acr: "urn:vcounter:loa:substantial", amr: ["pwd"],
  },
];
const accounts = args.accounts ? JSON.parse(readFileSync(args.accounts, "utf8")) : DEMO_ACCOUNTS;
const byLogin = new Map(accounts.map((a) => [a.login, a]));

function signingKeys() {
  if (args.keys) return JSON.parse(readFileSync(args.keys, "utf8"));
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { keys: [{ ...privateKey.export({ format: "jwk" }), kid: "dev-1", use: "sig", alg: "RS256" }] };
}

const issuer = need("issuer");
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: need("client-id"),
      client_secret: need("client-secret"),
      redirect_uris: need("redirect-uri"),
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  pkce: { required: () => true },
  ttl: { IdToken: Number(args["id-token-ttl-s"]) },
  scopes: ["openid", "profile", "eid"],
  // how the applicant signed in (acr, amr, auth_time) is said in every ID token, asked for
  // or not: the kiosk decides from it whether the sign-in counts as a card and face check
  claims: {
    openid: ["sub", "acr", "amr", "auth_time"],
    profile: ["name", "name_en", "birthdate"],
    eid: ["document_number", "document_type"],
  },
  acrValues: [...new Set(accounts.map((a) => a.acr))],
  // the scope's claims go in the ID token as well as to userinfo (one signed statement)
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: [randomUUID()] },
  jwks: signingKeys(),
  async findAccount(ctx, sub) {
    const account = byLogin.get(sub);
    if (!account) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...account.claims }) };
  },
});

const formTargets = need("redirect-uri").map((uri) => new URL(uri).origin).join(" ");

const escape = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

function page(res, status, body) {
  res.writeHead(status, {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    // the sign-in form's answer is redirected on to the client: its origins must be allowed
    "Content-Security-Policy": `default-src 'none'; style-src 'unsafe-inline'; form-action 'self' ${formTargets}`,
  });
  res.end(`<!doctype html><html lang="zh-Hant"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>e-ID (dev)</title>
<style>body{font:18px system-ui,sans-serif;margin:1.5em;max-width:28em}input,button{font:inherit;
padding:.5em;margin:.3em 0;width:100%;box-sizing:border-box}.hint{color:#555}</style></head>
<body>${body}</body></html>`);
}

async function formBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16384) throw new Error("form too large");
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return page(res, 400, "<p>This sign-in page is out of date.</p>");
  if (req.method === "GET") {
    return page(res, 200, `<h1 data-testid="idp-title">e-ID 登入 · Sign in</h1>
<p class="hint">Development identity provider (oidc-provider) for ${escape(details.params.client_id)}</p>
<form method="post" action="/interaction/${escape(uid)}/login">
<label>帳戶 Account <input name="login" data-testid="idp-login" autocomplete="off"></label>
<label>密碼 Password <input name="password" type="password" data-testid="idp-password"></label>
<button type="submit" data-testid="idp-submit">登入 Sign in</button></form>
<form method="post" action="/interaction/${escape(uid)}/abort">
<button type="submit" data-testid="idp-deny">不同意 Deny</button></form>`);
  }
  const form = await formBody(req);
  if (action === "abort") {
    return provider.interactionFinished(req, res, {
      error: "access_denied",
      error_description: "the applicant did not agree to share their identity",
    }, { mergeWithLastSubmission: false });
  }
  const account = byLogin.get(form.get("login") || "");
  if (!account || account.password !== form.get("password")) {
    return page(res, 401, `<p data-testid="idp-wrong">帳戶或密碼不正確 · Wrong account or password.</p>
<p><a href="/interaction/${escape(uid)}">Try again</a></p>`);
  }
  const grant = new provider.Grant({ accountId: account.login, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, {
    login: { accountId: account.login, acr: account.acr, amr: account.amr },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const match = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?$/.exec(req.url.split("?")[0]);
  if (!match) return callback(req, res);
  if ((req.method === "POST") !== Boolean(match[2])) return page(res, 405, "<p>Not allowed.</p>");
  interaction(req, res, match[1], match[2]).catch((err) => {
    console.error(`dev_provider: interaction ${match[1]}: ${err.message}`);
    if (!res.headersSent) page(res, 400, `<p>${escape(err.message)}</p>`);
  });
});
server.listen(Number(args.port), args.host, () => {
  console.log(JSON.stringify({ port: server.address().port, issuer }));
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)));
