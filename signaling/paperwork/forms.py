"""The printed documents as PDF (fpdf2): application form, receipt, result, completion page.

Text is set in Noto Sans CJK (Debian ``fonts-noto-cjk``): the Traditional face for zh-Hant,
the Simplified one otherwise; fpdf2 embeds only the glyphs used, so a form is tens of kB.
Every document carries a marker ``vcounter:SESSION:DOCUMENT`` in its metadata, which is how
verification finds the stored original of a file it is given.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import segno
from fpdf import FPDF

from signaling.messages import Language
from signaling.paperwork.errors import PaperworkError
from signaling.paperwork.session_facts import Applicant
from signaling.paperwork.texts import identity_sentence, text

FONT_FILE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
# faces in Debian's NotoSansCJK-Regular.ttc: 2 = SC, 3 = TC
_FACE = {"zh-Hant": 3, "zh-Hans": 2, "en": 2}
PAGE_W, PAGE_H = 595.28, 841.89  # A4 in points
MARGIN = 48.0


def marker(session_id: str, doc_id: str) -> str:
    """The text every document carries so verification can find its stored original."""
    return f"vcounter:{session_id}:{doc_id}"


@dataclass(frozen=True)
class Box:
    """A rectangle in PDF user space (points, origin bottom-left)."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class PageBox(Box):
    page: int = 0


def _on_page(box: Box, page: int) -> PageBox:
    return PageBox(box.x, box.y, box.w, box.h, page)


@dataclass(frozen=True)
class MaterialLine:
    label: str
    sha256: str


@dataclass(frozen=True)
class FormData:
    """Everything the application form shows."""

    session_id: str
    doc_id: str
    language: Language
    service_name: str
    department_name: str
    applicant: Applicant | None
    materials: list[MaterialLine]
    generated_at: datetime


@dataclass(frozen=True)
class ReceiptData:
    session_id: str
    doc_id: str
    language: Language
    acceptance_number: str
    service_name: str
    department_name: str
    accepted_at: datetime
    materials: list[MaterialLine]
    verify_url: str
    # the fee paid before submission ("CNY 10.00", provider order / transaction), or the fee
    # that falls due when the result is printed
    paid: str = ""
    paid_ref: str = ""
    fee_due: str = ""
    # materials to follow (容缺受理): (name, due date YYYY-MM-DD), to bring at any kiosk
    to_follow: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ResultData:
    session_id: str
    doc_id: str
    language: Language
    acceptance_number: str
    service_name: str
    department_name: str
    applicant_name: str
    outcome: str  # approved / returned / rejected
    reason: str
    decided_by: str
    decided_at: datetime
    verify_url: str


@dataclass(frozen=True)
class CompletionData:
    """The certificate of completion: who, when, which documents, identity, decision."""

    session_id: str
    language: Language
    applicant: Applicant | None
    clerk: str
    second_approver: str
    terminal: str
    steps: list[tuple[datetime, str]]
    documents: list[MaterialLine]
    decision: str
    chain_head: str
    extra: list[tuple[str, str]] = field(default_factory=list)


class _Doc(FPDF):
    def __init__(self, language: Language, session_id: str, doc_id: str, title: str) -> None:
        super().__init__(unit="pt", format="A4")
        if not FONT_FILE.is_file():
            raise PaperworkError(
                f"the CJK font {FONT_FILE} is missing; install it: apt-get install fonts-noto-cjk"
            )
        self.language = language
        self.add_font("cjk", fname=str(FONT_FILE), collection_font_number=_FACE[language])
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, MARGIN)
        self.set_title(title)
        self.set_creator("vcounter")
        self.set_keywords(marker(session_id, doc_id))
        self.add_page()

    def t(self, key: str) -> str:
        return text(key, self.language)

    def heading(self, value: str, size: float = 20) -> None:
        self.set_font("cjk", size=size)
        self.multi_cell(0, size * 1.4, value, new_x="LMARGIN", new_y="NEXT")
        self.ln(4)

    def section(self, value: str) -> None:
        self.ln(6)
        self.set_font("cjk", size=13)
        self.set_fill_color(230, 236, 245)
        self.cell(0, 20, value, fill=True, new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def row(self, label: str, value: str, width: float = 140) -> None:
        self.set_font("cjk", size=10.5)
        self.set_text_color(90, 90, 90)
        self.cell(width, 16, label)
        self.set_text_color(0, 0, 0)
        self.multi_cell(0, 16, value or "—", new_x="LMARGIN", new_y="NEXT")

    def small(self, value: str, size: float = 7.5) -> None:
        self.set_font("cjk", size=size)
        self.multi_cell(0, size * 1.45, value, new_x="LMARGIN", new_y="NEXT")

    def qr(self, url: str, x: float, y: float, size: float) -> None:
        buffer = io.BytesIO()
        segno.make(url, error="m").save(buffer, kind="png", scale=6, border=2)
        buffer.seek(0)
        self.image(buffer, x=x, y=y, w=size, h=size)

    def qr_block(self, url: str, caption: str, shown: str | None = None) -> None:
        """A QR code of ``url`` at the left margin, ``caption`` and the address beside it."""
        y = self.get_y()
        self.qr(url, MARGIN, y, 110)
        self.set_xy(MARGIN + 124, y + 10)
        self.set_font("cjk", size=10.5)
        self.multi_cell(0, 16, caption, new_x="LMARGIN", new_y="NEXT")
        self.set_x(MARGIN + 124)
        self.small(shown or url, 8)

    def materials(self, lines: list[MaterialLine], empty_key: str) -> None:
        if not lines:
            self.row("", self.t(empty_key))
        for number, line in enumerate(lines, start=1):
            self.row(f"{number}.", line.label)
            self.set_x(self.l_margin + 140)
            self.small(f"SHA-256 {line.sha256}")

    def finish(self, when: datetime) -> bytes:
        self.set_creation_date(when)
        return bytes(self.output())


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def application_form(data: FormData) -> tuple[bytes, PageBox]:
    """The form shown to both sides before signing; also where the signature goes."""
    pdf = _Doc(data.language, data.session_id, data.doc_id, text("form.title", data.language))
    pdf.heading(f"{data.service_name} {pdf.t('form.title')}")
    pdf.row(pdf.t("form.department"), data.department_name)
    pdf.row(pdf.t("form.service"), data.service_name)
    pdf.section(pdf.t("form.applicant"))
    fields = data.applicant.fields if data.applicant else {}
    for key in ("name", "document_type", "document_number", "nationality", "birth_date"):
        pdf.row(pdf.t(f"form.{key}"), fields.get(key, ""))
    pdf.row(pdf.t("form.identity_result"), identity_sentence(data.applicant, data.language))
    pdf.section(pdf.t("form.materials"))
    pdf.materials(data.materials, "form.no_materials")
    pdf.ln(10)
    pdf.set_font("cjk", size=10.5)
    pdf.multi_cell(0, 16, pdf.t("form.declaration"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    if pdf.get_y() > PAGE_H - MARGIN - 150:
        pdf.add_page()
    pdf.cell(0, 16, pdf.t("form.signature"), new_x="LMARGIN", new_y="NEXT")
    top = pdf.get_y() + 4
    box_w, box_h = 300.0, 100.0
    pdf.set_draw_color(120, 120, 120)
    pdf.rect(MARGIN, top, box_w, box_h)
    pdf.set_y(top + box_h + 10)
    pdf.small(
        f"{pdf.t('form.reference')} {data.doc_id} · {pdf.t('cert.session')} {data.session_id}"
    )
    pdf.small(f"{pdf.t('form.generated')} {_when(data.generated_at)}")
    # the box in PDF space, on the page it was drawn on (fpdf2 measures from the top)
    page = pdf.page_no() - 1
    box = Box(MARGIN, PAGE_H - top - box_h, box_w, box_h)
    return pdf.finish(data.generated_at), _on_page(box, page)


def receipt(data: ReceiptData) -> bytes:
    """The acceptance receipt (回执) printed at once after the applicant signs."""
    pdf = _Doc(data.language, data.session_id, data.doc_id, text("receipt.title", data.language))
    pdf.heading(pdf.t("receipt.title"))
    pdf.set_font("cjk", size=12)
    pdf.cell(0, 18, pdf.t("receipt.number"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=26)
    pdf.cell(0, 34, data.acceptance_number, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.row(pdf.t("form.service"), data.service_name)
    pdf.row(pdf.t("form.department"), data.department_name)
    pdf.row(pdf.t("receipt.time"), _when(data.accepted_at))
    if data.paid:
        pdf.row(pdf.t("receipt.paid"), data.paid)
        pdf.row(pdf.t("receipt.paid_ref"), data.paid_ref)
    if data.fee_due:
        pdf.row(pdf.t("receipt.fee_due"), data.fee_due)
    pdf.section(pdf.t("form.materials"))
    pdf.materials(data.materials, "form.no_materials")
    if data.to_follow:
        pdf.section(pdf.t("receipt.to_follow"))
        for number, (name, due) in enumerate(data.to_follow, start=1):
            pdf.row(f"{number}.", f"{name} · {pdf.t('receipt.due')} {due}")
        pdf.small(pdf.t("receipt.to_follow_how"), 10)
    pdf.ln(12)
    pdf.qr_block(data.verify_url, pdf.t("receipt.verify"))
    pdf.set_x(MARGIN + 124)
    pdf.set_font("cjk", size=10.5)
    pdf.multi_cell(0, 16, pdf.t("receipt.later"), new_x="LMARGIN", new_y="NEXT")
    return pdf.finish(data.accepted_at)


def result_document(data: ResultData) -> bytes:
    """The department's decision as a document the applicant prints (later, at any kiosk)."""
    title = text(f"result.{data.outcome}", data.language)
    pdf = _Doc(data.language, data.session_id, data.doc_id, title)
    pdf.heading(title)
    pdf.row(pdf.t("receipt.number"), data.acceptance_number)
    pdf.row(pdf.t("form.applicant"), data.applicant_name)
    pdf.row(pdf.t("form.service"), data.service_name)
    pdf.row(pdf.t("form.department"), data.department_name)
    pdf.row(pdf.t("result.outcome"), pdf.t(f"outcome.{data.outcome}"))
    pdf.row(pdf.t("result.reason"), data.reason)
    pdf.row(pdf.t("result.decided_by"), data.decided_by)
    pdf.row(pdf.t("result.decided_at"), _when(data.decided_at))
    pdf.ln(16)
    pdf.qr_block(data.verify_url, pdf.t("receipt.verify"))
    return pdf.finish(data.decided_at)


def completion_page(data: CompletionData, doc_id: str, when: datetime) -> bytes:
    """A one-page PDF (certificate of completion) to append to a sealed document."""
    pdf = _Doc(data.language, data.session_id, doc_id, text("cert.title", data.language))
    pdf.heading(pdf.t("cert.title"), 16)
    pdf.row(pdf.t("cert.session"), data.session_id)
    applicant = data.applicant
    name = applicant.name if applicant else ""
    number = applicant.document_number if applicant else ""
    pdf.row(pdf.t("form.applicant"), f"{name} {number}".strip())
    pdf.row(pdf.t("form.identity_result"), identity_sentence(applicant, data.language))
    pdf.row(pdf.t("cert.clerk"), data.clerk)
    if data.second_approver:
        pdf.row(pdf.t("cert.second"), data.second_approver)
    pdf.row(pdf.t("cert.terminal"), data.terminal)
    pdf.row(pdf.t("cert.decision"), data.decision)
    for label, value in data.extra:
        pdf.row(label, value)
    pdf.section(pdf.t("cert.documents"))
    pdf.materials(data.documents, "form.no_materials")
    pdf.section(pdf.t("cert.events"))
    for moment, what in data.steps:
        pdf.small(f"{_when(moment)}  {what}", 8)
    pdf.ln(4)
    pdf.small(f"{pdf.t('cert.chain_head')} {data.chain_head}")
    return pdf.finish(when)
