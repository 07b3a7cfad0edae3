"""Reading a QR code off a screenshot, as a phone's camera would."""

from __future__ import annotations

import cv2
import numpy as np


def qr_text(png: bytes) -> str:
    """The text of the QR code in ``png`` ("" when none can be read). A white border is added
    first: an element's screenshot is cut at the code's edge, and OpenCV's detector misses a
    code without its quiet zone now and then."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    image = cv2.copyMakeBorder(image, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return str(text)
