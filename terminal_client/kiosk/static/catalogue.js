// The service catalogue as the kiosk's hello delivered it (GET /api/catalogue's shape).

/** A catalogue entry's text ({"zh-Hant", "zh-Hans", "en"}) in language. */
export function localized(text, language) {
  return text ? text[language] : '';
}

export class Catalogue {
  constructor(data) {
    this.departments = data.departments || [];
    this.services = data.services || [];
  }

  department(id) {
    return this.departments.find((d) => d.id === id) || null;
  }

  service(id) {
    return this.services.find((s) => s.id === id) || null;
  }

  servicesOf(departmentId) {
    return this.services.filter((s) => s.department_id === departmentId);
  }

  /** Services whose name contains text: names in language first, then the other languages
   *  (an applicant may type in any of them), as signaling.catalogue.Catalogue.search does. */
  search(text, language) {
    const needle = text.trim().toLocaleLowerCase();
    if (!needle) return [];
    const first = [];
    const rest = [];
    for (const service of this.services) {
      const names = Object.values(service.names).map((n) => n.toLocaleLowerCase());
      if (service.names[language].toLocaleLowerCase().includes(needle)) first.push(service);
      else if (names.some((n) => n.includes(needle))) rest.push(service);
    }
    return first.concat(rest);
  }
}
