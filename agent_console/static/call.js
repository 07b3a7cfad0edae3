// One call's WebRTC side: the clerk's camera and microphone, the peer connection, the
// answer to the kiosk's offer and the trickled ICE candidates.
//
// The kiosk (aiortc) makes the offer as soon as it gets ``call_accepted``, so the offer and
// its candidates can reach the console before its own ``call_accepted``: they are buffered
// until the peer connection exists and has the remote description.
// Each step of the set-up leaves a ``performance.mark("vcounter:…")`` to profile it in DevTools.
//
// A call outlives its peer connections: when one fails, the kiosk makes the next and offers
// it with ``attempt`` one higher (aiortc has no ICE restart). The console answers it with a
// new RTCPeerConnection and the same camera, on the same session; messages of an older
// attempt are dropped. Attempt 0 is the call's first peer connection.

import { EVENTS } from "./protocol.js";
import { LinkWatch } from "./link-quality.js";

// How long an answer waits for ICE gathering before it goes with what it has.
const GATHER_WAIT_MS = 150;

function waitForGathering(pc, ms) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, ms);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

/**
 * The offer without its ICE candidates, and the candidates apart. While a call rings the
 * console answers the bare offer: gathering runs, but with no remote candidate the browser
 * sends no connectivity check to the kiosk before the clerk has accepted.
 */
export function splitCandidates(sdp) {
  const candidates = [];
  let mid = null;
  let mline = -1;
  const kept = [];
  for (const line of sdp.split(/\r\n|\n/)) {
    if (line.startsWith("m=")) {
      mline += 1;
      mid = null;
    } else if (line.startsWith("a=mid:")) {
      mid = line.slice("a=mid:".length);
    }
    if (line.startsWith("a=candidate:")) {
      candidates.push({ candidate: line.slice(2), sdpMid: mid, sdpMLineIndex: mline });
      continue;
    }
    if (line === "a=end-of-candidates") continue;
    kept.push(line);
  }
  // each candidate names its section by index as well: a=mid may follow the candidates
  return { sdp: kept.join("\r\n"), candidates };
}

export const Phase = Object.freeze({
  RINGING: "ringing", // offered; the camera warms up while the clerk decides
  WAITING_OFFER: "waiting_offer", // accepted; the kiosk's offer has not come yet
  CONNECTING: "connecting", // answer sent, ICE/DTLS under way
  CONNECTED: "connected",
  UNSTABLE: "unstable", // was connected, ICE reports "disconnected"; may recover
  CLOSED: "closed",
});

/**
 * A call for one session. ``hooks``:
 *   send(event, payload)   emit a clerk event
 *   changed()              phase or media changed: re-render
 *   mediaError(err)        the camera or microphone cannot be used
 *   failed(message)        WebRTC could not be set up
 */
export class Call {
  constructor(sessionId, { localVideo, remoteVideo }, camera, hooks) {
    this.sessionId = sessionId;
    this.camera = camera;
    this.localVideo = localVideo;
    this.remoteVideo = remoteVideo;
    this.hooks = hooks;
    this.phase = Phase.RINGING;
    this.pc = null;
    this.warmStart = false; // whether its peer connection was made ahead (warm-peer.js)
    this.localStream = null;
    this.mediaPromise = null;
    this.pendingOffer = null;
    this.pendingCandidates = [];
    this.answerSent = false;
    this.endOfCandidatesHeld = false;
    this.connectedAt = null;
    this.sentEndOfCandidates = false;
    this.attempt = 0; // which of the call's peer connections ``pc`` is
    this.iceServers = null;
    // the media's figures and breaks, reported to the server (link-quality.js)
    this.link = new LinkWatch(
      () => ({ pc: this.pc, trackId: this.pictureTrackId }),
      (body) => this.hooks.send(EVENTS.MEDIA_STATUS, { session_id: this.sessionId, ...body }),
    );
    this.pictureTrackId = null; // the applicant's camera's track, for its frame counts
    // One step at a time: an ICE candidate must not overtake the offer it belongs to.
    this.chain = Promise.resolve();
    // An answer built while ringing waits here until the server confirms the accept.
    this.ringIce = null;
    this.isAccepted = false;
    this.accepted = new Promise((resolve) => {
      this.release = resolve;
    });
    // Settles once the media is connected, or the call closed or failed before it was.
    this.setUp = new Promise((resolve) => {
      this.settled = resolve;
    });
  }

  /** Whether a call the clerk has taken is still being set up (answer, ICE, DTLS). */
  get settingUp() {
    return this.isAccepted && this.connectedAt === null && !this.closed;
  }

  get closed() {
    return this.phase === Phase.CLOSED;
  }

  /** Seconds since media connected (0 before). */
  connectedSeconds(now = performance.now()) {
    return this.connectedAt === null ? 0 : (now - this.connectedAt) / 1000;
  }

  /** The shared camera's stream for this call (once); resolves to it, or null if refused. */
  prepareMedia() {
    if (this.mediaPromise) return this.mediaPromise;
    this.mediaPromise = this.camera
      .acquire()
      .then((stream) => {
        if (this.closed || !stream) return null;
        this.localStream = stream;
        this.localVideo.muted = true;
        if (this.localVideo.srcObject !== stream) this.localVideo.srcObject = stream;
        playQuietly(this.localVideo);
        this.hooks.changed();
        return stream;
      })
      .catch((err) => {
        if (!this.closed) this.hooks.mediaError(err);
        return null;
      });
    return this.mediaPromise;
  }

  /**
   * The call rings with the session's ICE servers and, when the kiosk made it already, its
   * offer: the answer is built now and goes out the moment the call is accepted, so
   * accepting connects at once instead of starting WebRTC then.
   */
  ring(iceServers, offerSdp) {
    if (this.closed || this.pc) return;
    this.ringIce = iceServers;
    if (offerSdp) this.handleDescription({ type: "offer", sdp: offerSdp });
  }

  // Accepted: the kiosk's candidates go in now, so the browser's checks start at once,
  // even while the answer is still gathering (the kiosk defers checks that arrive early).
  #addHeldCandidates() {
    const pc = this.pc;
    if (!this.isAccepted || !this.heldCandidates || !pc || !pc.remoteDescription) return;
    const held = this.heldCandidates;
    this.heldCandidates = null;
    for (const c of held) pc.addIceCandidate(c).catch((err) => this.hooks.failed(err.message));
  }

  #holdCandidates(offer) {
    const { sdp, candidates } = splitCandidates(offer.sdp);
    this.heldCandidates = candidates;
    return { ...offer, sdp };
  }

  /** The server confirmed the accept: the prepared answer goes, or the peer is built now. */
  start(iceServers) {
    if (this.closed) return;
    performance.mark("vcounter:call-accepted");
    this.isAccepted = true;
    this.release();
    // the call's own servers (credentials may be minted per call), for its later attempts
    if (iceServers) this.iceServers = iceServers;
    if (this.phase === Phase.RINGING) this.phase = this.answerSent ? Phase.CONNECTING : Phase.WAITING_OFFER;
    this.prepareMedia();
    if (this.pc) {
      this.#addHeldCandidates();
      this.hooks.changed();
      return;
    }
    this.#createPeer(iceServers);
    this.hooks.changed();
    if (this.pendingOffer) {
      const offer = this.pendingOffer;
      this.pendingOffer = null;
      this.#enqueue(() => this.#answer(offer));
    }
  }

  /**
   * The call a reloaded page comes back to, at peer connection ``attempt`` (which went with
   * the old page): reported failed, so the kiosk makes the next and offers it here.
   */
  resume(iceServers, attempt) {
    if (this.closed) return;
    this.attempt = attempt;
    this.link.restarted(attempt);
    this.start(iceServers);
    this.link.connectionState("failed");
  }

  /**
   * A call handed over to this console (a warm transfer): the kiosk makes peer connection
   * ``attempt`` for it, answered here as any offer.
   */
  takeOver(iceServers, attempt) {
    if (this.closed) return;
    this.attempt = attempt;
    this.link.restarted(attempt);
    this.start(iceServers);
  }

  /**
   * A warm transfer's hold: the kiosk gets ``media`` ({audio, video}) instead of this
   * console's camera and microphone, or them again (null). No renegotiation (replaceTrack).
   */
  hold(media) {
    if (!this.pc) return;
    if (media) {
      this.held = this.pc.getSenders().filter((s) => s.track).map((s) => [s, s.track]);
      for (const [sender, track] of this.held) sender.replaceTrack(media[track.kind] || null).catch(() => undefined);
    } else if (this.held) {
      for (const [sender, track] of this.held) sender.replaceTrack(track).catch(() => undefined);
      this.held = null;
    }
  }

  /** A relayed ``description`` for this session (the kiosk's offer). */
  handleDescription(message) {
    if (this.closed) return;
    performance.mark("vcounter:offer-received");
    if (message.type !== "offer") return; // the console only ever answers
    const attempt = message.attempt ?? 0;
    if (attempt < this.attempt) return; // of a peer connection the kiosk has replaced
    if (attempt > this.attempt) this.#newAttempt(attempt);
    if (!this.pc && this.ringIce && this.phase === Phase.RINGING) {
      // ringing: answer ahead, holding the candidates back until the accept
      this.#createPeer(this.ringIce);
      this.#enqueue(() => this.#answer(this.#holdCandidates(message)));
      return;
    }
    if (!this.pc) {
      this.pendingOffer = message;
      return;
    }
    this.#enqueue(() => this.#answer(message));
  }

  #createPeer(iceServers) {
    this.iceServers = iceServers;
    // the first: the one made while the clerk waited (warm-peer.js), else a new one
    const warm = this.attempt === 0 && this.hooks.takePeer ? this.hooks.takePeer(iceServers) : null;
    if (this.attempt === 0) this.warmStart = Boolean(warm);
    const pc = (this.pc = warm || new RTCPeerConnection(rtcConfig(iceServers)));
    this.remoteStream = new MediaStream();
    // a replaced peer connection's late events are not this call's any more
    pc.addEventListener("track", (event) => pc === this.pc && this.#onTrack(event));
    pc.addEventListener("icecandidate", (event) => pc === this.pc && this.#onIceCandidate(event));
    pc.addEventListener("connectionstatechange", () => pc === this.pc && this.#onConnectionState());
  }

  /**
   * The kiosk offers peer connection ``attempt`` for this call: the last one goes, and its
   * candidates with it. Its replacement is made now if the call was accepted (else as for a
   * first offer), and answers the new offer with the camera the shift already runs.
   */
  #newAttempt(attempt) {
    const old = this.pc;
    this.pc = null;
    if (old) old.close();
    this.attempt = attempt;
    this.answerSent = false;
    this.endOfCandidatesHeld = false;
    this.sentEndOfCandidates = false;
    this.heldCandidates = null;
    this.pendingOffer = null;
    this.pendingCandidates = this.pendingCandidates.filter((c) => (c.attempt ?? 0) >= attempt);
    this.link.restarted(attempt);
    if (!this.isAccepted) return;
    if (this.connectedAt !== null) this.phase = Phase.UNSTABLE;
    this.#createPeer(this.iceServers);
    this.hooks.changed();
  }

  /** A relayed ``ice_candidate``; an empty candidate is end-of-candidates. */
  handleCandidate(message) {
    if (this.closed) return;
    const attempt = message.attempt ?? 0;
    if (attempt < this.attempt) return; // for a peer connection that is gone
    if (attempt > this.attempt || !this.pc || !this.pc.remoteDescription) {
      this.pendingCandidates.push(message);
      return;
    }
    this.#enqueue(() => this.#addCandidate(message));
  }

  /** Stop everything: the peer connection, the camera and microphone, the video elements. */
  close() {
    if (this.closed) return;
    this.phase = Phase.CLOSED;
    this.release(); // an answer waiting for the accept sees the call closed and stops
    this.settled();
    this.link.stop();
    const pc = this.pc;
    this.pc = null;
    if (pc) pc.close();
    // The camera belongs to the shift, not the call (camera.js): leave it running.
    this.localStream = null;
    if (this.remoteStream) stopStream(this.remoteStream);
    this.remoteStream = null;
    this.remoteVideo.srcObject = null;
    this.pendingCandidates = [];
    this.pendingOffer = null;
  }

  #enqueue(step) {
    this.chain = this.chain
      .then(() => (this.closed ? undefined : step()))
      .catch((err) => {
        this.settled();
        if (!this.closed) this.hooks.failed(err && err.message ? err.message : String(err));
      });
  }

  async #answer(offer) {
    const pc = this.pc;
    const attempt = this.attempt;
    // an offer of an attempt since replaced has nothing more to do
    const replaced = () => this.pc !== pc;
    if (!pc) return;
    await pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
    if (replaced()) return;
    this.#addHeldCandidates(); // accepted before the offer was in
    // Answer at once, sending both ways: the camera may still be starting, and neither the
    // connection nor the applicant's picture on this side need wait for it. Its tracks go
    // onto the answered senders when ready (replaceTrack needs no renegotiation).
    const warm = this.camera.stream;
    if (warm) {
      // The usual case: the camera runs all shift, so its tracks go into the answer itself.
      const sent = new Set(pc.getSenders().map((sender) => sender.track));
      for (const track of warm.getTracks()) if (!sent.has(track)) pc.addTrack(track, warm);
      this.prepareMedia();
    } else {
      for (const transceiver of pc.getTransceivers()) transceiver.direction = "sendrecv";
      this.#attachMedia(pc);
    }
    await pc.setLocalDescription(await pc.createAnswer());
    if (replaced()) return;
    // Half-trickle: the answer carries the candidates gathered in its first moments (on a LAN,
    // all of them). aiortc checks only the candidates it has when the answer lands; trickled
    // ones wait for the browser's own checks, which cost ~60 ms more per call.
    await waitForGathering(pc, GATHER_WAIT_MS);
    // Built while ringing: only an accepted call sends its answer (the server refuses others).
    await this.accepted;
    if (this.closed || replaced()) return;
    if (this.phase === Phase.WAITING_OFFER) this.phase = Phase.CONNECTING;
    performance.mark("vcounter:answer-sent");
    this.hooks.send(EVENTS.DESCRIPTION, {
      session_id: this.sessionId,
      type: "answer",
      sdp: pc.localDescription.sdp,
      attempt,
    });
    this.answerSent = true;
    if (this.endOfCandidatesHeld) this.#sendCandidate(null);
    this.hooks.changed();
    const pending = this.pendingCandidates.filter((c) => (c.attempt ?? 0) === attempt);
    this.pendingCandidates = this.pendingCandidates.filter((c) => (c.attempt ?? 0) > attempt);
    for (const candidate of pending) await this.#addCandidate(candidate);
  }

  async #attachMedia(pc) {
    const stream = await this.prepareMedia();
    if (!stream || this.closed || this.pc !== pc) return;
    try {
      for (const track of stream.getTracks()) {
        const transceiver = pc
          .getTransceivers()
          .find((t) => t.receiver.track.kind === track.kind && !t.sender.track && !t.stopped);
        if (transceiver) await transceiver.sender.replaceTrack(track);
      }
      performance.mark("vcounter:media-attached");
    } catch (err) {
      if (!this.closed) this.hooks.failed(err && err.message ? err.message : String(err));
    }
  }

  async #addCandidate(message) {
    if (!this.pc || (message.attempt ?? 0) !== this.attempt) return;
    if (!message.candidate) {
      // End-of-candidates; older browsers reject the empty form, which is harmless.
      await this.pc.addIceCandidate().catch(() => undefined);
      return;
    }
    await this.pc.addIceCandidate({
      candidate: message.candidate,
      sdpMid: message.sdp_mid,
      sdpMLineIndex: message.sdp_mline_index,
    });
  }

  #onTrack(event) {
    if (this.closed) return;
    // A kiosk with a document camera offers a second video after its camera (m-line 3):
    // that one goes to the documents panel, not into the applicant's picture.
    const index = this.pc.getTransceivers().indexOf(event.transceiver);
    if (event.track.kind === "video" && index >= 2 && this.hooks.documentTrack) {
      this.hooks.documentTrack(event.track);
      return;
    }
    if (event.track.kind === "video") this.pictureTrackId = event.track.id;
    this.remoteStream.addTrack(event.track);
    if (this.remoteVideo.srcObject !== this.remoteStream) {
      this.remoteVideo.srcObject = this.remoteStream;
    }
    playQuietly(this.remoteVideo);
  }

  #onIceCandidate(event) {
    if (this.closed) return;
    const candidate = event.candidate;
    if (!this.answerSent) {
      // Gathered before the answer went out: already inside it (localDescription has it).
      if (!candidate || !candidate.candidate) this.endOfCandidatesHeld = true;
      return;
    }
    this.#sendCandidate(candidate);
  }

  #sendCandidate(candidate) {
    if (!candidate || !candidate.candidate) {
      // null (gathering complete) or Chrome's empty per-section marker: one end-of-candidates.
      if (this.sentEndOfCandidates) return;
      this.sentEndOfCandidates = true;
      this.hooks.send(EVENTS.ICE_CANDIDATE, {
        session_id: this.sessionId,
        candidate: "",
        attempt: this.attempt,
      });
      return;
    }
    this.hooks.send(EVENTS.ICE_CANDIDATE, {
      session_id: this.sessionId,
      candidate: candidate.candidate,
      sdp_mid: candidate.sdpMid ?? null,
      sdp_mline_index: candidate.sdpMLineIndex ?? null,
      attempt: this.attempt,
    });
  }

  #onConnectionState() {
    const pc = this.pc;
    if (!pc || this.closed) return;
    const state = pc.connectionState;
    if (state === "connected") {
      if (this.connectedAt === null) {
        this.connectedAt = performance.now();
        performance.mark("vcounter:connected");
      }
      this.phase = Phase.CONNECTED;
      this.settled();
    } else if ((state === "disconnected" || state === "failed") && this.connectedAt !== null) {
      this.phase = Phase.UNSTABLE;
    }
    // reported as it is: the server, not the console, decides whether the call goes on (a
    // failed peer connection is replaced by the kiosk's next offer) and ends it if not
    this.link.connectionState(state);
    this.hooks.changed();
  }
}

/** How the console's peers gather candidates, as the server last said: "all", or "relay"
 * (TURN only, for halls whose direct path is blocked). Set from each status, offer and call. */
export const icePolicy = { value: "all" };

/** An RTCConfiguration for the server's ICE servers and the policy it set. */
export function rtcConfig(iceServers) {
  return { iceServers: iceServers.map(toRtcIceServer), iceTransportPolicy: icePolicy.value };
}

/** One of the server's ICE servers as an RTCIceServer. */
export function toRtcIceServer(server) {
  const out = { urls: server.urls };
  // RTCIceServer takes strings: a null would become the text "null".
  if (server.username != null) out.username = server.username;
  if (server.credential != null) out.credential = server.credential;
  return out;
}

function stopStream(stream) {
  for (const track of stream.getTracks()) track.stop();
}

function playQuietly(video) {
  // play() rejects when a newer srcObject replaces this one; that is expected, not an error.
  const played = video.play();
  if (played && typeof played.catch === "function") played.catch(() => undefined);
}
