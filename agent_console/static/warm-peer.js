// The next call's peer connection, made while the clerk waits for it.
//
// Made with a candidate pool, the browser gathers its ICE candidates at once, and the
// camera's tracks are on its senders: answering the next kiosk's offer is then only
// setRemoteDescription, createAnswer and setLocalDescription, with every candidate in the
// answer from the start. The ICE servers are the last call's (a clerk's are the same for
// every call unless TURN credentials are minted per call; then they are swapped in).

import { icePolicy, rtcConfig, toRtcIceServer } from "./call.js";

const POOL_SIZE = 1;

/** Whether two ICE server lists (as the server sends them) are the same. */
function sameServers(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class WarmPeer {
  constructor(camera) {
    this.camera = camera;
    this.pc = null;
    this.servers = null;
  }

  /** Have a peer ready for the next call with ``iceServers``, unless one is. */
  prepare(iceServers) {
    if (this.pc && this.policy === icePolicy.value && sameServers(this.servers, iceServers)) return;
    this.close();
    const pc = new RTCPeerConnection({ ...rtcConfig(iceServers), iceCandidatePoolSize: POOL_SIZE });
    this.pc = pc;
    this.servers = iceServers;
    this.policy = icePolicy.value;
    this.camera.acquire().then(
      (stream) => {
        if (!stream || this.pc !== pc || pc.signalingState === "closed") return;
        for (const track of stream.getTracks()) pc.addTrack(track, stream);
      },
      () => undefined, // the camera's error is shown by whoever asked for it first
    );
  }

  /** The ready peer, set to ``iceServers`` (null if none is ready); it is the caller's now. */
  take(iceServers) {
    const pc = this.pc;
    // candidates gathered under another policy would be the wrong kind: start afresh
    if (!pc || pc.signalingState !== "stable" || pc.remoteDescription || this.policy !== icePolicy.value) {
      this.close();
      return null;
    }
    if (!sameServers(this.servers, iceServers)) {
      if (iceServers.some((server) => server.credential != null)) {
        // TURN credentials are minted per session: candidates pooled under the last ones
        // would relay this call on another session's allocation. Start afresh with these.
        this.close();
        return null;
      }
      try {
        pc.setConfiguration({ ...pc.getConfiguration(), iceServers: iceServers.map(toRtcIceServer) });
      } catch {
        this.close();
        return null;
      }
    }
    this.pc = null;
    this.servers = null;
    return pc;
  }

  /** Drop the ready peer (the clerk went away, or signed out). */
  close() {
    if (this.pc) this.pc.close();
    this.pc = null;
    this.servers = null;
  }
}
