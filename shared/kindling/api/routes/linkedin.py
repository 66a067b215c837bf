"""LinkedIn: accounts (list, connect through the provider's hosted auth, reconnect, get, update, delete) and post
reactions under the account's engagement cap. The reference's three endpoints keep its exact shapes; everything
else is added under additional keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Body, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kindling.api.envelope import respond, respond_page
from kindling.api.routing import WorkspaceId, api_router, scope
from kindling.api.schemas import Envelope, ListEnvelope, Timestamp
from kindling.linkedin.limits import DIMENSIONS, next_reset, ramp_length, remaining
from kindling.linkedin.models import InvalidPostId, LinkedInAccount, Reaction, post_urn
from kindling.linkedin.provider_events import SECRET_QUERY_PARAMETER
from kindling.linkedin.service import ConnectResult, LinkedInAccountService
from kindling.platform.clock import get_clock
from kindling.platform.errors import ValidationFailed, field_error
from kindling.platform.settings import get_settings

router = api_router("LinkedIn")

AccountId = Path(max_length=64, description="The LinkedIn account id (`li_...`).")
PROVIDER_NOTIFY_PATH = "/linkedin/provider/notify"


class DailyLimitsView(BaseModel):
    engagements_per_day: int
    engagements_remaining: int


class LimitView(BaseModel):
    cap: int
    used: int
    remaining: int
    resets_at: Timestamp


class ActivityTallyView(BaseModel):
    views: int
    invites: int
    messages: int
    inmails: int
    engagements: int
    connections: int


class ActivityView(BaseModel):
    """What the account did (successes, not reservations): today (UTC) and this week (from Monday 00:00 UTC)."""

    day: str = Field(description="The UTC date `today` counts.")
    week_of: str = Field(description="The Monday `this_week` counts from.")
    today: ActivityTallyView
    this_week: ActivityTallyView


class ProxyView(BaseModel):
    """The proxy without its credentials (they are stored encrypted and never returned)."""

    mode: str
    country: str | None = None
    url: str | None = Field(default=None, description="`protocol://host:port` of a custom proxy, no credentials.")
    has_credentials: bool = False


class AccountView(BaseModel):
    id: str
    name: str | None
    linkedin_url: str | None
    status: str
    linkedin_account_type: str
    strategy: str
    ramp_week: int
    engagements_today: int
    engagements_day: str
    created_at: Timestamp
    daily_limits: DailyLimitsView
    # Kindling additions
    ramp_weeks: int
    limits: dict[str, LimitView]
    activity: ActivityView
    overrides: dict[str, int]
    overrides_acknowledged_at: Timestamp | None
    proxy: ProxyView
    disconnected_since: Timestamp | None
    updated_at: Timestamp


class ConnectView(BaseModel):
    url: str
    expires_at: Timestamp
    account: AccountView


class ConnectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    success_redirect_url: str | None = Field(default=None, max_length=2048)


class ReactionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    linkedin_account_id: str = Field(max_length=64)
    reaction_type: str = Field(default="LIKE", max_length=32)


class ReactionView(BaseModel):
    post_id: str
    reaction_type: str
    linkedin_account_id: str


class ReactorView(BaseModel):
    user_id: str | None
    name: str | None
    reaction_type: str
    timestamp: Timestamp
    linkedin_account_id: str


def account_view(service: LinkedInAccountService, account: LinkedInAccount, now: datetime) -> AccountView:
    caps = service.caps(account, now)
    used, activity = service.standing(account, now)
    limits = {
        d: LimitView(cap=caps[d], used=used[d], remaining=remaining(caps[d], used[d]), resets_at=next_reset(d, now))
        for d in DIMENSIONS
    }
    proxy = account.proxy
    return AccountView(
        id=account.id,
        name=account.name,
        linkedin_url=account.linkedin_url,
        status=account.status,
        linkedin_account_type=account.account_type or "classic",
        strategy=account.strategy,
        ramp_week=service.ramp_week_of(account, now),
        engagements_today=used["engagements_day"],
        engagements_day=now.astimezone(UTC).date().isoformat(),
        created_at=account.created_at,
        daily_limits=DailyLimitsView(
            engagements_per_day=caps["engagements_day"],
            engagements_remaining=remaining(caps["engagements_day"], used["engagements_day"]),
        ),
        ramp_weeks=ramp_length(account.strategy),
        limits=limits,
        activity=ActivityView(
            day=activity.day,
            week_of=activity.week,
            today=ActivityTallyView(**activity.today),
            this_week=ActivityTallyView(**activity.this_week),
        ),
        overrides=dict(account.overrides),
        overrides_acknowledged_at=account.overrides_acknowledged_at,
        proxy=ProxyView(
            mode=proxy.mode,
            country=proxy.country,
            url=f"{proxy.protocol}://{proxy.host}:{proxy.port}" if proxy.mode == "custom" else None,
            has_credentials=proxy.credentials_enc is not None,
        ),
        disconnected_since=account.disconnected_since,
        updated_at=account.updated_at,
    )


def notify_url(request: Request) -> str:
    """Where the provider calls back when a hosted auth completes: this stack's public ingress on the origin the
    request came in on (the API's own URL or its custom domain: the API function cannot be told its own URL, that
    would be a template cycle), carrying the per-stack secret in its query (the notify call cannot carry a
    header)."""
    settings = get_settings()
    origin = str(request.base_url).rstrip("/")
    if settings.is_deployed and not origin.startswith("https://"):
        origin = "https://" + origin.split("://", 1)[-1]
    query = urlencode({SECRET_QUERY_PARAMETER: settings.linkedin_webhook_secret or ""})
    return f"{origin}{PROVIDER_NOTIFY_PATH}?{query}"


def _connect_view(service: LinkedInAccountService, result: ConnectResult, now: datetime) -> dict[str, Any]:
    view = ConnectView(url=result.url, expires_at=result.expires_at, account=account_view(service, result.account, now))
    return view.model_dump(mode="json")


@router.get(
    "/linkedin/accounts",
    response_model=ListEnvelope[AccountView],
    openapi_extra=scope("linkedin:read"),
    summary="List LinkedIn accounts",
    description="Connected LinkedIn accounts with their daily engagement limits and how many actions remain today.",
)
def list_accounts(
    workspace_id: WorkspaceId,
    limit: int = Query(50, ge=1, le=100),
    cursor: str | None = Query(None, max_length=2048),
) -> JSONResponse:
    service = LinkedInAccountService()
    now = get_clock().now()
    page = service.list_accounts(workspace_id, limit, cursor)
    return respond_page([account_view(service, a, now) for a in page.items], page.next_cursor)


@router.post(
    "/linkedin/accounts/connect",
    response_model=Envelope[ConnectView],
    status_code=201,
    openapi_extra=scope("linkedin:write"),
    summary="Connect a LinkedIn account (hosted auth)",
    description=(
        "Returns the provider's hosted-auth URL where the user connects a LinkedIn account, and the account in "
        "`connecting` status. A second call within 90 seconds returns the same URL (and account)."
    ),
    responses={
        200: {"description": "A second click within 90 seconds: the same link and account."},
        502: {"description": "The LinkedIn provider could not create the link (`provider_error`)."},
    },
)
def connect_account(
    request: Request, workspace_id: WorkspaceId, body: ConnectRequest | None = Body(None)
) -> JSONResponse:
    service = LinkedInAccountService()
    result = service.connect(
        workspace_id, notify_url(request), success_redirect_url=body.success_redirect_url if body else None
    )
    return respond(_connect_view(service, result, get_clock().now()), status_code=200 if result.reused else 201)


@router.post(
    "/linkedin/accounts/{account_id}/reconnect",
    response_model=Envelope[ConnectView],
    openapi_extra=scope("linkedin:write"),
    summary="Reconnect a LinkedIn account (hosted auth)",
    description="The provider's hosted-auth URL to reconnect the account; the same URL for 90 seconds.",
    responses={409: {}, 502: {}},
)
def reconnect_account(request: Request, workspace_id: WorkspaceId, account_id: str = AccountId) -> JSONResponse:
    service = LinkedInAccountService()
    result = service.reconnect(workspace_id, account_id, notify_url(request))
    return respond(_connect_view(service, result, get_clock().now()))


@router.get(
    "/linkedin/accounts/{account_id}",
    response_model=Envelope[AccountView],
    openapi_extra=scope("linkedin:read"),
    summary="Get a LinkedIn account",
)
def get_account(workspace_id: WorkspaceId, account_id: str = AccountId) -> JSONResponse:
    service = LinkedInAccountService()
    return respond(account_view(service, service.get(workspace_id, account_id), get_clock().now()))


class AccountUpdate(BaseModel):
    """Only the keys sent change. `overrides` lower a cap per dimension (null clears one); setting any needs
    `risk_acknowledged: true` and none may exceed the safe ceiling. `proxy`: `{"mode": "auto"}`,
    `{"mode": "country", "country": "DE"}` or `{"mode": "custom", "url": "socks5://user:pass@host:1080"}`."""

    model_config = ConfigDict(extra="forbid")

    strategy: str | None = Field(default=None, max_length=32)
    overrides: dict[str, Any] | None = None
    risk_acknowledged: bool | None = None
    proxy: dict[str, Any] | None = None


@router.patch(
    "/linkedin/accounts/{account_id}",
    response_model=Envelope[AccountView],
    openapi_extra=scope("linkedin:write"),
    summary="Update a LinkedIn account (strategy, limit overrides, proxy)",
)
def update_account(workspace_id: WorkspaceId, body: AccountUpdate, account_id: str = AccountId) -> JSONResponse:
    sent = body.model_dump(include=body.model_fields_set)
    if "strategy" in sent and sent["strategy"] is None:
        raise ValidationFailed("The request is invalid.", details=[field_error("strategy", "cannot be null")])
    if "overrides" in sent and sent["overrides"] is None:
        raise ValidationFailed("The request is invalid.", details=[field_error("overrides", "cannot be null")])
    service = LinkedInAccountService()
    account = service.update(workspace_id, account_id, fields=sent)
    return respond(account_view(service, account, get_clock().now()))


@router.delete(
    "/linkedin/accounts/{account_id}",
    response_model=Envelope[AccountView],
    openapi_extra=scope("linkedin:write"),
    summary="Delete a LinkedIn account",
    description=(
        "Removes the account at the LinkedIn provider, then deletes it here (soft: it leaves the lists, its status "
        "history is kept)."
    ),
    responses={502: {}},
)
def delete_account(workspace_id: WorkspaceId, account_id: str = AccountId) -> JSONResponse:
    service = LinkedInAccountService()
    return respond(account_view(service, service.delete(workspace_id, account_id), get_clock().now()))


def _post(post_id: str) -> str:
    try:
        return post_urn(post_id)
    except InvalidPostId as exc:
        raise ValidationFailed(
            "The post id is invalid.", details=[field_error("postId", str(exc), "invalid_post_id")]
        ) from exc


PostId = Path(
    max_length=2048,
    description=(
        "`urn:li:activity:<digits>`, URL-encoded (`urn%3Ali%3Aactivity%3A...`), or a post URL in either form "
        "(`https://www.linkedin.com/feed/update/urn:li:activity:<id>/`, "
        "`https://www.linkedin.com/posts/<user>_<slug>-activity-<id>-<suffix>`)."
    ),
)


@router.post(
    "/linkedin/posts/{post_id:path}/reactions",
    response_model=Envelope[ReactionView],
    status_code=201,
    openapi_extra=scope("linkedin:write"),
    summary="React to a post",
    description=(
        "Adds a reaction (LIKE, CELEBRATE, SUPPORT, LOVE, INSIGHTFUL, FUNNY) from one of your connected accounts. "
        "The account's daily engagement cap is checked before anything is sent: at the cap, 429 "
        "`linkedin_limit_reached` with the cap, used, remaining 0 and when it resets in `details`."
    ),
    responses={409: {}, 502: {}},
)
def react_to_post(workspace_id: WorkspaceId, body: ReactionRequest, post_id: str = PostId) -> JSONResponse:
    urn = _post(post_id)
    reaction = LinkedInAccountService().react(workspace_id, urn, body.linkedin_account_id, body.reaction_type)
    view = ReactionView(post_id=urn, reaction_type=reaction.reaction_type, linkedin_account_id=reaction.account_id)
    return respond(view, status_code=201)


def _reactor(reaction: Reaction) -> ReactorView:
    return ReactorView(
        user_id=reaction.user_id,
        name=reaction.name,
        reaction_type=reaction.reaction_type,
        timestamp=reaction.reacted_at,
        linkedin_account_id=reaction.account_id,
    )


@router.get(
    "/linkedin/posts/{post_id:path}/reactions",
    response_model=ListEnvelope[ReactorView],
    openapi_extra=scope("linkedin:read"),
    summary="List reactions on a post",
    description="The reactions your connected accounts made on the post through this API. Cursor paginated.",
)
def list_reactions(
    workspace_id: WorkspaceId,
    post_id: str = PostId,
    limit: int = Query(50, ge=1, le=100),
    cursor: str | None = Query(None, max_length=2048),
) -> JSONResponse:
    page = LinkedInAccountService().reactions(workspace_id, _post(post_id), limit, cursor)
    return respond_page([_reactor(r) for r in page.items], page.next_cursor)


__all__ = ["router"]
