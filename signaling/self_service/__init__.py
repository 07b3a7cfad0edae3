"""Services without a clerk: identity, then the department's document, sealed and printed.

:mod:`.flow` runs a self-service session (open, fetch and seal, finish, hand over to a
clerk); :mod:`.pdf` renders a department's answer; :mod:`.routes` are the kiosk's REST routes.
"""
