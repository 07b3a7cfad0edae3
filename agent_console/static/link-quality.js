// How a call's media is doing, read from the browser's own statistics (getStats) of the
// call's current peer connection.
//
// Two uses of the same readings:
//  - the figures the clerk sees (round trip, loss, bitrate, frame rate) once a second, and
//    whether the link is weak;
//  - the server's view of the media (``media_status``): ``connected`` when an attempt's peer
//    connection first connects and again once pictures decode after a break, ``interrupted``
//    once per break (no picture decoded for a second, or ICE "disconnected"), ``failed`` once
//    per attempt. The console never ends a call on these: the server decides, and says so
//    with ``media_state`` and, in the end, ``call_ended``.

// Often enough to see a one-second stall within a quarter of a second of its threshold.
const POLL_MS = 250;
const FIGURES_MS = 1000;
/** No picture decoded for this long is a break. */
export const STALL_MS = 1000;
// The weak-link hint reads the last three one-second figures. It comes on past the first
// limits and goes only inside the second: a link at the edge must not make it flicker.
const WEAK_SAMPLES = 3;
const WEAK_PAST = { rtt_ms: 400, loss_pct: 3, fps: 10 };
const STRONG_WITHIN = { rtt_ms: 300, loss_pct: 1.5, fps: 15 };
// What the protocol allows (MediaFigures, MediaStatus.stalled_ms in signaling/messages.py).
const LIMITS = { rtt_ms: 600_000, loss_pct: 100, bitrate_kbps: 1_000_000, fps: 1000 };
const MAX_STALLED_MS = 3_600_000;

export const NO_FIGURES = Object.freeze({ rtt_ms: null, loss_pct: null, bitrate_kbps: null, fps: null });

/**
 * The counters of one getStats report that the figures come from. ``trackId`` is the
 * applicant's picture's track (a kiosk may send a document camera's video as well).
 */
export function readReport(report, trackId, at) {
  const videos = [];
  const pairs = new Map();
  let bytes = 0;
  let selectedPair = null;
  report.forEach((s) => {
    if (s.type === "inbound-rtp") {
      bytes += s.bytesReceived || 0;
      if (s.kind === "video") videos.push(s);
    } else if (s.type === "candidate-pair") {
      pairs.set(s.id, s);
    } else if (s.type === "transport" && s.selectedCandidatePairId) {
      selectedPair = s.selectedCandidatePairId;
    }
  });
  const video = videos.find((v) => trackId && v.trackIdentifier === trackId) ?? videos[0] ?? null;
  const pair =
    pairs.get(selectedPair) ?? [...pairs.values()].find((p) => p.nominated && p.state === "succeeded");
  const rtt = pair && typeof pair.currentRoundTripTime === "number" ? pair.currentRoundTripTime * 1000 : null;
  return {
    at,
    frames: video ? video.framesDecoded ?? null : null,
    lost: video ? video.packetsLost ?? null : null,
    received: video ? video.packetsReceived ?? null : null,
    bytes,
    rttMs: rtt,
  };
}

/** The figures between two readings of the same peer connection. */
export function figuresBetween(before, after) {
  const seconds = (after.at - before.at) / 1000;
  let loss = null;
  if (after.lost !== null && before.lost !== null && after.received !== null && before.received !== null) {
    const lost = Math.max(0, after.lost - before.lost);
    const got = Math.max(0, after.received - before.received);
    // nothing arrived and nothing known lost (a link that is down): unknown, not 0 %
    if (lost + got > 0) loss = (100 * lost) / (lost + got);
  }
  const fps =
    after.frames !== null && before.frames !== null && seconds > 0
      ? Math.max(0, after.frames - before.frames) / seconds
      : null;
  const bitrate = seconds > 0 ? (Math.max(0, after.bytes - before.bytes) * 8) / 1000 / seconds : null;
  return {
    rtt_ms: bounded(after.rttMs, "rtt_ms", 0),
    loss_pct: bounded(loss, "loss_pct", 1),
    bitrate_kbps: bounded(bitrate, "bitrate_kbps", 0),
    fps: bounded(fps, "fps", 1),
  };
}

function bounded(value, name, digits) {
  if (value === null || !Number.isFinite(value)) return null;
  const scale = 10 ** digits;
  return Math.round(Math.min(LIMITS[name], Math.max(0, value)) * scale) / scale;
}

function mean(samples, name) {
  const known = samples.map((s) => s[name]).filter((v) => v !== null);
  return known.length ? known.reduce((a, b) => a + b, 0) / known.length : null;
}

/** Whether the link is weak, over the last few seconds' figures (with hysteresis). */
export class Weakness {
  constructor() {
    this.samples = [];
    this.weak = false;
  }

  /** Take one second's figures; returns whether the link is weak now. */
  add(figures) {
    this.samples.push(figures);
    if (this.samples.length > WEAK_SAMPLES) this.samples.shift();
    if (this.samples.length < WEAK_SAMPLES) return this.weak;
    const rtt = mean(this.samples, "rtt_ms");
    const loss = mean(this.samples, "loss_pct");
    const fps = mean(this.samples, "fps");
    if (!this.weak) {
      this.weak =
        (rtt !== null && rtt > WEAK_PAST.rtt_ms) ||
        (loss !== null && loss > WEAK_PAST.loss_pct) ||
        (fps !== null && fps < WEAK_PAST.fps);
    } else {
      this.weak = !(
        (rtt === null || rtt <= STRONG_WITHIN.rtt_ms) &&
        (loss === null || loss <= STRONG_WITHIN.loss_pct) &&
        (fps === null || fps >= STRONG_WITHIN.fps)
      );
    }
    return this.weak;
  }
}

/**
 * Watches one call's media. ``peer()`` gives the call's current ``{pc, trackId}``;
 * ``report(body)`` sends a ``media_status`` body (without its session id).
 * The call tells it of each connection state (``connectionState``) and each new peer
 * connection (``restarted``); it reads the statistics by itself once the first connects.
 */
export class LinkWatch {
  constructor(peer, report) {
    this.peer = peer;
    this.report = report;
    this.weakness = new Weakness();
    this.latest = null; // the last second's figures
    this.timer = null;
    this.stopped = false;
    this.#reset(0);
  }

  #reset(attempt) {
    this.attempt = attempt;
    this.connectedAt = null; // when this attempt's peer connection first connected
    this.failed = false;
    this.broken = false; // a break reported and not over yet
    this.lastFrameAt = null; // the last time a picture was seen decoded
    this.said = null; // the last state reported of this attempt
    this.pc = null; // the peer connection the readings below are of
    this.frames = null;
    this.base = null; // the reading the next figures are measured from
  }

  /** The figures and the weak-link flag, for the call panel (and tests). */
  snapshot() {
    return { ...(this.latest ?? NO_FIGURES), weak: this.weakness.weak };
  }

  /** The call made peer connection ``attempt``: its reports start afresh. */
  restarted(attempt) {
    this.#reset(attempt);
  }

  /** The current peer connection's ``connectionState`` changed to ``state``. */
  connectionState(state, now = performance.now()) {
    if (this.stopped) return;
    if (state === "connected") {
      if (this.connectedAt !== null) return; // back after "disconnected": pictures will say
      this.connectedAt = now;
      this.#send("connected", 0);
      this.#schedule();
    } else if (state === "disconnected") {
      this.#interrupted(now);
    } else if (state === "failed" && !this.failed) {
      this.failed = true;
      this.broken = true; // this attempt is over: a new one reports its own connection
      this.#send("failed", this.#stalled(now));
    }
  }

  /** The console's socket is back in the same call: say again how the media stands (a
   * report made while it was down was dropped, not queued: see main.js #send). */
  resend(now = performance.now()) {
    if (this.stopped || this.said === null) return;
    this.#send(this.said, this.said === "connected" ? 0 : this.#stalled(now));
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
  }

  #stalled(now) {
    const since = this.lastFrameAt ?? this.connectedAt;
    return since === null ? 0 : Math.min(MAX_STALLED_MS, Math.max(0, Math.round(now - since)));
  }

  #interrupted(now) {
    if (this.connectedAt === null || this.broken) return;
    this.broken = true;
    this.#send("interrupted", this.#stalled(now));
  }

  #send(state, stalledMs) {
    this.said = state;
    this.report({ state, attempt: this.attempt, stalled_ms: stalledMs, figures: this.latest });
  }

  #schedule() {
    if (this.timer === null && !this.stopped) this.timer = setTimeout(() => this.#tick(), POLL_MS);
  }

  async #tick() {
    const { pc, trackId } = this.peer();
    // a peer connection closed meanwhile (the call's next attempt replaced it) has no statistics
    const report = pc ? await pc.getStats().catch(() => null) : null;
    this.timer = null;
    if (this.stopped) return;
    if (report && pc === this.peer().pc) this.#read(pc, readReport(report, trackId, performance.now()));
    this.#schedule();
  }

  #read(pc, reading) {
    if (this.pc !== pc) {
      // a new peer connection's counters start from zero
      this.pc = pc;
      this.frames = reading.frames;
      this.base = reading;
      return;
    }
    if (reading.frames !== null && (this.frames === null || reading.frames > this.frames)) {
      this.lastFrameAt = reading.at;
      if (this.broken && !this.failed) {
        this.broken = false;
        this.#send("connected", 0);
      }
    } else if (this.lastFrameAt !== null && reading.at - this.lastFrameAt >= STALL_MS) {
      // only once pictures have come: a kiosk that sends none is not stalled
      this.#interrupted(reading.at);
    }
    if (reading.frames !== null) this.frames = reading.frames;
    if (reading.at - this.base.at >= FIGURES_MS - POLL_MS / 2) {
      this.latest = figuresBetween(this.base, reading);
      this.weakness.add(this.latest);
      this.base = reading;
    }
  }
}
