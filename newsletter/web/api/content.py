"""API: articles (list, ingest by URL or body, pin and exclude) and the archive of sent issues."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from newsletter.digest.links import archive_url
from newsletter.operations import archive as archive_reads
from newsletter.operations import articles as articles_admin
from newsletter.web.api.deps import Caller, api_runtime
from newsletter.web.api.problems import PROBLEM_RESPONSES

router = APIRouter(tags=["content"], responses=PROBLEM_RESPONSES)


class ArticleOut(BaseModel):
    """A stored article."""

    id: int
    title: str
    url: str | None
    source: str
    published_at: datetime
    topics: list[str]
    pinned: bool
    excluded: bool


class ArticleIn(BaseModel):
    """An article to ingest: a ``url`` (feed or page, fetched) or a ``body`` in ``format``."""

    url: str | None = Field(default=None, max_length=2000)
    body: str | None = Field(default=None, max_length=5_000_000)
    format: Literal["html", "markdown", "text"] = "html"
    topics: list[str] = Field(default_factory=list)
    published_at: datetime | None = None


class IngestOut(BaseModel):
    """What an ingest stored."""

    added: int
    duplicates: int
    article_ids: list[int]


class ArticleFlags(BaseModel):
    """Flags to change; fields left out stay as they are."""

    pinned: bool | None = None
    excluded: bool | None = None
    topics: list[str] | None = None


class IssueOut(BaseModel):
    """One sent digest in the archive."""

    digest_id: int
    run_id: int
    created_at: datetime
    url: str


@router.get("/articles", response_model=list[ArticleOut])
def get_articles(
    request: Request,
    owner: Caller,
    q: Annotated[str | None, Query(max_length=200)] = None,
    topic: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ArticleOut]:
    """Stored articles, newest first, optionally by text and topic."""
    found = articles_admin.listed_articles(
        api_runtime(request), text=q, topic=topic, limit=limit, offset=offset
    )
    return [_out(article, topics) for article, topics in found]


def _out(article: articles_admin.Article, topics: list[str]) -> ArticleOut:
    return ArticleOut(
        id=article.id or 0,
        title=article.title,
        url=article.url,
        source=article.source,
        published_at=article.published_at,
        topics=sorted(topics),
        pinned=article.pinned,
        excluded=article.excluded,
    )


@router.post("/articles", response_model=IngestOut, status_code=201)
async def ingest(request: Request, body: ArticleIn, owner: Caller) -> IngestOut:
    """Ingest a feed or page by URL, or one article from the body; repeats add nothing."""
    result = await asyncio.to_thread(
        articles_admin.ingest_article,
        api_runtime(request),
        url=body.url,
        body=body.body,
        body_format=body.format,
        topics=body.topics,
        published_at=body.published_at,
    )
    return IngestOut(
        added=result.added, duplicates=result.duplicates, article_ids=list(result.article_ids)
    )


@router.patch("/articles/{article_id}", response_model=ArticleOut)
def update_article(
    request: Request, article_id: int, body: ArticleFlags, owner: Caller
) -> ArticleOut:
    """Pin or unpin, exclude or include, or retag an article."""
    article, topics = articles_admin.edit_article(
        api_runtime(request),
        article_id=article_id,
        topics=body.topics,
        pinned=body.pinned,
        excluded=body.excluded,
    )
    return _out(article, topics)


@router.get("/lists/{slug}/archive", response_model=list[IssueOut])
def archive(
    request: Request,
    slug: str,
    owner: Caller,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[IssueOut]:
    """The list's sent digests with their public archive URLs, newest first."""
    rt = api_runtime(request)
    digests = archive_reads.sent_digests(rt, slug=slug, limit=limit)
    return [
        IssueOut(
            digest_id=digest.digest_id,
            run_id=digest.run_id,
            created_at=digest.created_at,
            url=archive_url(
                base_url=rt.settings.links.base_url,
                secret=rt.settings.links.secret,
                digest_id=digest.digest_id,
            ),
        )
        for digest in digests
    ]
