"""The typed application key of the server's :class:`~signaling.payments.service.Payments`."""

from __future__ import annotations

from aiohttp import web

from signaling.payments.service import Payments

# absent when payments_url is not set: fees cannot be taken
PAYMENTS = web.AppKey("payments", Payments)
