// The first moment of a call belongs to its set-up (the answer, ICE, the first frames): the
// side panels load their data for a new call just after it, not in the middle of it, where
// their requests and rendering pushed the clerk's first frame at the kiosk back by ~35 ms.

export const SETTLE_MS = 1200;

/** Run ``load`` once the call has had its moment, unless ``stillCurrent()`` says it moved on. */
export function afterSetup(stillCurrent, load) {
  setTimeout(() => {
    if (stillCurrent()) load();
  }, SETTLE_MS);
}
