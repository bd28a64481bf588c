"""A tiny OpenID Connect provider for the single sign-on browser tests (Starlette + joserfc).

Just enough of OIDC's authorization code flow for Streamlit's `st.login` (Authlib) to run for real:
discovery document, `/authorize` (no login screen: it signs in whoever the test put in
`next_identity` and redirects back with a one-time code), `/token` (checks the client's secret,
the redirect URI and the PKCE S256 verifier, and returns an RS256 `id_token` carrying the nonce),
and `/jwks` with the public key. It runs in a uvicorn thread on a free loopback port.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class _Grant:
    claims: dict
    nonce: str | None
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str | None


@dataclass
class OIDCProvider:
    client_id: str = "commlog-e2e"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    redirect_uri: str = ""  # the app's /oauth2callback; set before the first sign-in
    next_identity: dict = field(default_factory=dict)  # claims of whoever signs in next
    port: int = field(default_factory=free_port)
    authorize_requests: list[dict] = field(default_factory=list)
    token_requests: int = 0

    def __post_init__(self) -> None:
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "e2e-key", "use": "sig", "alg": "RS256"})
        self._grants: dict[str, _Grant] = {}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    # --- endpoints ------------------------------------------------------------------------------

    async def discovery(self, request: Request) -> JSONResponse:
        return JSONResponse({
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "email", "email_verified", "name"],
        })

    async def jwks(self, request: Request) -> JSONResponse:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> PlainTextResponse | RedirectResponse:
        q = dict(request.query_params)
        self.authorize_requests.append(q)
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            return PlainTextResponse("unknown client or response type", status_code=400)
        if q.get("redirect_uri") != self.redirect_uri:
            return PlainTextResponse("redirect_uri not registered", status_code=400)
        if "openid" not in q.get("scope", "").split():
            return PlainTextResponse("scope must include openid", status_code=400)
        code = secrets.token_urlsafe(24)
        self._grants[code] = _Grant(dict(self.next_identity), q.get("nonce"), q["redirect_uri"],
                                    q.get("code_challenge"), q.get("code_challenge_method"))
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}",
                                status_code=302)

    def _client_ok(self, request: Request, form: dict) -> bool:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            cid, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        else:
            cid, secret = form.get("client_id"), form.get("client_secret")
        return cid == self.client_id and secret == self.client_secret

    async def token(self, request: Request) -> JSONResponse:
        self.token_requests += 1
        form = dict(await request.form())
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self._grants.pop(form.get("code", ""), None)  # one-time codes
        if form.get("grant_type") != "authorization_code" or grant is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if form.get("redirect_uri") != grant.redirect_uri:
            return JSONResponse({"error": "invalid_grant", "error_description": "redirect_uri"}, status_code=400)
        if grant.code_challenge:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if grant.code_challenge_method != "S256" or digest != grant.code_challenge:
                return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + 300,
                  "sub": f"sub-{grant.claims.get('email', 'anonymous')}", **grant.claims}
        if grant.nonce:
            claims["nonce"] = grant.nonce
        id_token = jwt.encode({"alg": "RS256", "kid": "e2e-key"}, claims, self.key)
        return JSONResponse({"access_token": secrets.token_urlsafe(24), "token_type": "Bearer",
                             "expires_in": 300, "id_token": id_token})

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, timeout: float = 10) -> OIDCProvider:
        app = Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/jwks", self.jwks),
            Route("/authorize", self.authorize),
            Route("/token", self.token, methods=["POST"]),
        ])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name="oidc-provider", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test OIDC provider did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
