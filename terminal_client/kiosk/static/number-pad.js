// The kiosk's number pad: digits, Clear and Delete (and an X key where a number may end in
// X), filled into every <div data-pad="NAME">. What is typed stays on the page, in the slot
// the page names for each pad, until the applicant sends it.

const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', 'clear', '0', 'delete'];

function key(name, which) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'secondary';
  if (which === 'clear' || which === 'delete') {
    button.dataset.action = `pad-${which}`;
    button.dataset.arg = name;
    button.dataset.testid = `${name}-${which}`;
    button.dataset.i18n = `callback.${which}`;
  } else {
    button.dataset.action = 'pad-key';
    button.dataset.arg = `${name}:${which}`;
    button.dataset.testid = `${name}-key-${which}`;
    button.textContent = which;
  }
  return button;
}

/** Fill each empty pad under root with its keys (data-pad-extra: more keys, e.g. "X"). */
export function fillPads(root) {
  root.querySelectorAll('[data-pad]').forEach((pad) => {
    if (pad.children.length) return;
    const extra = (pad.dataset.padExtra || '').split('').filter(Boolean);
    [...KEYS, ...extra].forEach((which) => pad.append(key(pad.dataset.pad, which)));
  });
}

/**
 * The pads' actions. slotOf(name) says where a pad's digits go: { get(), set(value), max }.
 * update() redraws the page.
 */
export function padActions(slotOf, update) {
  const change = (name, edit) => {
    const slot = slotOf(name);
    if (!slot) return;
    slot.set(edit(slot.get(), slot.max));
    update();
  };
  return {
    'pad-key': (arg) => {
      const [name, digit] = arg.split(':');
      change(name, (value, max) => (value.length < max ? value + digit : value));
    },
    'pad-delete': (name) => change(name, (value) => value.slice(0, -1)),
    'pad-clear': (name) => change(name, () => ''),
  };
}

/** Disable (or enable) every key of the pad NAME. */
export function lockPad(root, name, locked) {
  root.querySelectorAll(`[data-pad="${name}"] button`).forEach((button) => { button.disabled = locked; });
}
