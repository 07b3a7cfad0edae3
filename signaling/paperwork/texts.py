"""The printed documents' wording in the applicant's three languages."""

from __future__ import annotations

from signaling.messages import LANGUAGES, Language
from signaling.paperwork.session_facts import Applicant

_TEXTS: dict[str, tuple[str, str, str]] = {
    # key: (zh-Hant, zh-Hans, en)
    "form.title": ("申請表", "申请表", "Application form"),
    "form.department": ("受理部門", "受理部门", "Department"),
    "form.service": ("辦理事項", "办理事项", "Service"),
    "form.applicant": ("申請人", "申请人", "Applicant"),
    "form.name": ("姓名", "姓名", "Name"),
    "form.document_type": ("證件類型", "证件类型", "Document type"),
    "form.document_number": ("證件號碼", "证件号码", "Document number"),
    "form.nationality": ("國籍／地區", "国籍／地区", "Nationality"),
    "form.birth_date": ("出生日期", "出生日期", "Date of birth"),
    "form.identity_result": ("身份核驗結果", "身份核验结果", "Identity check"),
    "form.identity_none": ("未有身份核驗記錄", "未有身份核验记录", "no identity check recorded"),
    "form.materials": ("提交材料", "提交材料", "Materials submitted"),
    "form.no_materials": ("未提交材料", "未提交材料", "no materials submitted"),
    "form.declaration": (
        "本人確認以上資料及所提交材料真實、準確、完整，並同意以電子簽名確認本申請。",
        "本人确认以上资料及所提交材料真实、准确、完整，并同意以电子签名确认本申请。",
        "I confirm that the information above and the materials submitted are true, accurate"
        " and complete, and I confirm this application with my electronic signature.",
    ),
    "form.signature": ("申請人簽名", "申请人签名", "Applicant's signature"),
    "form.reference": ("表格編號", "表格编号", "Form reference"),
    "form.generated": ("生成時間", "生成时间", "Generated"),
    "receipt.title": ("受理回執", "受理回执", "Acceptance receipt"),
    "receipt.paid": ("已繳費用", "已缴费用", "Fee paid"),
    "receipt.paid_ref": ("支付單號", "支付单号", "Payment ref."),
    "receipt.fee_due": ("領取結果時繳費", "领取结果时缴费", "Fee at result"),
    "receipt.number": ("受理號", "受理号", "Acceptance number"),
    "receipt.time": ("受理時間", "受理时间", "Accepted at"),
    "receipt.verify": (
        "掃描二維碼核驗本文件",
        "扫描二维码核验本文件",
        "Scan the QR code to verify",
    ),
    # materials to follow (容缺受理)
    "receipt.to_follow": ("容缺後補材料", "容缺后补材料", "Materials to follow"),
    "receipt.due": ("補交期限", "补交期限", "due by"),
    "receipt.to_follow_how": (
        "請於期限前憑受理號及身份證件，在任何自助終端選擇「補交材料」掃描提交。逾期未補交，申請將不予批准。",
        "请于期限前凭受理号及身份证件，在任何自助终端选择“补交材料”扫描提交。逾期未补交，申请将不予批准。",
        "Bring them by the date at any kiosk: choose 'Bring a missing material', enter this"
        " number and show your identity document. If they do not come in time, the"
        " application cannot be approved.",
    ),
    "receipt.later": (
        "憑受理號及身份證件可於任何自助終端查詢及列印辦理結果。",
        "凭受理号及身份证件可于任何自助终端查询及打印办理结果。",
        "Check and print the result at any kiosk with this number and your identity document.",
    ),
    "result.approved": ("准予許可決定書", "准予许可决定书", "Notice of approval"),
    "result.returned": ("補正材料通知書", "补正材料通知书", "Notice to supply more materials"),
    "result.rejected": ("不予許可決定書", "不予许可决定书", "Notice of refusal"),
    "result.reason": ("理由", "理由", "Reason"),
    "result.decided_by": ("決定人", "决定人", "Decided by"),
    "result.decided_at": ("決定時間", "决定时间", "Decided at"),
    "result.outcome": ("辦理結果", "办理结果", "Outcome"),
    "outcome.approved": ("准予", "准予", "approved"),
    "outcome.returned": ("退回補正", "退回补正", "returned for more materials"),
    "outcome.rejected": ("不予許可", "不予许可", "rejected"),
    "outcome.pending": ("待審批", "待审批", "awaiting decision"),
    "outcome.awaiting_second_approval": ("待複核", "待复核", "awaiting second approval"),
    "cert.title": ("完成證明", "完成证明", "Certificate of completion"),
    "cert.session": ("辦理會話", "办理会话", "Session"),
    "cert.clerk": ("經辦人", "经办人", "Clerk"),
    "cert.second": ("複核人", "复核人", "Second approver"),
    "cert.terminal": ("自助終端", "自助终端", "Kiosk"),
    "cert.events": ("過程", "过程", "Steps"),
    "cert.documents": ("文件及哈希值 (SHA-256)", "文件及哈希值 (SHA-256)", "Documents and SHA-256"),
    "cert.form_shown": ("簽署前展示的表格", "签署前展示的表格", "Form shown before signing"),
    "cert.strokes": ("簽名筆跡", "签名笔迹", "Signature strokes"),
    "cert.chain_head": ("會話哈希鏈", "会话哈希链", "Session hash chain"),
    "cert.decision": ("決定", "决定", "Decision"),
    # the certificate's steps, one sentence each (the event kinds stay in the chain)
    "event.call.accepted": (
        "職員接聽視像通話",
        "工作人员接听视频通话",
        "The clerk answered the video call",
    ),
    "event.identity.result": (
        "自助終端完成一次身份核驗",
        "自助终端完成一次身份核验",
        "The kiosk checked the identity",
    ),
    "event.identity.override": (
        "經辦職員當面確認申請人身份",
        "经办人员当面确认申请人身份",
        "The clerk confirmed the identity in person",
    ),
    "event.eid.started": (
        "自助終端顯示電子身份登入二維碼",
        "自助终端显示电子身份登录二维码",
        "The kiosk showed an e-ID sign-in QR code",
    ),
    "event.eid.opened": (
        "申請人以手機打開電子身份登入",
        "申请人以手机打开电子身份登录",
        "The applicant's phone opened the e-ID sign-in",
    ),
    "event.eid.answered": (
        "電子身份提供者作出回覆",
        "电子身份提供者作出回复",
        "The e-ID provider answered",
    ),
    "event.eid.finished": (
        "申請人以電子身份登入",
        "申请人以电子身份登录",
        "The applicant signed in with an e-ID",
    ),
    "event.eid.refused": (
        "電子身份登入被拒絕",
        "电子身份登录被拒绝",
        "An e-ID sign-in was refused",
    ),
    "event.eid.expired": (
        "電子身份登入二維碼過期",
        "电子身份登录二维码过期",
        "An e-ID sign-in QR code expired",
    ),
    "event.eid.cancelled": (
        "電子身份登入二維碼由新的取代",
        "电子身份登录二维码由新的取代",
        "An e-ID sign-in QR code was replaced by a new one",
    ),
    "event.form.generated": ("生成申請表", "生成申请表", "The application form was made"),
    "event.signature.captured": (
        "申請人簽署申請表",
        "申请人签署申请表",
        "The applicant signed the form",
    ),
    "event.application.submitted": ("申請已受理", "申请已受理", "The application was accepted"),
    "event.decision.recorded": ("部門作出決定", "部门作出决定", "The department decided"),
    "cert.chain_count": (
        "共 {count} 項記錄，最新雜湊值",
        "共 {count} 项记录，最新哈希值",
        "{count} records, latest hash",
    ),
    "event.other": ("辦理過程記錄", "办理过程记录", "A step of the session was recorded"),
    # the identity line: facts said as a sentence, never event names, codes or usernames
    "identity.read": (
        "已讀取申請人的身份證件",
        "已读取申请人的身份证件",
        "the identity document was read",
    ),
    "identity.eid": (
        "申請人以電子身份「{provider}」登入",
        "申请人以电子身份「{provider}」登录",
        "the applicant signed in with the e-ID {provider}",
    ),
    "identity.face_score": (
        "現場人臉與證件相片相符（相似度 {score}）",
        "现场人脸与证件相片相符（相似度 {score}）",
        "the live face matched the document photo (similarity {score})",
    ),
    "identity.face": (
        "現場人臉與證件相片相符",
        "现场人脸与证件相片相符",
        "the live face matched the document photo",
    ),
    "identity.face_failed": (
        "現場人臉與證件相片未能配對",
        "现场人脸与证件相片未能匹配",
        "the live face could not be matched to the document photo",
    ),
    "identity.live": ("活體檢測通過", "活体检测通过", "the liveness check passed"),
    "identity.live_failed": ("活體檢測未通過", "活体检测未通过", "the liveness check did not pass"),
    "identity.verified": ("身份核驗通過", "身份核验通过", "the identity is verified"),
    "identity.failed": (
        "自動身份核驗未通過",
        "自动身份核验未通过",
        "the automatic identity check did not pass",
    ),
    "identity.overridden": (
        "自動核驗未通過，經辦職員已當面核對證件並確認申請人身份",
        "自动核验未通过，经办人员已当面核对证件并确认申请人身份",
        "the automatic check did not pass, and the clerk checked the document in person and"
        " confirmed the applicant's identity",
    ),
    # the complaint slip (signaling/complaints/slip.py)
    "complaint.title": ("投訴回條", "投诉回执", "Complaint slip"),
    "complaint.number": ("投訴編號", "投诉编号", "Complaint number"),
    "complaint.code": ("查詢碼", "查询码", "Access code"),
    "complaint.department": ("處理部門", "处理部门", "Department"),
    "complaint.category": ("投訴類別", "投诉类别", "About"),
    "complaint.filed": ("提交時間", "提交时间", "Filed"),
    "complaint.due": ("答覆期限", "答复期限", "Answer due by"),
    "complaint.keep": (
        "請妥善保存本回條。憑投訴編號及查詢碼，可於任何自助終端或手機查詢處理進度及答覆。",
        "请妥善保存本回执。凭投诉编号及查询码，可于任何自助终端或手机查询处理进度及答复。",
        "Keep this slip. With the complaint number and the access code you can check its"
        " progress and read the answer at any kiosk or on your phone.",
    ),
    "complaint.category.staff": ("工作人員態度", "工作人员态度", "Attitude of staff"),
    "complaint.category.waiting": ("等候時間", "等候时间", "Waiting time"),
    "complaint.category.equipment": (
        "自助終端或設備",
        "自助终端或设备",
        "The kiosk or its equipment",
    ),
    "complaint.category.result": ("辦理結果", "办理结果", "Result of the application"),
    "complaint.category.other": ("其他", "其他", "Other"),
    # a self-service document (signaling/self_service/pdf.py)
    "self_service.reference": ("部門記錄編號", "部门记录编号", "Department reference"),
    "self_service.issued_at": ("部門出具時間", "部门出具时间", "Issued by the department"),
    "self_service.records": ("記錄明細", "记录明细", "Records"),
    "self_service.answer": ("部門答覆", "部门答复", "Department answer"),
}

_INDEX = {"zh-Hant": 0, "zh-Hans": 1, "en": 2}


def text(key: str, language: Language) -> str:
    """The wording of ``key`` in ``language``; a missing key is a programming error."""
    return _TEXTS[key][_INDEX[language]]


def identity_sentence(applicant: Applicant | None, language: Language) -> str:
    """The identity check as one sentence in ``language`` (for the form and the certificate)."""
    if applicant is None:
        return text("form.identity_none", language)
    parts = [text("identity.read", language)]
    if applicant.eid_provider is not None:
        provider = applicant.eid_provider[LANGUAGES.index(language)]
        parts = [text("identity.eid", language).format(provider=provider)]
    if applicant.face_matched is True:
        if applicant.score is not None:
            parts.append(
                text("identity.face_score", language).format(score=f"{applicant.score:.2f}")
            )
        else:
            parts.append(text("identity.face", language))
    elif applicant.face_matched is False:
        parts.append(text("identity.face_failed", language))
    if applicant.liveness is not None:
        parts.append(
            text("identity.live" if applicant.liveness else "identity.live_failed", language)
        )
    if applicant.overridden:
        parts.append(text("identity.overridden", language))
    elif applicant.checked:
        parts.append(
            text("identity.verified" if applicant.verified else "identity.failed", language)
        )
    if language == "en":
        sentence = "; ".join(parts)
        return sentence[0].upper() + sentence[1:] + "."
    return "，".join(parts) + "。"


def event_sentence(kind: str, language: Language) -> str:
    """A session event (by its kind) as a short sentence, for the certificate's steps."""
    key = f"event.{kind}"
    return text(key if key in _TEXTS else "event.other", language)


def chain_head_text(count: int, head: str, language: Language) -> str:
    """The chain's length and head, as the certificate prints it."""
    return f"{text('cert.chain_count', language).format(count=count)} {head}".strip()
