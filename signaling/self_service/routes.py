"""The kiosk's self-service routes (device token), and the connectors' lifetime.

- ``POST /api/self-service``: :class:`SelfServiceStart` -> 201 :class:`SelfServiceOpened`.
- ``POST /api/sessions/{id}/identity``: the identity step's report, as in a call
  (:mod:`signaling.identity` takes it for a self-service session too).
- ``POST /api/sessions/{id}/self-service/document`` -> 201 :class:`SelfServiceIssued`; 409
  ``identity_not_verified``; 422 ``department_no_record`` / ``department_not_eligible`` (the
  department refused); 502 ``department_unavailable`` (it failed, or did not answer in time).
- ``POST /api/sessions/{id}/self-service/finish``: :class:`SelfServiceFinish`.
- "Ask a clerk" is the socket's ``request_service`` with ``handover_of`` (:mod:`.flow`).

With no ``department_connectors`` configured the self-service services are left out of the
catalogue (a server without department systems offers none); with some, every self-service
service's department must have one, or the server does not start.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from signaling.catalogue import Catalogue, self_service_problems
from signaling.departments.connector import Connectors
from signaling.departments.errors import (
    ConnectorConfigError,
    DepartmentRefused,
    DepartmentUnavailable,
    IdentityNotVerified,
    NotSelfService,
)
from signaling.errors import ConfigError, IllegalTransition, NotYourSession, UnknownService
from signaling.http_auth import body_as, http_error, terminal_of
from signaling.keys import BLOBS, CATALOGUE, DATABASE, ROUTER, SETTINGS
from signaling.messages import Message
from signaling.paperwork.routes import paperwork
from signaling.self_service.flow import SelfService
from signaling.self_service.messages import SelfServiceFinish, SelfServiceStart
from signaling.settings import Settings
from storage.errors import NotFound, VcounterError

log = logging.getLogger(__name__)

SELF_SERVICE = web.AppKey("self_service", SelfService)
_SESSION = "{session_id:[0-9a-f]{32}}"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def catalogue_for(catalogue: Catalogue, settings: Settings) -> Catalogue:
    """The catalogue the server offers: without self-service services when no department
    connector is configured; :class:`ConfigError` if one lacks its department's connector."""
    if not settings.department_connectors:
        kept = [s for s in catalogue.services if s.self_service is None]
        if len(kept) < len(catalogue.services):
            log.info(
                "self-service off: no department_connectors configured, %d self-service"
                " services left out of the catalogue", len(catalogue.services) - len(kept),
            )  # fmt: skip
        return catalogue.model_copy(update={"services": kept})
    if problems := self_service_problems(catalogue, settings.department_connectors):
        raise ConfigError(f"the catalogue's self-service services: {'; '.join(problems)}")
    return catalogue


def _handled(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except DepartmentRefused as exc:
            raise http_error(
                web.HTTPUnprocessableEntity, f"department_{exc.reason}", exc.message
            ) from exc
        except DepartmentUnavailable as exc:
            raise http_error(web.HTTPBadGateway, exc.code, exc.message) from exc
        except (IdentityNotVerified, IllegalTransition) as exc:
            raise http_error(web.HTTPConflict, exc.code, exc.message) from exc
        except NotYourSession as exc:
            raise http_error(web.HTTPForbidden, exc.code, exc.message) from exc
        except (NotFound, UnknownService) as exc:
            raise http_error(web.HTTPNotFound, exc.code, exc.message) from exc
        except (NotSelfService, ConnectorConfigError) as exc:
            raise http_error(web.HTTPBadRequest, exc.code, exc.message) from exc
        except VcounterError as exc:
            raise http_error(web.HTTPBadRequest, exc.code, exc.message) from exc

    return wrapped


def _json(message: Message, status: int = 200) -> web.Response:
    return web.json_response(message.model_dump(mode="json"), status=status)


@_handled
async def start(request: web.Request) -> web.Response:
    """The applicant picked a self-service service at this kiosk."""
    terminal = await terminal_of(request)
    body = body_as(SelfServiceStart, await request.read())
    opened = await request.app[SELF_SERVICE].open(
        terminal.id, body.service_id, body.language, body.care_mode
    )
    return _json(opened, 201)


@_handled
async def document(request: web.Request) -> web.Response:
    """The verified person's document from the department, sealed, for the kiosk to print."""
    terminal = await terminal_of(request)
    issued = await request.app[SELF_SERVICE].issue(
        paperwork(request), request.match_info["session_id"], terminal.id
    )
    return _json(issued, 201)


@_handled
async def finish(request: web.Request) -> web.Response:
    """Printed, or the applicant left: the session ends."""
    terminal = await terminal_of(request)
    body = body_as(SelfServiceFinish, await request.read())
    ended = await request.app[SELF_SERVICE].finish(
        request.match_info["session_id"], terminal.id, body.reason
    )
    return web.json_response({"ended": ended})


def setup_self_service(app: web.Application) -> None:
    """Mount the self-service routes; the connectors live as long as the server."""

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        connectors = Connectors.from_settings(app[SETTINGS].department_connectors)
        flow = SelfService(app[DATABASE], app[BLOBS], app[CATALOGUE], connectors)
        app[SELF_SERVICE] = flow
        app[ROUTER].handovers = flow
        app[ROUTER].spawn(flow.run_sweeps(app[SETTINGS].self_service_abandon_s))
        try:
            yield
        finally:
            await connectors.close()

    app.cleanup_ctx.append(lifetime)
    app.router.add_post("/api/self-service", start)
    app.router.add_post(f"/api/sessions/{_SESSION}/self-service/document", document)
    app.router.add_post(f"/api/sessions/{_SESSION}/self-service/finish", finish)
