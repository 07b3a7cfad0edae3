"""Alembic environment: migrate on the connection :meth:`storage.db.Database.upgrade` hands in.

Run by hand (``alembic -c storage/alembic.ini -x url=...``) it opens its own async engine,
which is what ``revision --autogenerate`` needs.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from storage.db import Database
from storage.models import Base

config = context.config


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url_from_command_line() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("pass the database URL: alembic -c storage/alembic.ini -x url=...")
    return url


async def _run_standalone(url: str) -> None:
    async with Database(url) as db, db.engine.begin() as conn:
        await conn.run_sync(_configure_and_run)


def run() -> None:
    if context.is_offline_mode():
        context.configure(
            url=_url_from_command_line(), target_metadata=Base.metadata, literal_binds=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
    else:
        asyncio.run(_run_standalone(_url_from_command_line()))


run()
