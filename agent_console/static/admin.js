// The administrator's page: accounts (disable, enable, reset password) and kiosks (revoke,
// rotate). Talks to /api/admin/* with the admin's token in the Authorization header; the
// token lives in this tab's memory only. Every action is recorded in the staff log.

const $ = (id) => document.getElementById(id);

class Admin {
  constructor() {
    this.token = null;
    $("login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.login($("login-username").value.trim(), $("login-password").value);
    });
    // enabled once bound: without this script the browser would send the form itself, the
    // password in a request nothing answers
    $("login-form").querySelector("[type=submit]").disabled = false;
    $("signout").addEventListener("click", () => this.signOut());
  }

  showError(text) {
    $("error-text").textContent = text;
    $("error-banner").hidden = !text;
  }

  async api(method, path, body) {
    const response = await fetch(path, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json", Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    const data = await response.json().catch(() => null);
    if (response.status === 401) this.signOut();
    if (!response.ok) throw new Error(data?.message ?? `HTTP ${response.status}`);
    return data;
  }

  async login(username, password) {
    const response = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      this.showError(body?.message ?? "用户名或密码错误 · Wrong username or password.");
      return;
    }
    if (body.role !== "admin") {
      this.showError("此页面仅供管理员使用 · This page is for administrators only.");
      return;
    }
    this.token = body.token;
    $("login-password").value = "";
    this.showError("");
    $("login-view").hidden = true;
    $("admin-view").hidden = false;
    $("signout").hidden = false;
    await this.refresh();
  }

  signOut() {
    this.token = null;
    $("login-view").hidden = false;
    $("admin-view").hidden = true;
    $("signout").hidden = true;
  }

  button(label, testid, action) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "btn btn-quiet";
    b.textContent = label;
    b.dataset.testid = testid;
    b.addEventListener("click", async () => {
      try {
        await action();
        await this.refresh();
      } catch (err) {
        this.showError(err.message);
      }
    });
    return b;
  }

  row(cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      if (cell instanceof Node) td.append(cell);
      else td.textContent = cell;
      tr.append(td);
    }
    return tr;
  }

  async refresh() {
    const [accounts, kiosks] = await Promise.all([
      this.api("GET", "/api/admin/clerks"),
      this.api("GET", "/api/admin/terminals"),
    ]);
    $("accounts").replaceChildren(
      ...accounts.map((a) => {
        const name = encodeURIComponent(a.username);
        const actions = document.createElement("span");
        actions.append(
          a.disabled
            ? this.button("启用 Enable", `enable-${a.username}`, () => this.api("POST", `/api/admin/clerks/${name}/enable`))
            : this.button("停用 Disable", `disable-${a.username}`, () => this.api("POST", `/api/admin/clerks/${name}/disable`)),
          this.button("重设密码 Reset password", `reset-${a.username}`, async () => {
            const password = window.prompt(`新密码 New password for ${a.username} (8+)`);
            if (password) await this.api("POST", `/api/admin/clerks/${name}/reset-password`, { password });
          }),
        );
        const tr = this.row([a.username, a.display_name, a.role, a.departments.join(", "), a.disabled ? "停用 disabled" : "启用 enabled", actions]);
        tr.dataset.testid = `account-${a.username}`;
        return tr;
      }),
    );
    $("kiosks").replaceChildren(
      ...kiosks.map((k) => {
        const name = encodeURIComponent(k.name);
        const actions = document.createElement("span");
        if (!k.revoked) {
          actions.append(this.button("吊销 Revoke", `revoke-${k.name}`, () => this.api("POST", `/api/admin/terminals/${name}/revoke`)));
        }
        actions.append(
          this.button("更换令牌 Rotate token", `rotate-${k.name}`, async () => {
            const answer = await this.api("POST", `/api/admin/terminals/${name}/rotate`);
            // shown once: store it on the kiosk (`vcounter terminal --token ...`)
            $("new-token").textContent = `${k.name}: ${answer.token}`;
            $("new-token").hidden = false;
          }),
        );
        const tr = this.row([k.name, k.location, k.last_seen_at ?? "–", k.revoked ? "已吊销 revoked" : "有效 active", actions]);
        tr.dataset.testid = `kiosk-${k.name}`;
        return tr;
      }),
    );
  }
}

window.vcounterAdmin = new Admin();
