// A warm transfer: the clerk of a call asks a free colleague about it first. The applicant
// holds (the kiosk gets a hold card and a tone, made here, instead of this clerk's camera and
// microphone); the two consoles talk browser to browser, signalled through the server
// (``consult_signal``); then the call is handed over (the kiosk makes a new peer connection
// for the colleague's console) or taken back. The colleague may decline, or leave.
//
// The server's ``consult`` message drives both sides: ``role`` is "caller" (the call's clerk,
// who makes the offer) or "consulted"; ``state`` is ringing, talking or ended.

import { rtcConfig } from "./call.js";
import { localized, t } from "./i18n.js";
import { EVENTS } from "./protocol.js";

// a slow arpeggio (C5 E5 G5 E5): music to wait on, not a beep, and never silence
const HOLD_NOTES = [523.25, 659.25, 783.99, 659.25];
const HOLD_NOTE_MS = 400;
const HOLD_CARD_FPS = 5;

/** The hold card and tone the kiosk gets while its clerk consults: {audio, video, stop()}. */
function holdMedia() {
  const ctx = new AudioContext();
  const out = ctx.createMediaStreamDestination();
  const gain = ctx.createGain();
  gain.gain.value = 0.3;
  gain.connect(out);
  const osc = ctx.createOscillator();
  osc.type = "sine";
  osc.connect(gain);
  let note = 0;
  const play = () => {
    osc.frequency.setValueAtTime(HOLD_NOTES[note % HOLD_NOTES.length], ctx.currentTime);
    note += 1;
  };
  play();
  osc.start();
  ctx.resume().catch(() => undefined);
  const tune = window.setInterval(play, HOLD_NOTE_MS);
  // the card: redrawn a few times a second, so the kiosk keeps receiving pictures (a still
  // canvas sends none, and the kiosk would take the silence for a broken link)
  const canvas = document.createElement("canvas");
  canvas.width = 640;
  canvas.height = 360;
  const g = canvas.getContext("2d");
  const draw = () => {
    g.fillStyle = "#0b2d5b";
    g.fillRect(0, 0, canvas.width, canvas.height);
    g.fillStyle = "#ffffff";
    g.textAlign = "center";
    g.font = "bold 44px sans-serif";
    g.fillText("請稍候 · 请稍候 · Please hold", canvas.width / 2, 170);
    g.font = "bold 44px sans-serif";
    g.fillText("•".repeat(1 + (Math.floor(Date.now() / 500) % 3)), canvas.width / 2, 240);
  };
  draw();
  const painter = window.setInterval(draw, 1000 / HOLD_CARD_FPS);
  const video = canvas.captureStream(HOLD_CARD_FPS).getVideoTracks()[0];
  return {
    audio: out.stream.getAudioTracks()[0],
    video,
    stop() {
      window.clearInterval(tune);
      window.clearInterval(painter);
      osc.stop();
      video.stop();
      ctx.close().catch(() => undefined);
    },
  };
}

/** The two consoles' peer connection: the caller offers, the consulted clerk answers. */
class ConsultPeer {
  constructor(sessionId, iceServers, camera, send, onRemote) {
    this.sessionId = sessionId;
    this.camera = camera;
    this.send = send;
    this.closed = false;
    this.remoteSet = false;
    this.heldCandidates = [];
    const pc = (this.pc = new RTCPeerConnection(rtcConfig(iceServers)));
    pc.ontrack = (event) => onRemote(event.streams[0] || new MediaStream([event.track]));
    pc.onicecandidate = (event) => {
      const c = event.candidate;
      if (!c || !c.candidate) return;
      this.#signal({ candidate: { candidate: c.candidate, sdp_mid: c.sdpMid ?? null, sdp_mline_index: c.sdpMLineIndex ?? null } });
    };
  }

  async #addCamera() {
    const stream = this.camera.stream || (await this.camera.acquire());
    if (!stream || this.closed) return;
    const sent = new Set(this.pc.getSenders().map((s) => s.track));
    for (const track of stream.getTracks()) if (!sent.has(track)) this.pc.addTrack(track, stream);
  }

  async offer() {
    await this.#addCamera();
    if (this.closed) return;
    await this.pc.setLocalDescription(await this.pc.createOffer());
    this.#signal({ description: { type: "offer", sdp: this.pc.localDescription.sdp } });
  }

  async signal(message) {
    if (this.closed) return;
    const description = message.description;
    if (description && description.type === "offer") {
      await this.pc.setRemoteDescription(description);
      await this.#addCamera();
      if (this.closed) return;
      await this.pc.setLocalDescription(await this.pc.createAnswer());
      this.#signal({ description: { type: "answer", sdp: this.pc.localDescription.sdp } });
      await this.#remoteSet();
    } else if (description && description.type === "answer") {
      await this.pc.setRemoteDescription(description);
      await this.#remoteSet();
    }
    if (message.candidate) {
      if (this.remoteSet) await this.#addCandidate(message.candidate);
      else this.heldCandidates.push(message.candidate);
    }
  }

  async #remoteSet() {
    this.remoteSet = true;
    for (const held of this.heldCandidates.splice(0)) await this.#addCandidate(held);
  }

  async #addCandidate(candidate) {
    await this.pc
      .addIceCandidate({ candidate: candidate.candidate, sdpMid: candidate.sdp_mid, sdpMLineIndex: candidate.sdp_mline_index })
      .catch(() => undefined);
  }

  #signal(fields) {
    if (!this.closed) this.send(EVENTS.CONSULT_SIGNAL, { session_id: this.sessionId, ...fields });
  }

  close() {
    this.closed = true;
    this.pc.close();
  }
}

export class Consultation {
  /**
   * ``hooks``: send(event, payload); camera; currentCall() (this console's call with a kiosk);
   * consulting(message | null): the consulted side's call panel opens (or closes) for it;
   * notice(desc); changed().
   */
  constructor(doc, hooks) {
    this.hooks = hooks;
    this.state = null; // the last ``consult`` message while one is open
    this.peer = null;
    this.hold = null; // the hold media on the kiosk's senders (caller)
    const $ = (id) => doc.getElementById(id);
    this.el = {
      bar: $("consult-bar"),
      text: $("consult-text"),
      video: $("consult-video"),
      handOver: $("consult-hand-over"),
      takeBack: $("consult-take-back"),
      leave: $("consult-leave"),
      incoming: $("consult-incoming"),
      incomingText: $("consult-incoming-text"),
      accept: $("consult-accept"),
      decline: $("consult-decline"),
    };
    this.el.handOver.addEventListener("click", () => this.#finish("hand_over"));
    this.el.takeBack.addEventListener("click", () => this.#finish("take_back"));
    this.el.leave.addEventListener("click", () => this.#finish("leave"));
    this.el.accept.addEventListener("click", () => this.#answer(true));
    this.el.decline.addEventListener("click", () => this.#answer(false));
  }

  /** Ask ``clerk`` about the call first (from the transfer form). */
  start(sessionId, clerk, departmentId) {
    this.hooks.send(EVENTS.CONSULT_START, { session_id: sessionId, clerk, department_id: departmentId });
  }

  /** The peer connection between the two consoles, while they talk (tests read it). */
  peerConnection() {
    return this.peer ? this.peer.pc : null;
  }

  get active() {
    return this.state !== null;
  }

  onConsult(message) {
    if (message.state === "ended") {
      this.#end(message);
      return;
    }
    const first = !this.state;
    this.state = message;
    if (message.role === "caller") {
      if (first) this.#holdKiosk(true);
      if (message.state === "talking" && !this.peer) {
        this.peer = this.#newPeer(message);
        this.peer.offer().catch((err) => this.hooks.failed(String(err)));
      }
    } else if (message.state === "talking") {
      if (!this.peer) this.peer = this.#newPeer(message);
      this.hooks.consulting(message);
    }
    this.render();
  }

  onSignal(message) {
    if (this.peer && this.state && message.session_id === this.state.session_id) {
      this.peer.signal(message).catch((err) => this.hooks.failed(String(err)));
    }
  }

  /** This console's call ended or was handed on: nothing of a consultation stays. */
  closeAll() {
    if (!this.state) return;
    this.#close();
    this.render();
  }

  render() {
    const s = this.state;
    const el = this.el;
    el.incoming.hidden = !(s && s.role === "consulted" && s.state === "ringing");
    if (!el.incoming.hidden) {
      el.incomingText.textContent = t("consult.asked", { name: s.peer_name, service: localized(s.service_name) });
    }
    const open = Boolean(s && (s.role === "caller" || s.state === "talking"));
    el.bar.hidden = !open;
    if (!open) return;
    const talking = s.state === "talking";
    if (s.role === "caller") {
      el.text.textContent = t(talking ? "consult.talkingCaller" : "consult.ringingCaller", { name: s.peer_name });
    } else {
      el.text.textContent = t("consult.talkingConsulted", { name: s.peer_name });
    }
    el.handOver.hidden = s.role !== "caller";
    el.handOver.disabled = !talking;
    el.takeBack.hidden = s.role !== "caller";
    el.leave.hidden = s.role !== "consulted";
  }

  #newPeer(message) {
    return new ConsultPeer(message.session_id, message.ice_servers, this.hooks.camera, this.hooks.send, (stream) => {
      if (this.el.video.srcObject !== stream) {
        this.el.video.srcObject = stream;
        this.el.video.play().catch(() => undefined);
      }
    });
  }

  #holdKiosk(on) {
    const call = this.hooks.currentCall();
    if (on && !this.hold) {
      this.hold = holdMedia();
      if (call) call.hold(this.hold);
    } else if (!on && this.hold) {
      if (call) call.hold(null);
      this.hold.stop();
      this.hold = null;
    }
  }

  #end(message) {
    const was = this.state;
    this.#close();
    if (was && was.role === "consulted" && message.outcome !== "handed_over") this.hooks.consulting(null);
    // (nothing to say to a clerk who declined: they know)
    if (was && message.outcome && message.outcome !== "handed_over") {
      this.hooks.notice({ key: `consult.ended.${message.outcome}`, params: { name: message.peer_name } });
    }
    this.render();
  }

  #close() {
    if (this.peer) this.peer.close();
    this.peer = null;
    this.#holdKiosk(false);
    this.el.video.srcObject = null;
    this.state = null;
  }

  #answer(accept) {
    if (!this.state) return;
    this.hooks.send(EVENTS.CONSULT_ANSWER, { session_id: this.state.session_id, accept });
    if (!accept) {
      this.state = null;
      this.render();
    }
  }

  #finish(outcome) {
    if (!this.state) return;
    this.hooks.send(EVENTS.CONSULT_FINISH, { session_id: this.state.session_id, outcome });
  }
}
