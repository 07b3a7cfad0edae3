"""Fees and payment: a service's fee, the provider that takes it, and the sandbox that plays one.

``fees``: what a service costs and when it is due (the catalogue's ``fee``). ``signatures``
and ``wire``: the provider's signed HTTP JSON protocol, shared by our client (``provider``)
and the sandbox (``sandbox``, its own process). ``service``: orders, notifications and
refunds over the store (``storage.payments``), each state an event in the session's chain.
``routes``: the notify endpoint and the kiosk's endpoints. ``reconcile``: our records
against the provider's settlement file.
"""
