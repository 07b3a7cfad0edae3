// Care mode's voice: plays the WAV files the kiosk process made with espeak-ng.
// Each screen's instruction plays once when the screen (or its language) appears; a clerk's
// prompt plays when it arrives and cuts off the screen's instruction.

export class Speaker {
  constructor(audio) {
    this.audio = audio;
    this.lastScreenKey = '';
    this.spokenPrompts = new Set();
  }

  /** Play what `view` newly asks to be said; silent outside care mode. */
  update(view) {
    if (!view.care_mode) {
      this.stop();
      this.lastScreenKey = '';
      return;
    }
    const newest = view.prompts[view.prompts.length - 1];
    if (newest && newest.audio_url && !this.spokenPrompts.has(newest.id)) {
      this.spokenPrompts.add(newest.id);
      this.play(newest.audio_url);
      return;
    }
    const key = `${view.screen}|${view.speech_url}`;
    if (view.speech_url && key !== this.lastScreenKey) {
      this.lastScreenKey = key;
      this.play(view.speech_url);
    } else if (!view.speech_url) {
      this.lastScreenKey = '';
    }
  }

  play(url) {
    this.audio.src = url;
    this.audio.dataset.playing = url;
    // a refusal (no audio device, autoplay blocked) must not stop the page; it still shows
    this.audio.play().catch((error) => console.warn(`kiosk: cannot play ${url}: ${error.name}`));
  }

  stop() {
    if (!this.audio.paused) this.audio.pause();
  }
}
