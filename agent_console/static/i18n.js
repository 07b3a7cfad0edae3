// Every word the console shows, in both UI languages. One dictionary: a key missing from
// either language is a bug (the browser tests check both are complete).

const STORAGE_KEY = "vcounter.console.language";
export const UI_LANGUAGES = Object.freeze(["zh-Hans", "en"]);
export const DEFAULT_LANGUAGE = "zh-Hans";

export const DICTIONARY = Object.freeze({
  "zh-Hans": {
    "app.title": "远程视频柜台 · 办事员工作台",
    "app.short": "办事员工作台",
    "lang.label": "界面语言",
    "login.heading": "办事员登录",
    "login.intro": "请使用您的办事员账号登录。",
    "login.username": "用户名",
    "login.password": "密码",
    "login.submit": "登录",
    "login.pending": "正在登录…",
    "signout": "退出登录",
    "clerk.signedInAs": "当前办事员",
    "clerk.departments": "所属部门",
    "clerk.stateLabel": "当前状态",
    "state.offline": "离线",
    "state.away": "暂离 · 不接听来电",
    "state.available": "空闲 · 等待来电",
    "state.ringing": "来电中",
    "state.busy": "通话中",
    "availability.goAvailable": "开始接听",
    "availability.goAway": "暂停接听",
    "availability.busyHint": "通话结束后才能更改状态。",
    "autoAnswer": "自动接听来电",
    "idle.away": "您目前处于暂离状态,不会收到来电。准备好后请点击“开始接听”。",
    "idle.available": "正在等待来电。来电时会响铃并在此显示。",
    "idle.offline": "尚未连接到服务器。",
    "incoming.heading": "来电",
    "incoming.service": "办理事项",
    "incoming.department": "部门",
    "incoming.language": "申请人语言",
    "incoming.terminal": "自助终端",
    "incoming.waited": "已等待",
    "incoming.timeLeft": "剩余接听时间",
    "incoming.seconds": "{n} 秒",
    "incoming.accept": "接听",
    "incoming.decline": "拒接",
    "incoming.declineHint": "拒接后,来电将转给其他办事员。",
    "incoming.accepting": "正在接听…",
    "language.zh-Hant": "繁体中文",
    "language.zh-Hans": "简体中文",
    "language.en": "英语",
    "call.heading": "视频通话",
    "call.with": "申请人终端:{name}",
    "call.remote": "申请人画面",
    "call.local": "您的画面",
    "call.phase.connecting": "正在建立音视频连接…",
    "call.phase.connected": "通话中 · {duration}",
    "call.phase.unstable": "网络不稳定,正在恢复… · {duration}",
    "call.phase.ending": "正在挂断…",
    "call.hangup": "挂断",
    "call.materials": "所需材料",
    "call.materialOptional": "视情况提供",
    "call.secondApproval": "此事项需本部门另一名工作人员复核审批。",
    "call.noMaterials": "此事项无需提交材料。",
    "incoming.careMode": "关爱模式:长者或需要协助的申请人,请放慢语速、耐心引导。",
    "guide.heading": "引导申请人",
    "guide.stepsLabel": "办理进度(申请人屏幕同步显示)",
    "guide.step.1": "选择服务",
    "guide.step.2": "视频连线",
    "guide.step.3": "核验身份",
    "guide.step.4": "提交材料",
    "guide.step.5": "电子签名",
    "guide.step.6": "审批",
    "guide.step.7": "领取回执",
    "guide.textLabel": "发送到申请人屏幕",
    "guide.textPlaceholder": "输入提示文字,或证件名称后点“请放置证件”",
    "guide.sendText": "发送文字",
    "guide.sendPlace": "请放置证件",
    "guide.sendChecklist": "发送材料清单",
    "guide.sent.text": "提示已发送到申请人屏幕。",
    "guide.sent.place_document": "已请申请人将证件放在扫描器上。",
    "guide.sent.checklist": "材料清单已发送到申请人屏幕。",
    "guide.emptyText": "请先输入要发送的文字。",
    "ended.summary": "上一通来电已结束:{reason}(时长 {duration})。",
    "ended.summaryShort": "上一通来电已结束:{reason}。",
    "reason.clerk_hangup": "您已挂断",
    "reason.applicant_hangup": "申请人已挂断",
    "reason.hangup": "通话已挂断",
    "reason.terminal_left": "申请人的终端已断开",
    "reason.clerk_left": "您的连接中断",
    "reason.media_failed_at_clerk": "您这边的音视频连接失败",
    "reason.media_failed_at_terminal": "终端的音视频连接失败",
    "reason.server_shutdown": "服务器已关闭",
    "reason.connection_lost": "与服务器的连接中断",
    "reason.other": "原因:{reason}",
    "withdrawn.cancelled": "申请人已取消请求,来电已撤回。",
    "withdrawn.timeout": "来电未在时限内接听,已转给其他办事员;您已被设为暂离。",
    "withdrawn.declined": "来电已退回队列,将转给其他办事员。",
    "withdrawn.terminal_left": "申请人已离开终端,来电已撤回。",
    "conn.connecting": "正在连接服务器…",
    "conn.reconnecting": "与服务器的连接已断开,正在重新连接…",
    "conn.restored": "已重新连接到服务器。",
    "conn.restoredAvailable": "已重新连接到服务器,您已恢复为空闲状态。",
    "notice.dismiss": "关闭提示",
    "error.dismiss": "关闭错误提示",
    "error.codeLabel": "错误代码",
    "error.bad_credentials": "用户名或密码错误,请重试。",
    "error.invalid_login": "请填写用户名和密码。",
    "error.network": "无法连接服务器,请检查网络后重试。",
    "error.http": "服务器暂时无法处理请求(HTTP {status}),请稍后重试。",
    "error.sessionExpired": "登录已过期,请重新登录。",
    "error.refused": "服务器拒绝了连接:{message}",
    "error.replaced": "此账号已在另一个窗口登录,本窗口已退出。",
    "error.media": "无法使用摄像头或麦克风({name})。请在浏览器中允许访问摄像头和麦克风;通话中对方将看不到或听不到您。",
    "error.mediaFailed": "音视频连接失败,通话无法继续。",
    "error.badMessage": "收到无法识别的服务器消息({event}),已忽略:{problem}",
    "error.webrtc": "建立视频通话时出错:{message}",
    "error.server": "{summary}:{message}",
    "code.not_your_session": "该来电已不再分配给您",
    "code.illegal_transition": "当前状态下不能执行此操作",
    "code.rate_limited": "操作过于频繁,请稍后再试",
    "code.invalid_message": "请求格式有误",
    "code.unauthorized": "未获授权",
    "code.unknown_service": "未知的办理事项",
    "code.default": "服务器拒绝了此操作",
    "duration.hours": "{h} 小时 {m} 分 {s} 秒",
    "duration.minutes": "{m} 分 {s} 秒",
    "duration.seconds": "{s} 秒",
    "title.ringing": "【来电】{title}",
    "paper.heading": "申请表、签名与决定",
    "paper.showForm": "生成申请表并请申请人签名",
    "paper.previewAlt": "申请表预览",
    "paper.inkLabel": "申请人签名(实时)",
    "paper.decisionLabel": "决定",
    "paper.outcome.approved": "准予",
    "paper.outcome.returned": "退回补正材料",
    "paper.outcome.rejected": "不予许可",
    "paper.reason": "理由(必填)",
    "paper.reasonNeeded": "请填写决定理由。",
    "paper.decide": "提交决定",
    "paper.formSent": "申请表已发送到自助终端,等待申请人签名。",
    "paper.printSent": "已发送到自助终端打印。",
    "paper.print": "在终端打印",
    "paper.number": "受理号",
    "paper.pending": "待我决定的申请",
    "paper.refresh": "刷新",
    "paper.noPending": "暂无待决定的申请。",
    "paper.state.none": "尚未生成申请表",
    "paper.state.form_shown": "申请表已展示,等待签名",
    "paper.state.submitted": "已签名提交,待决定",
    "paper.state.awaiting_second_approval": "已初审准予,待第二位审批人复核",
    "paper.state.approved": "已准予",
    "paper.state.returned": "已退回补正",
    "paper.state.rejected": "不予许可",
    "paper.decided.approved": "已准予,结果文件已生成。",
    "paper.decided.returned": "已退回补正,通知书已生成。",
    "paper.decided.rejected": "不予许可,决定书已生成。",
    "paper.decided.awaiting_second_approval": "已初审准予,等待本部门另一位审批人复核。",
    "paper.kind.application": "已签名申请表",
    "paper.kind.receipt": "受理回执",
    "paper.kind.result": "办理结果",
  },
  en: {
    "app.title": "Remote Video Counter · Clerk Console",
    "app.short": "Clerk Console",
    "lang.label": "Language",
    "login.heading": "Clerk sign-in",
    "login.intro": "Sign in with your clerk account.",
    "login.username": "Username",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.pending": "Signing in…",
    "signout": "Sign out",
    "clerk.signedInAs": "Signed in as",
    "clerk.departments": "Departments",
    "clerk.stateLabel": "Status",
    "state.offline": "Offline",
    "state.away": "Away · not taking calls",
    "state.available": "Available · waiting for calls",
    "state.ringing": "Incoming call",
    "state.busy": "In a call",
    "availability.goAvailable": "Start taking calls",
    "availability.goAway": "Pause calls",
    "availability.busyHint": "You can change this when the call ends.",
    "autoAnswer": "Answer calls automatically",
    "idle.away": "You are away and will not receive calls. Press “Start taking calls” when you are ready.",
    "idle.available": "Waiting for a call. It will ring and appear here.",
    "idle.offline": "Not connected to the server yet.",
    "incoming.heading": "Incoming call",
    "incoming.service": "Service",
    "incoming.department": "Department",
    "incoming.language": "Applicant's language",
    "incoming.terminal": "Kiosk",
    "incoming.waited": "Waiting for",
    "incoming.timeLeft": "Time left to answer",
    "incoming.seconds": "{n} s",
    "incoming.accept": "Accept",
    "incoming.decline": "Decline",
    "incoming.declineHint": "A declined call goes to another clerk.",
    "incoming.accepting": "Accepting…",
    "language.zh-Hant": "Traditional Chinese",
    "language.zh-Hans": "Simplified Chinese",
    "language.en": "English",
    "call.heading": "Video call",
    "call.with": "Applicant's kiosk: {name}",
    "call.remote": "Applicant",
    "call.local": "You",
    "call.phase.connecting": "Connecting audio and video…",
    "call.phase.connected": "In call · {duration}",
    "call.phase.unstable": "Network unstable, recovering… · {duration}",
    "call.phase.ending": "Hanging up…",
    "call.hangup": "Hang up",
    "call.materials": "Required materials",
    "call.materialOptional": "if applicable",
    "call.secondApproval": "This service needs a second approval by another officer of the department.",
    "call.noMaterials": "No documents are needed for this service.",
    "incoming.careMode": "Care mode: an older applicant or one who needs help. Speak slowly and guide patiently.",
    "guide.heading": "Guide the applicant",
    "guide.stepsLabel": "Progress (shown on the applicant's screen)",
    "guide.step.1": "Choose service",
    "guide.step.2": "Video link",
    "guide.step.3": "Identity",
    "guide.step.4": "Materials",
    "guide.step.5": "Signature",
    "guide.step.6": "Decision",
    "guide.step.7": "Receipt",
    "guide.textLabel": "Send to the applicant's screen",
    "guide.textPlaceholder": "Type a message, or a document's name and press \"Place document\"",
    "guide.sendText": "Send text",
    "guide.sendPlace": "Place document",
    "guide.sendChecklist": "Send materials checklist",
    "guide.sent.text": "Message sent to the applicant's screen.",
    "guide.sent.place_document": "The applicant was asked to place the document on the scanner.",
    "guide.sent.checklist": "Materials checklist sent to the applicant's screen.",
    "guide.emptyText": "Type the message to send first.",
    "ended.summary": "The last call ended: {reason} (duration {duration}).",
    "ended.summaryShort": "The last call ended: {reason}.",
    "reason.clerk_hangup": "you hung up",
    "reason.applicant_hangup": "the applicant hung up",
    "reason.hangup": "the call was hung up",
    "reason.terminal_left": "the applicant's kiosk disconnected",
    "reason.clerk_left": "your connection dropped",
    "reason.media_failed_at_clerk": "audio and video failed on your side",
    "reason.media_failed_at_terminal": "audio and video failed at the kiosk",
    "reason.server_shutdown": "the server shut down",
    "reason.connection_lost": "the connection to the server dropped",
    "reason.other": "reason: {reason}",
    "withdrawn.cancelled": "The applicant cancelled; the call was withdrawn.",
    "withdrawn.timeout": "The call was not answered in time and went to another clerk; you are now away.",
    "withdrawn.declined": "The call went back to the queue for another clerk.",
    "withdrawn.terminal_left": "The applicant left the kiosk; the call was withdrawn.",
    "conn.connecting": "Connecting to the server…",
    "conn.reconnecting": "Lost the connection to the server. Reconnecting…",
    "conn.restored": "Reconnected to the server.",
    "conn.restoredAvailable": "Reconnected to the server; you are available again.",
    "notice.dismiss": "Dismiss notice",
    "error.dismiss": "Dismiss error",
    "error.codeLabel": "Error code",
    "error.bad_credentials": "Wrong username or password. Please try again.",
    "error.invalid_login": "Enter your username and password.",
    "error.network": "Cannot reach the server. Check the network and try again.",
    "error.http": "The server could not handle the request (HTTP {status}). Try again shortly.",
    "error.sessionExpired": "Your sign-in has expired. Please sign in again.",
    "error.refused": "The server refused the connection: {message}",
    "error.replaced": "This account signed in from another window, so this one was signed out.",
    "error.media": "Cannot use the camera or microphone ({name}). Allow camera and microphone access in the browser; until then the applicant cannot see or hear you.",
    "error.mediaFailed": "The audio and video connection failed; the call cannot go on.",
    "error.badMessage": "Ignored a message from the server that the console does not understand ({event}): {problem}",
    "error.webrtc": "Could not set up the video call: {message}",
    "error.server": "{summary}: {message}",
    "code.not_your_session": "That call is no longer yours",
    "code.illegal_transition": "Not possible in your current state",
    "code.rate_limited": "Too many actions; wait a moment",
    "code.invalid_message": "The request was malformed",
    "code.unauthorized": "Not authorised",
    "code.unknown_service": "Unknown service",
    "code.default": "The server refused the action",
    "duration.hours": "{h} h {m} min {s} s",
    "duration.minutes": "{m} min {s} s",
    "duration.seconds": "{s} s",
    "title.ringing": "[Incoming call] {title}",
    "paper.heading": "Application form, signature and decision",
    "paper.showForm": "Make the form and ask for the signature",
    "paper.previewAlt": "Application form preview",
    "paper.inkLabel": "Applicant's signature (live)",
    "paper.decisionLabel": "Decision",
    "paper.outcome.approved": "Approve",
    "paper.outcome.returned": "Return for more materials",
    "paper.outcome.rejected": "Reject",
    "paper.reason": "Reason (required)",
    "paper.reasonNeeded": "Give a reason for the decision.",
    "paper.decide": "Record decision",
    "paper.formSent": "The form is on the kiosk; waiting for the applicant to sign.",
    "paper.printSent": "Sent to the kiosk's printer.",
    "paper.print": "Print at the kiosk",
    "paper.number": "Acceptance number",
    "paper.pending": "Applications waiting for my decision",
    "paper.refresh": "Refresh",
    "paper.noPending": "Nothing is waiting for your decision.",
    "paper.state.none": "No form yet",
    "paper.state.form_shown": "Form shown, waiting for the signature",
    "paper.state.submitted": "Signed and submitted, waiting for a decision",
    "paper.state.awaiting_second_approval": "Approved once, waiting for a second approver",
    "paper.state.approved": "Approved",
    "paper.state.returned": "Returned for more materials",
    "paper.state.rejected": "Rejected",
    "paper.decided.approved": "Approved; the result document is made.",
    "paper.decided.returned": "Returned; the notice is made.",
    "paper.decided.rejected": "Rejected; the notice is made.",
    "paper.decided.awaiting_second_approval": "Approved once; another approver of the department has to confirm.",
    "paper.kind.application": "Signed application",
    "paper.kind.receipt": "Receipt",
    "paper.kind.result": "Result",
  },
});

let current = DEFAULT_LANGUAGE;

/** The UI language in force. */
export function language() {
  return current;
}

/** Pick the UI language: a saved choice, else the default (zh-Hans). */
export function initLanguage(storage = window.localStorage) {
  const saved = storage.getItem(STORAGE_KEY);
  current = UI_LANGUAGES.includes(saved) ? saved : DEFAULT_LANGUAGE;
  return current;
}

/** Switch the UI language and remember the choice for the next visit. */
export function setLanguage(lang, storage = window.localStorage) {
  if (!UI_LANGUAGES.includes(lang)) throw new Error(`unknown UI language "${lang}"`);
  current = lang;
  storage.setItem(STORAGE_KEY, lang);
}

/** The text for ``key`` in the UI language, with ``{name}`` placeholders filled in. */
export function t(key, params = {}) {
  const text = DICTIONARY[current][key] ?? DICTIONARY[DEFAULT_LANGUAGE][key];
  if (text === undefined) throw new Error(`no text for "${key}" in the console dictionary`);
  return text.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.hasOwn(params, name) ? String(params[name]) : whole,
  );
}

/** ``t(key)`` if the dictionary has it, else ``null`` (for codes the server may add later). */
export function maybe(key, params = {}) {
  return Object.hasOwn(DICTIONARY[current], key) ? t(key, params) : null;
}

/** Text from a server ``LocalizedText`` ({"zh-Hant", "zh-Hans", "en"}) in the UI language. */
export function localized(text) {
  if (!text) return "";
  return text[current] ?? text[DEFAULT_LANGUAGE] ?? text.en ?? "";
}

/** A length of time in words: "3 分 05 秒" / "3 min 05 s". */
export function duration(totalSeconds) {
  const s = Math.max(0, Math.floor(totalSeconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  if (h > 0) return t("duration.hours", { h, m: String(m).padStart(2, "0"), s: sec });
  if (m > 0) return t("duration.minutes", { m, s: sec });
  return t("duration.seconds", { s: s % 60 });
}

/** Fill every ``[data-i18n]`` element (text) and ``[data-i18n-attr]`` ("attr:key;…"). */
export function translatePage(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":");
      el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}
