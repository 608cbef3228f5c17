"""The REST transport: one data-plane HTTP request per attempt (httpx), answers classified."""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import replace

import httpx

from .actions import Action
from .endpoints import Endpoint
from .errors import AuthError
from .outcome import Outcome, Verdict, classify_exception, classify_response
from .requests import RestRequest, build_request, health_request
from .tokens import RestTokenProvider
from .transport import TransportKind


class RestTransport:
    kind: TransportKind = "rest"
    manages_health = False

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        http: httpx.AsyncClient,
        tokens: RestTokenProvider,
        timeout: httpx.Timeout,
        hub: str,
        api_version: str,
        application: str | None,
        retry_ambiguous_sends: bool,
    ) -> None:
        self.endpoint = endpoint
        self.base = endpoint.connection.rest_base
        self.audience_base = endpoint.connection.audience_base
        self.http = http
        self.tokens = tokens
        self._timeout = timeout
        self._hub = hub
        self._api_version = api_version
        self._application = application
        self._retry_ambiguous = retry_ambiguous_sends

    async def start(self) -> None:
        return None

    def prepare(self, action: Action) -> RestRequest:
        return build_request(
            action, hub=self._hub, api_version=self._api_version, application=self._application
        )

    async def attempt(self, prepared: RestRequest, *, key: Hashable | None, remaining: float) -> Verdict:
        verdict = await self.send(prepared, remaining)
        if verdict.reauthenticate:
            self.tokens.invalidate(prepared.audience(self.audience_base))  # the next attempt re-mints it
        return verdict

    async def send(self, request: RestRequest, remaining: float) -> Verdict:
        try:
            authorization = await self.tokens.authorization(request.audience(self.audience_base))
        except AuthError as exc:
            # An identity endpoint that is briefly unreachable is worth a retry; a missing extra is not.
            outcome = Outcome.RETRY if exc.transient else Outcome.FAILED_PERMANENT
            return Verdict(outcome, "auth-unavailable" if exc.transient else "auth", error_code=str(exc))
        headers = {"Authorization": authorization, **request.headers}
        timeout: httpx.Timeout | None = None
        if remaining < (self._timeout.read or math.inf):
            timeout = httpx.Timeout(max(remaining, 0.001))
        try:
            response = await self.http.request(
                request.method,
                request.url(self.base),
                content=request.content,
                headers=headers,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            return classify_exception(request, exc, retry_ambiguous_sends=self._retry_ambiguous)
        verdict = classify_response(
            request, response.status_code, response.headers, retry_ambiguous_sends=self._retry_ambiguous
        )
        if request.returns_body and verdict.outcome is Outcome.DELIVERED:
            try:
                verdict = replace(verdict, payload=response.json())
            except ValueError:
                verdict = Verdict(Outcome.FAILED_PERMANENT, "bad-answer", response.status_code)
        return verdict

    async def probe(self) -> Verdict:
        return await self.send(health_request(api_version=self._api_version), self._timeout.connect or 5.0)

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.tokens.aclose()
