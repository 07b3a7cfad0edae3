"""Why an upload was refused, in the applicant's three languages.

The kiosk shows these sentences as they come (the server knows the session's language), so
each says what was wrong with the file and what to do instead. ``{...}`` are filled from the
refusal's parameters (:class:`media.errors.DocumentRefused`).
"""

from __future__ import annotations

from signaling.messages import Language

REFUSALS: dict[str, dict[Language, str]] = {
    "empty_file": {
        "zh-Hant": "檔案是空的(0 位元組)。請選擇另一個檔案,或重新掃描文件。",
        "zh-Hans": "文件是空的(0 字节)。请选择另一个文件,或重新扫描材料。",
        "en": "The file is empty (0 bytes). Choose another file or scan the document again.",
    },
    "too_large": {
        "zh-Hant": "檔案太大:每個檔案最多 {limit_mb} MB。請縮小檔案或分頁上傳。",
        "zh-Hans": "文件太大:每个文件最多 {limit_mb} MB。请缩小文件或分页上传。",
        "en": "The file is too large: at most {limit_mb} MB per file. Make it smaller or upload the pages separately.",
    },
    "wrong_type": {
        "zh-Hant": "這不是 PDF、JPEG 或 PNG 檔案(按內容判斷,與副檔名無關)。請上傳這三種格式之一。",
        "zh-Hans": "这不是 PDF、JPEG 或 PNG 文件(按内容判断,与扩展名无关)。请上传这三种格式之一。",
        "en": "This is not a PDF, JPEG or PNG file (judged by its content, not its name). Upload one of those.",
    },
    "corrupt_image": {
        "zh-Hant": "圖片已損壞,無法打開。請重新拍攝或掃描。",
        "zh-Hans": "图片已损坏,无法打开。请重新拍摄或扫描。",
        "en": "The image is damaged and cannot be opened. Take the photo or scan again.",
    },
    "too_many_pixels": {
        "zh-Hant": "圖片像素過多(最多 {megapixels} 百萬像素),無法安全打開。請以較低解析度掃描。",
        "zh-Hans": "图片像素过多(最多 {megapixels} 百万像素),无法安全打开。请以较低分辨率扫描。",
        "en": "The image has too many pixels (at most {megapixels} megapixels) to open safely. Scan at a lower resolution.",
    },
    "corrupt_pdf": {
        "zh-Hant": "PDF 檔案已損壞,無法打開。請重新匯出或掃描。",
        "zh-Hans": "PDF 文件已损坏,无法打开。请重新导出或扫描。",
        "en": "The PDF is damaged and cannot be opened. Export or scan it again.",
    },
    "encrypted_pdf": {
        "zh-Hant": "PDF 設有密碼或已加密,無法查看。請上傳未加密的版本。",
        "zh-Hans": "PDF 设有密码或已加密,无法查看。请上传未加密的版本。",
        "en": "The PDF is password-protected or encrypted. Upload a copy without a password.",
    },
    "pdf_active_content": {
        "zh-Hant": "PDF 內含會自動執行的內容(啟動程式、表單動作或附件),為安全起見不予接收。請列印成 PDF 或掃描後再上傳。",
        "zh-Hans": "PDF 内含会自动执行的内容(启动程序、表单动作或附件),为安全起见不予接收。请打印成 PDF 或扫描后再上传。",
        "en": "The PDF contains active content (a launch action, form actions or attached files) and is refused for safety. Print it to a new PDF or scan it, then upload that.",
    },
    "trailing_data": {
        "zh-Hant": "圖片檔案在圖片結束後仍有其他資料,不予接收。請另存為一般 JPEG 或 PNG 後再上傳。",
        "zh-Hans": "图片文件在图片结束后仍有其他数据,不予接收。请另存为普通 JPEG 或 PNG 后再上传。",
        "en": "The image file carries other data after the picture ends and is refused. Save it as a plain JPEG or PNG and upload that.",
    },
    "pdf_javascript": {
        "zh-Hant": "PDF 內含程式碼(JavaScript),為安全起見不予接收。請列印成 PDF 或掃描後再上傳。",
        "zh-Hans": "PDF 内含程序代码(JavaScript),为安全起见不予接收。请打印成 PDF 或扫描后再上传。",
        "en": "The PDF contains JavaScript and is refused for safety. Print it to a new PDF or scan it, then upload that.",
    },
    "too_many_pages": {
        "zh-Hant": "PDF 頁數太多(最多 {pages} 頁)。請只上傳所需的頁面。",
        "zh-Hans": "PDF 页数太多(最多 {pages} 页)。请只上传所需的页面。",
        "en": "The PDF has too many pages (at most {pages}). Upload only the pages needed.",
    },
    "hash_mismatch": {
        "zh-Hant": "檔案在傳送途中損壞。請再上傳一次。",
        "zh-Hans": "文件在传输途中损坏。请再上传一次。",
        "en": "The file was damaged on the way. Upload it again.",
    },
    "unknown_material": {
        "zh-Hant": "此服務不需要這項材料。請選擇清單上的材料。",
        "zh-Hans": "此事项不需要这项材料。请选择清单上的材料。",
        "en": "This service does not need that material. Choose one from the checklist.",
    },
    "session_not_active": {
        "zh-Hant": "通話已結束,不能再上傳文件。",
        "zh-Hans": "通话已结束,不能再上传材料。",
        "en": "The call has ended; documents can no longer be uploaded.",
    },
}


def refusal_text(code: str, language: str, **params: object) -> str:
    """The sentence for refusal ``code`` in ``language`` (English if the language is unknown)."""
    texts = REFUSALS[code]
    template: str = texts.get(language, texts["en"])  # type: ignore[call-overload]
    return template.format(**params)
