// The supervisor's skills tab: each clerk's skills and levels, as routing uses them
// (storage/skills.py), edited as a draft and saved whole (PUT /api/supervisor/clerks/{name}/skills).

const $ = (id) => document.getElementById(id);

export class SkillsPanel {
  /**
   * @param {object} page what the panel needs of the supervisor page: api(path, options),
   *   st(key, params), names ({service(id), department(id)}), failed(err), showError(text)
   */
  constructor(page) {
    this.page = page;
    this.view = null; // GET /api/supervisor/skills
    this.chosen = null; // username
    this.draft = null; // skill -> level, as being edited
  }

  bind() {
    $("skills-clerk").addEventListener("change", () => this.#choose($("skills-clerk").value));
    $("skills-kind").addEventListener("change", () => this.#fillWhich());
    $("skills-add").addEventListener("submit", (e) => {
      e.preventDefault();
      this.#add();
    });
    $("skills-save").addEventListener("click", () => this.save());
  }

  async load() {
    try {
      this.view = await this.page.api("/api/supervisor/skills");
    } catch (err) {
      this.page.failed(err);
      return;
    }
    const names = this.view.clerks.map((c) => c.username);
    this.#choose(names.includes(this.chosen) ? this.chosen : (names[0] ?? null));
  }

  #clerk() {
    return this.view?.clerks.find((c) => c.username === this.chosen) ?? null;
  }

  #choose(username) {
    this.chosen = username;
    const clerk = this.#clerk();
    this.draft = clerk ? { ...clerk.skills } : null;
    $("skills-status").textContent = "";
    this.render();
  }

  /** A skill's name in the page's language: the service, department or language it names. */
  label(skill) {
    const [kind, value] = skill.split(":");
    const st = this.page.st;
    if (skill === "care") return st("skills.kind.care");
    if (kind === "service") return `${st("skills.kind.service")}: ${this.page.names.service(value)}`;
    if (kind === "dept") return `${st("skills.kind.dept")}: ${this.page.names.department(value)}`;
    if (kind === "lang") return `${st("skills.kind.lang")}: ${st(`skills.lang.${value}`)}`;
    return skill;
  }

  render() {
    if (!this.view) return;
    const st = this.page.st;
    $("skills-help").textContent = st("skills.help", { level: this.view.member_level });
    const select = $("skills-clerk");
    select.replaceChildren(
      ...this.view.clerks.map((c) => {
        const opt = document.createElement("option");
        opt.value = c.username;
        opt.textContent = `${c.display_name} (${c.username})`;
        return opt;
      }),
    );
    if (this.chosen) select.value = this.chosen;
    const none = this.view.clerks.length === 0;
    $("skills-noclerk").hidden = !none;
    for (const id of ["skills-add", "skills-save"]) $(id).hidden = none;
    const body = $("skills-body");
    body.replaceChildren();
    const skills = Object.keys(this.draft ?? {}).sort();
    $("skills-none").hidden = none || skills.length > 0;
    for (const skill of skills) {
      const row = document.createElement("tr");
      row.dataset.skill = skill;
      const name = document.createElement("td");
      name.textContent = this.label(skill);
      const level = document.createElement("td");
      const choice = document.createElement("select");
      choice.setAttribute("data-testid", "skill-level");
      choice.setAttribute("aria-label", `${st("skills.level")}: ${this.label(skill)}`);
      for (let n = 1; n <= 5; n += 1) choice.append(new Option(String(n), String(n)));
      choice.value = String(this.draft[skill]);
      choice.addEventListener("change", () => {
        this.draft[skill] = Number(choice.value);
        this.#changed();
      });
      level.append(choice);
      const action = document.createElement("td");
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "btn btn-quiet";
      remove.setAttribute("data-testid", "skill-remove");
      remove.textContent = st("skills.remove");
      remove.addEventListener("click", () => {
        delete this.draft[skill];
        this.render();
        this.#changed();
      });
      action.append(remove);
      row.append(name, level, action);
      body.append(row);
    }
    this.#fillWhich();
  }

  /** The choices for a new skill of the chosen kind: the supervisor's services and
   * departments, the languages; care mode has none. */
  #fillWhich() {
    if (!this.view) return;
    const kind = $("skills-kind").value;
    const which = $("skills-which");
    const options = [];
    if (kind === "service") {
      for (const [id, dept] of this.page.names.services()) {
        if (this.view.departments.includes(dept)) options.push([id, this.page.names.service(id)]);
      }
    } else if (kind === "dept") {
      for (const id of this.view.departments) options.push([id, this.page.names.department(id)]);
    } else if (kind === "lang") {
      for (const code of this.view.languages) options.push([code, this.page.st(`skills.lang.${code}`)]);
    }
    const chosen = which.value;
    which.replaceChildren(...options.map(([value, text]) => new Option(text, value)));
    if (options.some(([value]) => value === chosen)) which.value = chosen;
    which.disabled = kind === "care";
  }

  #add() {
    if (!this.draft) return;
    const kind = $("skills-kind").value;
    const skill = kind === "care" ? "care" : `${kind}:${$("skills-which").value}`;
    this.draft[skill] = Number($("skills-level").value);
    this.render();
    this.#changed();
  }

  #changed() {
    $("skills-status").textContent = this.page.st("skills.unsaved");
  }

  async save() {
    const clerk = this.#clerk();
    if (!clerk) return;
    try {
      const saved = await this.page.api(`/api/supervisor/clerks/${encodeURIComponent(clerk.username)}/skills`, {
        method: "PUT",
        send: { skills: this.draft },
      });
      clerk.skills = saved.skills;
      this.draft = { ...saved.skills };
      this.page.showError("");
      this.render();
      $("skills-status").textContent = this.page.st("skills.saved", { name: clerk.display_name });
    } catch (err) {
      this.page.failed(err);
    }
  }
}
