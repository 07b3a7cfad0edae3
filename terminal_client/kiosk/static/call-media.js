// Starts the clerk's video and audio when the call screen shows and stops them after.
// The drawing and playing is kiosk-media.js's (the media bridge: frames the kiosk process
// decoded, over /media/video and /media/audio); this only follows the screen.

export class CallMedia {
  constructor(root) {
    this.root = root;
    this.available = false; // the kiosk said (hello.media) that it serves /media/*
    this.active = false;
    this.session = null;
    this.bridge = null;
  }

  /** Call on every render with the screen shown. */
  follow(screen) {
    const wanted = screen === 'call';
    if (wanted === this.active) return;
    this.active = wanted;
    if (wanted) this.start();
    else this.stop();
  }

  async start() {
    if (!this.available) return;
    try {
      this.bridge = this.bridge || (await import('./kiosk-media.js'));
    } catch (error) {
      console.warn(`kiosk: media bridge unavailable (${error.message}); the call shows no video`);
      return;
    }
    if (!this.active || this.session) return;
    const canvas = this.root.querySelector('[data-testid=clerk-video]');
    const selfCanvas = this.root.querySelector('[data-testid=self-video]');
    this.session = this.bridge.startClerkMedia(canvas, { selfCanvas });
  }

  stop() {
    const session = this.session;
    this.session = null;
    if (session) session.stop();
  }
}
