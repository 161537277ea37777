#!/usr/bin/env python3
"""Real OAuth 2.0 authorization server (Authlib + Flask) for end-to-end tests.

Run:  python tests/oauth_server/server.py --port 0
Prints exactly one stdout line, ``LISTENING <port>``, once it accepts
connections; all logging goes to stderr. Behaviour is driven by the JSON
control API (see README.md), so one process can serve a whole test.
"""
import argparse
import hmac
import logging
import os
import signal
import sys
import threading
import time

# Tests talk plain http; Authlib already allows loopback hosts, but a client
# that sends some other Host header must not be refused as "insecure".
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector, current_token
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants, scope_to_list, list_to_scope
from authlib.oauth2.rfc6749 import ClientMixin, AuthorizationCodeMixin, TokenMixin
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator, InvalidTokenError
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

log = logging.getLogger("oauth_server")

_BOOL, _NAT = (lambda v: type(v) is bool), (lambda v: type(v) is int and v >= 0)
KNOBS = {  # name: (default, validator)
    "deny": (False, _BOOL),
    "grant_scopes": (None, lambda v: v is None or isinstance(v, str)),
    "rotate_refresh_tokens": (True, _BOOL),
    "refresh_error": (None, lambda v: v in (None, "invalid_grant", "server_error")),
    "omit_expires_in": (False, _BOOL),
    "expires_in": (3600, _NAT),
    "token_delay_ms": (0, _NAT),
    "extra_token_fields": ({}, lambda v: isinstance(v, dict)),
}
DEFAULTS = {name: default for name, (default, _) in KNOBS.items()}
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
BOTH_AUTH = ["client_secret_basic", "client_secret_post"]
CODE_TTL = 60

# One lock guards every dict below; handlers run on many threads at once.
LOCK = threading.Lock()
CLIENTS, CODES, BY_ACCESS, BY_REFRESH = {}, {}, {}, {}
SETTINGS = dict(DEFAULTS)


def zero_stats():
    return {"token_requests": {g: 0 for g in GRANT_TYPES}, "refresh_successes": 0,
            "refresh_failures": 0, "authorize_requests": 0}


STATS = zero_stats()


def setting(name):
    with LOCK:
        return SETTINGS[name]


ALICE = "alice"  # the only resource owner; /authorize never shows a login page


class Client(ClientMixin):
    def __init__(self, d):
        self.client_id, self.client_secret = d["client_id"], d["client_secret"]
        self.redirect_uris = list(d.get("redirect_uris", []))
        self.scope = d.get("scope", "")
        # None = accept both methods; a registered method is enforced so a test
        # can catch a client that authenticates the wrong way.
        self.auth_method = d.get("token_endpoint_auth_method")

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope):
        if not scope:  # RFC 6749 §3.3: omitted scope means the registered default
            return self.scope
        allowed = set(scope_to_list(self.scope))
        wanted = scope_to_list(scope)
        return list_to_scope([s for s in wanted if not allowed or s in allowed])

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return hmac.compare_digest(self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        if self.auth_method:
            return method == self.auth_method
        return method in BOTH_AUTH

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in GRANT_TYPES


class Record:
    """Attribute bag; Authlib only talks to stored objects through the getters."""

    def __init__(self, **kw):
        vars(self).update(kw)

    def get_scope(self):
        return self.scope


class AuthCode(Record, AuthorizationCodeMixin):
    def get_redirect_uri(self):
        return self.redirect_uri


class Token(Record, TokenMixin):
    """One issuance: an access token plus (maybe) a refresh token.
    The two are revoked independently: rotation kills only the refresh half."""
    access_revoked = refresh_revoked = False

    def check_client(self, client):
        return client.client_id == self.client_id

    def get_expires_in(self):
        return self.expires_in

    def is_expired(self):
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self):
        return self.access_revoked


def query_client(client_id):
    with LOCK:
        return CLIENTS.get(client_id)


def save_token(token, req):
    with LOCK:
        tok = Token(access_token=token["access_token"], refresh_token=token.get("refresh_token"),
                    client_id=req.client.client_id, scope=token.get("scope", ""),
                    user=req.user, issued_at=time.time(), expires_in=token.get("expires_in", 0))
        BY_ACCESS[tok.access_token] = tok
        if tok.refresh_token:
            BY_REFRESH[tok.refresh_token] = tok


class S256Only(CodeChallenge):
    """Authlib's CodeChallenge(required=True) only forces a code_verifier on
    public clients and accepts "plain" or no challenge at all; we want every
    client to be held to S256 like the real vendors the hub talks to."""
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge' (PKCE is required)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = BOTH_AUTH

    def save_authorization_code(self, code, req):
        granted = setting("grant_scopes")
        with LOCK:
            CODES[code] = AuthCode(
                code=code, client_id=req.client.client_id, redirect_uri=req.payload.redirect_uri,
                scope=granted if isinstance(granted, str) else req.scope, user=req.user,
                code_challenge=req.payload.data.get("code_challenge"),
                code_challenge_method=req.payload.data.get("code_challenge_method"),
                expires_at=time.time() + CODE_TTL)

    def query_authorization_code(self, code, client):
        with LOCK:
            item = CODES.get(code)
        if item and item.client_id == client.client_id and time.time() < item.expires_at:
            return item

    def authenticate_user(self, code):
        # Authlib looks the code up during validation and deletes it only after
        # minting the token; concurrent redemptions would both pass. Claiming
        # it here (first step after PKCE checks) makes single use atomic.
        with LOCK:
            if CODES.pop(code.code, None) is None:
                raise InvalidGrantError("Authorization code was already used.")
        return code.user

    def delete_authorization_code(self, code):
        pass  # already removed in authenticate_user


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = BOTH_AUTH

    def authenticate_refresh_token(self, refresh_token):
        with LOCK:
            tok = BY_REFRESH.get(refresh_token)
        if tok and not tok.refresh_revoked:
            return tok

    def authenticate_user(self, tok):
        # Same race as codes: validation and revoke_old_credential are far
        # apart, so N parallel refreshes would all succeed. Check-and-revoke
        # under the lock so exactly one wins, as with real rotating vendors.
        with LOCK:
            rotate = SETTINGS["rotate_refresh_tokens"]
            if tok.refresh_revoked:
                raise InvalidGrantError("Refresh token was already used or revoked.")
            tok.refresh_revoked = rotate
        # Authlib's issue_token() reads this class flag next; shadow it per request.
        self.INCLUDE_NEW_REFRESH_TOKEN = rotate
        return tok.user

    def revoke_old_credential(self, tok):
        pass  # done atomically in authenticate_user


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = BOTH_AUTH  # Authlib's default is basic only


class MeValidator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        with LOCK:
            return BY_ACCESS.get(token_string)


class Protector(ResourceProtector):
    def raise_error_response(self, error):
        # A missing/odd Authorization header is "missing_authorization" in
        # Authlib; the tests want one uniform invalid_token 401.
        if error.error != "insufficient_scope" and not isinstance(error, InvalidTokenError):
            error = InvalidTokenError(description=error.get_error_description())
        super().raise_error_response(error)


app = Flask(__name__)
# Built without `app` so Authlib's config-driven generator (which never issues
# refresh tokens by default) is not installed; ours reads expires_in live.
server = AuthorizationServer(query_client=query_client, save_token=save_token)
server.register_token_generator("default", BearerTokenGenerator(
    lambda **kw: generate_token(42), lambda **kw: generate_token(48),
    lambda client, grant_type: setting("expires_in")))
server.register_grant(AuthorizationCodeGrant, [S256Only(required=True)])
server.register_grant(RefreshTokenGrant)
server.register_grant(ClientCredentialsGrant)
require_oauth = Protector()
require_oauth.register_token_validator(MeValidator())


@app.get("/authorize")
def authorize():
    with LOCK:
        STATS["authorize_requests"] += 1
        deny = SETTINGS["deny"]
    try:
        grant = server.get_consent_grant(end_user=ALICE)
    except OAuth2Error as err:  # unknown client / bad redirect_uri → JSON 400
        return server.handle_error_response(None, err)
    if deny:  # Authlib turns grant_user=None into a redirect with access_denied
        return server.create_authorization_response(grant=grant, grant_user=None)
    return server.create_authorization_response(grant=grant, grant_user=ALICE)


@app.post("/token")
def issue_token():
    grant_type = request.form.get("grant_type")
    with LOCK:
        if grant_type in STATS["token_requests"]:
            STATS["token_requests"][grant_type] += 1
        cfg = dict(SETTINGS)
    if cfg["token_delay_ms"]:
        time.sleep(cfg["token_delay_ms"] / 1000)
    is_refresh = grant_type == "refresh_token"
    if is_refresh and cfg["refresh_error"]:
        with LOCK:
            STATS["refresh_failures"] += 1
        if cfg["refresh_error"] == "server_error":
            return jsonify(error="temporarily_unavailable"), 503
        return jsonify(error="invalid_grant", error_description="Forced by test control."), 400
    resp = server.create_token_response()
    if is_refresh:
        with LOCK:
            STATS["refresh_successes" if resp.status_code == 200 else "refresh_failures"] += 1
    if resp.status_code == 200:
        # Shape only the wire response; the stored token keeps its real expiry.
        body = resp.get_json()
        if cfg["omit_expires_in"]:
            body.pop("expires_in", None)
        body.update(cfg["extra_token_fields"])
        resp.set_data(app.json.dumps(body))
    return resp


@app.get("/api/me")
@require_oauth()
def me():
    # client_credentials tokens have no resource owner, hence user null.
    return jsonify(user=current_token.user, scope=current_token.scope)


@app.post("/_control/clients")
def register_client():
    body = request.get_json(force=True)
    if not body.get("client_id") or not body.get("client_secret"):
        return jsonify(error="client_id and client_secret are required"), 400
    with LOCK:
        CLIENTS[body["client_id"]] = Client(body)
    return jsonify(ok=True, client_id=body["client_id"])


@app.route("/_control", methods=["GET", "POST"])
def control():
    body = request.get_json(force=True) if request.method == "POST" else {}
    for key, value in body.items():  # reject typos loudly, never ignore a knob
        if key not in KNOBS or not KNOBS[key][1](value):
            return jsonify(error=f"unknown setting or bad value: {key}={value!r}"), 400
    with LOCK:
        SETTINGS.update(body)
        return jsonify(SETTINGS)


@app.post("/_control/reset")
def reset():
    global STATS
    with LOCK:
        SETTINGS.clear()
        SETTINGS.update(DEFAULTS)
        STATS = zero_stats()
        return jsonify(SETTINGS)


@app.post("/_control/revoke_all")
def revoke_all():
    with LOCK:
        for tok in BY_ACCESS.values():  # every refresh token's record is here too
            tok.access_revoked = tok.refresh_revoked = True
        return jsonify(revoked=len(BY_ACCESS))


@app.get("/_stats")
def stats():
    with LOCK:
        return jsonify(STATS)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = ap.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    srv = make_server("127.0.0.1", args.port, app, threaded=True)

    def stop(signum, _frame):
        log.info("signal %s, shutting down", signum)
        # shutdown() blocks until serve_forever returns, and that loop runs on
        # this (main) thread, so it must be called from another thread.
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"LISTENING {srv.server_port}", flush=True)
    srv.serve_forever(poll_interval=0.1)  # short poll: SIGTERM exits promptly
    srv.server_close()


if __name__ == "__main__":
    main()
