"""The console's sign-in bridge: Keycloak's code flow in, MinIO console session out.

Community MinIO's console lost its SSO button in ``RELEASE.2025-05-24``; its login API still takes
temporary credentials (``{"accessKey", "secretKey", "sts"}``). This small service, on the console's
own origin under ``/sso/``, does what the button did, over HTTP only:

1. ``/sso/login`` starts Keycloak's authorization-code flow (PKCE S256, ``state`` and ``nonce``)
   with Authlib; the three live in a short-lived, signed, HttpOnly cookie scoped to ``/sso``.
2. ``/sso/callback`` validates the ID token (the realm's keys, issuer, audience, expiry, nonce),
   exchanges it at MinIO's STS for credentials that end no later than the Keycloak session, logs in
   to the console with them and hands the browser only the console's own session cookie, its
   lifetime cut to the credentials'.
3. ``/sso/logout`` ends the console session and the Keycloak session.

Every failure is a page a person can act on (no storage role, Keycloak away, a stale or forged
flow), logged, and leaves no session.
"""
