// Console actions that wait for the server (a decision takes seconds: it seals documents)
// show that they are working and cannot be sent twice: the button is disabled, says what is
// happening and carries aria-busy (console.css draws a spinner) until the answer comes.

/**
 * Run ``work()`` with ``button`` busy (disabled, ``label`` as its text); a press while it runs
 * does nothing. Returns what ``work`` returns, or undefined when it was already running.
 */
export async function whileBusy(button, label, work) {
  if (!button || button.getAttribute("aria-busy") === "true") return undefined;
  const text = button.textContent;
  const wasDisabled = button.disabled;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = label;
  try {
    return await work();
  } finally {
    button.removeAttribute("aria-busy");
    // the page may have redrawn the button meanwhile: only put back what is still ours
    if (button.textContent === label) button.textContent = text;
    button.disabled = wasDisabled;
  }
}
