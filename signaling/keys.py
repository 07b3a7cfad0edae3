"""Typed keys for what the aiohttp application holds."""

from __future__ import annotations

import asyncio

from aiohttp import web

from signaling.catalogue import Catalogue
from signaling.metrics import Metrics
from signaling.router import Router
from signaling.settings import Settings
from storage.blobs import FileBlobStore
from storage.db import Database

SETTINGS = web.AppKey("settings", Settings)
CATALOGUE = web.AppKey("catalogue", Catalogue)
DATABASE = web.AppKey("database", Database)
ROUTER = web.AppKey("router", Router)
BLOBS = web.AppKey("blobs", FileBlobStore)
# operations (signaling/operations.py): set at SIGTERM or shutdown; see signaling/draining.py
DRAINING = web.AppKey("draining", asyncio.Event)
METRICS = web.AppKey("metrics", Metrics)
