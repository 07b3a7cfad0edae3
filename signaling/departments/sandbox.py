"""A department sandbox: its own HTTP service that behaves like a department's records system.

Run it as ``python -m signaling.departments.sandbox --port 8093 --key DIR/department.pem
--client-key DIR/vcounter.pem.pub``. It checks every request's signature (the client's
pinned key, a 5-minute window, no nonce twice), answers ``POST /v1/documents`` for the
people it knows (:data:`PEOPLE`) with the document's content, signed, and refuses the rest
(404 ``no_record``, 403 ``not_eligible``). ``POST /control`` makes it slow (``delay_ms``) or
fail (``fail``: ``http_500``, ``bad_answer``, ``unsigned``, ``timeout``, ``other_person``; for ``fail_count``
requests, or all): what tests and the demo use to show the kiosk's answers to a department
that is slow, failing or refusing. ``GET /control`` tells the current behaviour and counts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from signaling import sandboxes
from signaling.departments.connector import DOCUMENTS_PATH
from signaling.departments.wire import (
    DepartmentDocument,
    DepartmentErrorBody,
    DocumentQuery,
    Line,
    Table,
)
from signaling.payments import signatures as sig
from signaling.payments.errors import BadSignature

log = logging.getLogger(__name__)

REQUEST_WINDOW_S = 300
FailMode = Literal["none", "http_500", "bad_answer", "unsigned", "timeout", "other_person"]


class Behaviour(BaseModel):
    """How the sandbox answers now (``POST /control``)."""

    model_config = ConfigDict(extra="forbid")

    delay_ms: int = Field(default=0, ge=0, le=120_000)
    fail: FailMode = "none"
    # how many of the next requests fail; None: every one until changed
    fail_count: int | None = Field(default=None, ge=0)


@dataclass(frozen=True)
class Record:
    name: str
    birth_date: str
    # None: records of every kind; else a refusal sentence for every kind
    not_eligible: str | None = None


def clean(number: str) -> str:
    """A document number without spaces, hyphens, brackets or case."""
    return "".join(ch for ch in number.upper() if ch.isalnum())


# the people the sandbox knows, by cleaned document number: the tests' simulated ID cards
# (K1234567, the specimen's) and stand-in identity (H1234567(8)), and one not eligible
PEOPLE: dict[str, Record] = {
    "K1234567": Record("CHAN TAI MAN 陳大文", "1990-01-01"),
    "H12345678": Record("CHAN TAI MAN 陳大文", "1980-01-01"),
    # the e-ID development provider's strong account (signaling/eid/dev_provider.mjs), so a
    # self-service print after an e-ID sign-in can be tried in the demo
    "A1234563": Record("CHAN TAI MAN 陳大文", "1980-01-01"),
    "M7654321": Record(
        "LEI KA WAI 李嘉慧",
        "1975-05-05",
        not_eligible="this person has no insured employment or tax residence in this city;"
        " only residents with records here can print them",
    ),
}

KINDS = (
    "social-insurance-certificate",
    "tax-payment-record",
    "housing-record",
    "enterprise-registration",
)


def document_for(query: DocumentQuery, record: Record, now: datetime) -> DepartmentDocument:
    """The content of a document of ``query.kind`` for a known person (deterministic)."""
    number = query.person.document_number
    year = now.year
    lines = [Line(label="Name 姓名", value=record.name), Line(label="ID 證件號碼", value=number)]
    table: Table | None = None
    if query.kind == "social-insurance-certificate":
        title = "社会保险参保证明 Social insurance contribution certificate"
        lines.append(Line(label="Insured since 參保日期", value=f"{year - 6}-03-01"))
        lines.append(Line(label="Status 狀態", value="Contributing 正常參保"))
        table = Table(
            columns=["Month 月份", "Base 繳費基數 (CNY)", "Pension 養老", "Medical 醫療"],
            rows=[[f"{year}-{m:02d}", "8,000.00", "640.00", "160.00"] for m in range(1, 7)],
        )
    elif query.kind == "tax-payment-record":
        title = "个人所得税纳税记录 Individual income tax payment record"
        table = Table(
            columns=["Period 所屬期", "Income 收入 (CNY)", "Tax paid 已繳稅額 (CNY)"],
            rows=[[f"{year - 1}-{m:02d}", "12,000.00", "290.00"] for m in range(1, 13)],
        )
    elif query.kind == "housing-record":
        title = "个人住房信息查询结果 Personal housing record"
        table = Table(
            columns=["Property 房屋坐落", "Area 面積 (m²)", "Registered 登記日期"],
            rows=[["福田区深南大道 1 号 3 栋 1201", "89.50", f"{year - 4}-08-16"]],
        )
    elif query.kind == "enterprise-registration":
        title = "企业登记信息 Enterprise registration information"
        table = Table(
            columns=["Enterprise 企業名稱", "USCC 統一社會信用代碼", "Role 職務", "Status 狀態"],
            rows=[["深港示范贸易有限公司", "91440300MA5F000001", "Legal rep. 法定代表人", "存续"]],
        )
    else:
        raise KeyError(query.kind)
    return DepartmentDocument(
        request_id=query.request_id, kind=query.kind,
        reference=f"SB-{query.kind[:3].upper()}-{query.request_id[:12]}", title=title,
        holder_name=record.name, holder_document_number=number, issued_at=now, lines=lines,
        table=table,
        note="Issued by the department sandbox from test data. 部門沙盒以測試資料出具。",
    )  # fmt: skip


class DepartmentSandbox:
    """The sandbox's state and behaviour; :meth:`app` serves it."""

    def __init__(self, key: Ed25519PrivateKey, clients: dict[str, Ed25519PublicKey]) -> None:
        self.key = key
        self.clients = clients
        self.behaviour = Behaviour()
        self.nonces: dict[str, float] = {}
        self.requests = 0  # document requests that passed the signature check
        self.answered = 0  # documents issued
        self._closing = asyncio.Event()

    def _signed(self, status: int, body: str) -> web.Response:
        return web.Response(
            text=body, status=status, content_type="application/json",
            headers=sig.sign_body(self.key, body),
        )  # fmt: skip

    def _error(self, status: int, code: str, message: str) -> web.Response:
        return self._signed(
            status, DepartmentErrorBody(code=code, message=message).model_dump_json()
        )

    def _check(self, request: web.Request, body: str) -> None:
        auth = sig.parse_authorization(request.headers.get("Authorization", ""))
        key = self.clients.get(auth.merchant)
        if key is None:
            raise BadSignature(f"unknown client {auth.merchant!r}")
        now = datetime.now(UTC).timestamp()
        if abs(auth.stamp.timestamp - now) > REQUEST_WINDOW_S:
            raise BadSignature("the request's timestamp is outside the 5-minute window")
        sig.check_request(key, auth, request.method, request.path_qs, body)
        self.nonces = {n: t for n, t in self.nonces.items() if t > now - REQUEST_WINDOW_S}
        if auth.stamp.nonce in self.nonces:
            raise BadSignature("this request's nonce was used before (a replay)")
        self.nonces[auth.stamp.nonce] = now

    def _failing(self) -> FailMode:
        b = self.behaviour
        if b.fail == "none":
            return "none"
        if b.fail_count is not None:
            if b.fail_count <= 0:
                return "none"
            b.fail_count -= 1
        return b.fail

    async def documents(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        try:
            self._check(request, body)
        except BadSignature as exc:
            return self._error(401, "sign_error", exc.message)
        self.requests += 1
        if self.behaviour.delay_ms:
            await asyncio.sleep(self.behaviour.delay_ms / 1000)
        failing = self._failing()
        match failing:
            case "http_500":
                return self._error(500, "internal_error", "the records database is unavailable")
            case "bad_answer":
                return self._signed(200, '{"request_id": "garbled"}')
            case "unsigned":
                return web.Response(text="{}", content_type="application/json")
            case "timeout":
                # no answer: the client gives up first; the sandbox closing ends the wait
                await self._closing.wait()
                return self._error(503, "shutting_down", "the sandbox is stopping")
            case "none" | "other_person":
                pass
        try:
            query = DocumentQuery.model_validate_json(body)
        except ValidationError as exc:
            return self._error(400, "param_error", str(exc.errors()[0]["msg"]))
        if query.kind not in KINDS:
            return self._error(400, "unknown_kind", f"this department issues {', '.join(KINDS)}")
        record = PEOPLE.get(clean(query.person.document_number))
        if record is None:
            return self._error(
                404, "no_record",
                f"there is no record for the document number {query.person.document_number}",
            )  # fmt: skip
        if record.not_eligible is not None:
            return self._error(403, "not_eligible", record.not_eligible)
        document = document_for(query, record, datetime.now(UTC))
        if failing == "other_person":
            # a department bug: someone else's record under this request
            document = document.model_copy(update={"holder_document_number": "X0000000"})
        self.answered += 1
        log.info("issued %s %s", query.kind, document.reference)
        return self._signed(200, document.model_dump_json())

    async def control(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                self.behaviour = Behaviour.model_validate_json(await request.text())
            except ValidationError as exc:
                raise web.HTTPBadRequest(text=str(exc.errors()[0]["msg"])) from exc
            log.info("behaviour now %s", self.behaviour.model_dump_json())
        return web.json_response(
            {**self.behaviour.model_dump(), "requests": self.requests, "answered": self.answered}
        )

    def app(self) -> web.Application:
        """The sandbox as an aiohttp application."""
        app = web.Application()

        async def closing(app: web.Application) -> None:
            self._closing.set()

        app.on_shutdown.append(closing)
        app.router.add_post(DOCUMENTS_PATH, self.documents)
        app.router.add_get("/control", self.control)
        app.router.add_post("/control", self.control)
        return app


@contextlib.asynccontextmanager
async def sandbox_process(
    department_key: Path, client_key: Path, client: str = "vcounter", port: int = 0
) -> AsyncIterator[str]:
    """Run the sandbox as its own process (tests, ``./run demo``, the benchmark) trusting the
    client key at ``client_key`` (made if missing); yields its URL once it answers."""
    sig.load_or_create_key(client_key)
    args = ["--key", str(department_key), "--client", client,
            "--client-key", str(sig.public_path(client_key))]  # fmt: skip
    async with sandboxes.sandbox_process(
        "signaling.departments.sandbox", args, port=port or sandboxes.free_port(),
        probe="/control", ready_status=200, key=sig.public_path(department_key),
        what="department sandbox",
    ) as url:  # fmt: skip
        yield url


def main(argv: list[str] | None = None) -> None:
    """``python -m signaling.departments.sandbox``: serve the sandbox until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m signaling.departments.sandbox",
        description="A department records sandbox: issues documents for known test people;"
        " POST /control makes it slow or failing.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8093)
    parser.add_argument("--key", type=Path, required=True,
                        help="the sandbox's Ed25519 key (PEM; made if missing, public half at KEY.pub)")  # fmt: skip
    parser.add_argument("--client", default="vcounter", help="the client id it accepts")
    parser.add_argument("--client-key", type=Path, required=True,
                        help="that client's public key (PEM): the .pub of the connector's key")  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sandbox = DepartmentSandbox(
        sig.load_or_create_key(args.key), {args.client: sig.load_public_key(args.client_key)}
    )
    web.run_app(sandbox.app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
