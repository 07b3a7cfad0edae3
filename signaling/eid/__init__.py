"""e-ID sign-in (identity step 3 without a card): the applicant proves who they are with an
identity provider's app or page on their phone, through OpenID Connect.

- :mod:`signaling.eid.config`: one provider's settings (issuer, client, scopes, claim mapping,
  which ``acr``/``amr`` count as strong as a card read plus a face match).
- :mod:`signaling.eid.oidc`: the :class:`~signaling.eid.oidc.IdentityProvider` interface and
  its OpenID Connect implementation (discovery, PKCE, code exchange, ID token checks).
- :mod:`signaling.eid.evidence`: claims -> the identity evidence the chain records.
- :mod:`signaling.eid.routes`: the kiosk's start, the phone's short link, the callback.
- ``dev_provider.mjs``: a development provider (npm ``oidc-provider``) for tests and the demo.
"""
