"""The page the applicant's phone ends on after the provider: "Done — go back to the kiosk",
or why the sign-in was refused, in the applicant's language (all three when unknown).

Server-rendered, no script: everything from the provider or the request is escaped, and
the page carries the public pages' policy (:mod:`signaling.public_pages`).
"""

from __future__ import annotations

import html

from aiohttp import web

from signaling.messages import LANGUAGES
from signaling.public_pages import PAGE_HEADERS

# (zh-Hant, zh-Hans, en) per outcome; refusals by their code
TEXTS: dict[str, tuple[str, str, str]] = {
    "done": (
        "完成：身份已確認。請返回自助服務機繼續辦理。",
        "完成：身份已确认。请返回自助服务机继续办理。",
        "Done: your identity is confirmed. Please go back to the kiosk.",
    ),
    "done_lower": (
        "已登入。職員會再核對您的身份。請返回自助服務機。",
        "已登录。职员会再核对您的身份。请返回自助服务机。",
        "Signed in. The clerk will confirm your identity. Please go back to the kiosk.",
    ),
    "eid_bad_issuer": (
        "登入被拒絕：回覆並非來自指定的身份提供者。",
        "登录被拒绝：回复并非来自指定的身份提供者。",
        "Sign-in refused: the answer did not come from the expected identity provider.",
    ),
    "eid_bad_signature": (
        "登入被拒絕：身份證明的簽名無效。",
        "登录被拒绝：身份证明的签名无效。",
        "Sign-in refused: the identity statement's signature is not valid.",
    ),
    "eid_expired_token": (
        "登入被拒絕：身份證明已過期。請在自助服務機重新開始。",
        "登录被拒绝：身份证明已过期。请在自助服务机重新开始。",
        "Sign-in refused: the identity statement has expired. Start again at the kiosk.",
    ),
    "eid_bad_nonce": (
        "登入被拒絕：回覆屬於另一次登入。請在自助服務機重新開始。",
        "登录被拒绝：回复属于另一次登录。请在自助服务机重新开始。",
        "Sign-in refused: the answer belongs to another sign-in. Start again at the kiosk.",
    ),
    "eid_replayed_state": (
        "此登入回覆已使用過，不能再用。",
        "此登录回复已使用过，不能再用。",
        "This sign-in answer was already used and cannot be used again.",
    ),
    "eid_denied": (
        "您沒有同意分享身份資料。如需使用，請在自助服務機重新開始。",
        "您没有同意分享身份资料。如需使用，请在自助服务机重新开始。",
        "You did not agree to share your identity. Start again at the kiosk if you wish.",
    ),
    "eid_attempt_expired": (
        "此二維碼已過期。請在自助服務機取得新的二維碼。",
        "此二维码已过期。请在自助服务机取得新的二维码。",
        "This QR code has expired. Ask the kiosk for a new one.",
    ),
    "eid_link_used": (
        "此二維碼已使用過。請在自助服務機取得新的二維碼。",
        "此二维码已使用过。请在自助服务机取得新的二维码。",
        "This QR code was already used. Ask the kiosk for a new one.",
    ),
    "eid_unknown_attempt": (
        "找不到此登入。請在自助服務機取得新的二維碼。",
        "找不到此登录。请在自助服务机取得新的二维码。",
        "This sign-in is not known. Ask the kiosk for a new QR code.",
    ),
    "eid_session_ended": (
        "自助服務機的辦理已結束，身份資料沒有記錄。",
        "自助服务机的办理已结束，身份资料没有记录。",
        "The kiosk's session has ended; nothing was recorded.",
    ),
    "other": (
        "登入未能完成。請在自助服務機重新開始，或請職員協助。",
        "登录未能完成。请在自助服务机重新开始，或请职员协助。",
        "The sign-in could not be completed. Start again at the kiosk or ask the clerk.",
    ),
}
_TITLE = ("身份登入", "身份登录", "e-ID sign-in")


def page(key: str, language: str | None, status: int = 200, detail: str = "") -> web.Response:
    """The phone's page for ``key`` (done, done_lower, or a refusal code) in ``language``."""
    texts = TEXTS.get(key, TEXTS["other"])
    index = LANGUAGES.index(language) if language in LANGUAGES else None
    langs = [index] if index is not None else [0, 1, 2]
    outcome = "done" if key.startswith("done") else "refused"
    lines = "".join(
        f'<p class="message" lang="{LANGUAGES[i]}" data-testid="eid-message">'
        f"{html.escape(texts[i])}</p>"
        for i in langs
    )
    extra = (
        f'<p class="detail" lang="en" data-testid="eid-detail">{html.escape(detail)}</p>'
        if detail
        else ""
    )
    body = (
        "<!doctype html>"
        f'<html lang="{LANGUAGES[langs[0]]}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(_TITLE[langs[0]])}</title>"
        '<link rel="stylesheet" href="/eid-assets/eid.css"></head>'
        f'<body><main data-testid="eid-page" data-outcome="{outcome}"'
        f' data-code="{html.escape(key)}">'
        f"<h1>{html.escape(_TITLE[langs[0]])}</h1>{lines}{extra}</main></body></html>"
    )
    return web.Response(
        text=body, status=status, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS
    )
