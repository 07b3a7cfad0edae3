// The kiosk's one translation layer: every text on screen comes from /i18n/<language>.json.
// Markup names its text with data-i18n (content), data-i18n-placeholder and data-i18n-aria;
// scripts call t('key', {param}) with a literal key or a known family (step.N, error.CODE).

export const LANGUAGES = ['zh-Hant', 'zh-Hans', 'en'];

const catalogues = {};
let current = 'zh-Hant';

/** Fetch all three catalogues once, at start: switching language must be instant. */
export async function loadCatalogues() {
  await Promise.all(LANGUAGES.map(async (language) => {
    const response = await fetch(`/i18n/${language}.json`, { cache: 'no-cache' });
    if (!response.ok) throw new Error(`cannot load /i18n/${language}.json: ${response.status}`);
    catalogues[language] = await response.json();
  }));
}

/** Switch the language used by t() and applyTranslations(). */
export function setLanguage(language) {
  if (LANGUAGES.includes(language)) current = language;
}

/** True when the catalogue has a text for key (e.g. an error code from the server). */
export function has(key) {
  return Boolean(catalogues[current] && key in catalogues[current]);
}

/** The text for key in the current language, with {placeholders} filled from params. */
export function t(key, params = {}) {
  const template = catalogues[current]?.[key];
  if (template === undefined) {
    console.error(`kiosk: no ${current} text for ${key}`);
    return '';
  }
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** Fill every data-i18n* element under root with the current language's text. */
export function applyTranslations(root) {
  root.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll('[data-i18n-placeholder]').forEach((el) => {
    el.setAttribute('placeholder', t(el.dataset.i18nPlaceholder));
  });
  root.querySelectorAll('[data-i18n-aria]').forEach((el) => {
    el.setAttribute('aria-label', t(el.dataset.i18nAria));
  });
}
