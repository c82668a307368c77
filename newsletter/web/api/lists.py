"""API: mailing lists (admins only): list, show, create and change them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from newsletter.operations import lists as lists_ops
from newsletter.web.api.deps import Admin, api_runtime
from newsletter.web.api.problems import PROBLEM_RESPONSES

router = APIRouter(tags=["lists"], responses=PROBLEM_RESPONSES)


class ListOut(BaseModel):
    """A mailing list and how many subscriptions it has per status."""

    slug: str
    name: str
    from_name: str
    from_address: str
    reply_to: str | None
    topics: list[str]
    double_opt_in: bool
    default_cadence: str
    default_timezone: str
    counts: dict[str, int]


class ListIn(BaseModel):
    """A new list."""

    slug: str = Field(max_length=64)
    name: str = Field(max_length=200)
    from_name: str = Field(max_length=200)
    from_address: str = Field(max_length=320)
    reply_to: str | None = None
    topics: list[str] = Field(default_factory=list)
    default_cadence: str = "daily"
    default_weekday: int = 0
    default_send_hour: int = 8
    default_timezone: str = "UTC"
    double_opt_in: bool = True


class ListChange(BaseModel):
    """Settings to change; fields left out stay as they are (``reply_to: ""`` removes it)."""

    name: str | None = Field(default=None, max_length=200)
    from_name: str | None = Field(default=None, max_length=200)
    from_address: str | None = Field(default=None, max_length=320)
    reply_to: str | None = None
    topics: list[str] | None = None
    default_cadence: str | None = None
    default_weekday: int | None = None
    default_send_hour: int | None = None
    default_timezone: str | None = None
    double_opt_in: bool | None = None


def _list_out(listed: lists_ops.ListCounts) -> ListOut:
    mailing_list, counts = listed.mailing_list, listed.counts
    return ListOut(
        slug=mailing_list.slug,
        name=mailing_list.name,
        from_name=mailing_list.from_name,
        from_address=mailing_list.from_address,
        reply_to=mailing_list.reply_to,
        topics=list(mailing_list.topics),
        double_opt_in=mailing_list.double_opt_in,
        default_cadence=mailing_list.default_cadence,
        default_timezone=mailing_list.default_timezone,
        counts=counts,
    )


@router.get("/lists", response_model=list[ListOut])
def get_lists(request: Request, owner: Admin) -> list[ListOut]:
    """Every list with its subscription counts."""
    return [
        _list_out(listed) for listed in lists_ops.lists_with_status_counts(api_runtime(request))
    ]


@router.get("/lists/{slug}", response_model=ListOut)
def get_list(request: Request, slug: str, owner: Admin) -> ListOut:
    """One list."""
    shown = lists_ops.overview(api_runtime(request), slug=slug)
    return _list_out(lists_ops.ListCounts(shown.mailing_list, shown.counts))


@router.post("/lists", response_model=ListOut, status_code=201)
def create_list(request: Request, body: ListIn, owner: Admin) -> ListOut:
    """Create a list (its topics must exist)."""
    created = lists_ops.create(api_runtime(request), **body.model_dump())
    return _list_out(lists_ops.ListCounts(created, {}))  # a new list has no subscriptions


@router.patch("/lists/{slug}", response_model=ListOut)
def change_list(request: Request, slug: str, body: ListChange, owner: Admin) -> ListOut:
    """Change a list's settings; topics it stops offering leave its subscriptions."""
    changed = lists_ops.update_counted(
        api_runtime(request), slug=slug, **body.model_dump(exclude_unset=True)
    )
    return _list_out(changed)
