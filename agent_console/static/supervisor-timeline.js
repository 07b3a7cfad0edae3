// The replay timeline's lines as a supervisor reads them: a sentence per event and who did
// it, in the UI language. Event names, payload fields and ids stay in the audit chain (and in
// `vcounter audit verify`); an event kind the page does not know yet reads "another record".

/** Who did it: "clerk walker", "the kiosk", "the system" (``st`` is the page's translator). */
export function actorText(actor, st, has) {
  const [role, ...rest] = String(actor ?? "").split(":");
  const name = rest.join(":");
  if (role === "clerk" || role === "supervisor") return st(`actor.${role}`, { name });
  if (role === "terminal") return st("actor.terminal");
  if (role === "server") return st("actor.server");
  return has(`actor.${role}`) ? st(`actor.${role}`, { name }) : st("actor.other");
}

/** What happened, as a sentence; only the payload fields a sentence names are used. */
export function eventText(event, st, has) {
  const p = event.payload ?? {};
  if (event.kind === "identity.result") {
    return st(p.outcome === "verified" ? "event.identity.result.verified" : "event.identity.result.failed");
  }
  const key = `event.${event.kind}`;
  if (!has(key)) return st("event.other");
  const side = (name) => (has(`side.${name}`) ? st(`side.${name}`) : "–");
  return st(key, {
    from: p.from ?? "–",
    to: p.to ?? "–",
    rating: p.rating ?? "–",
    // a break in the call's media: who noticed, how long, whose link
    by: side(p.reported_by),
    attempt: p.attempt ?? "–",
    gap: typeof p.gap_ms === "number" ? (p.gap_ms / 1000).toFixed(1) : "–",
    link: has(`link.${p.link}`) ? st(`link.${p.link}`) : "–",
    // a transfer: the clerk it is kept for and their department, or the department
    target: p.to_clerk ? `${p.to_clerk} · ${p.to_department}` : (p.to_department ?? "–"),
    // a warm transfer's consultation, or a callback's call: how it ended
    outcome: has(`consult.outcome.${p.outcome}`)
      ? st(`consult.outcome.${p.outcome}`)
      : has(`outcome.${p.outcome}`)
        ? st(`outcome.${p.outcome}`)
        : (p.outcome ?? "–"),
  });
}
