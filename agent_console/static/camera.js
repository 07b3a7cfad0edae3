// The clerk's camera and microphone, shared by all calls of a shift.
//
// They stay on while the clerk takes calls (available, ringing, in a call) and show in the
// self-view, as at a staffed counter: an incoming call then connects without waiting for the
// camera to start, and a broken camera is noticed before an applicant is on the line. They go
// off when the clerk is away or signs out.

const MEDIA_CONSTRAINTS = Object.freeze({
  audio: { echoCancellation: true, noiseSuppression: true },
  video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } },
});

export class Camera {
  constructor() {
    this.stream = null;
    this.promise = null;
  }

  /** Start the camera (once); resolves to the stream, rejects with the browser's error. */
  acquire() {
    if (this.promise) return this.promise;
    performance.mark("vcounter:media-requested");
    const promise = navigator.mediaDevices.getUserMedia(MEDIA_CONSTRAINTS).then(
      (stream) => {
        if (this.promise !== promise) {
          // released while starting
          for (const track of stream.getTracks()) track.stop();
          return null;
        }
        performance.mark("vcounter:media-ready");
        this.stream = stream;
        return stream;
      },
      (err) => {
        if (this.promise === promise) this.promise = null;
        throw err;
      },
    );
    this.promise = promise;
    return promise;
  }

  /** Turn the camera and microphone off. */
  release() {
    this.promise = null;
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
  }
}
