"""Site diff's crawl rules, on a multi-page site served on 127.0.0.1."""

import pytest

from localtool.crawler import Crawler, CrawlError, CrawlOptions, run_name


def page(*links):
    return (
        "<html><body>"
        + "".join(f"<a href='{link}'>{link}</a>" for link in links)
        + "</body></html>"
    )


@pytest.fixture
def docs(site):
    """/docs/ -> a, b; a -> a/deep, b (a cycle back to the start too); b -> /outside, 404,
    an image, a JSON API, mailto/javascript links, a fragment, a query."""
    site.add("/docs/", page("a.html", "/docs/b.html", "#top"))
    site.add("/docs/a.html", page("deep/one.html", "b.html", "/docs/", "./b.html"))
    site.add("/docs/deep/one.html", page("../deep/two.html"))
    site.add("/docs/deep/two.html", page())
    site.add(
        "/docs/b.html",
        page(
            "/outside.html",
            "missing.html",
            "logo.png",
            "api",
            "mailto:me@example.com",
            "javascript:void(0)",
            "list.html?page=2",
            "a.html#section",
        ),
    )
    site.add("/docs/api", '{"json": true}', content_type="application/json")
    site.add("/docs/list.html", page())
    site.add("/docs/logo.png", b"png", content_type="image/png")
    site.add("/outside.html", page())
    return site


def crawl(site, start="/docs/", **options):
    return Crawler(site.url + start, CrawlOptions(**options)).crawl()


def paths(result, site):
    return [url.removeprefix(site.url) for url in result.pages]


def test_crawls_everything_under_the_prefix_once(docs):
    result = crawl(docs)
    assert paths(result, docs) == [
        "/docs/",
        "/docs/a.html",
        "/docs/b.html",
        "/docs/deep/one.html",
        "/docs/list.html",
        "/docs/deep/two.html",
    ]
    assert len(docs.seen("/docs/")) == 1  # the cycle back is not fetched again


def test_each_page_is_handed_over_as_it_is_found(docs):
    """site-diff asks for each page's run while the crawl goes on: the start page comes before
    the pages it links to are even fetched, and every page comes once, in the crawl's order."""
    handed = []

    def on_page(url):
        handed.append(url)
        if len(handed) == 1:
            assert not docs.seen("/docs/deep/one.html")  # two links further on

    result = Crawler(docs.url + "/docs/", CrawlOptions(concurrency=1)).crawl(on_page=on_page)
    assert handed == result.pages and len(handed) == 6


def test_404_and_non_html_are_skipped_not_captured(docs):
    result = crawl(docs)
    assert result.skipped[f"{docs.url}/docs/missing.html"] == "HTTP 404"
    assert result.skipped[f"{docs.url}/docs/api"] == "not HTML (application/json)"
    assert result.skipped[f"{docs.url}/docs/logo.png"] == "not a page (.png)"
    assert not docs.seen("/docs/logo.png")  # known non-page extensions are not even fetched
    assert result.skipped[f"{docs.url}/outside.html"] == "outside the start prefix"
    assert not docs.seen("/outside.html")


def test_depth(docs):
    assert paths(crawl(docs, depth=0), docs) == ["/docs/"]
    assert paths(crawl(docs, depth=1), docs) == ["/docs/", "/docs/a.html", "/docs/b.html"]
    assert "/docs/deep/two.html" not in paths(crawl(docs, depth=2), docs)
    assert "/docs/deep/two.html" in paths(crawl(docs, depth=3), docs)


def test_ignore_prefixes(docs):
    result = crawl(docs, ignore_prefixes=[f"{docs.url}/docs/deep"])
    assert not any("/deep/" in url for url in result.pages)


def test_include_and_exclude(docs):
    assert paths(crawl(docs, exclude=[r"/b\.html$"]), docs) == [
        "/docs/",
        "/docs/a.html",
        "/docs/deep/one.html",
        "/docs/deep/two.html",
    ]
    # include decides which URLs are crawled at all, the start page included
    assert paths(crawl(docs, include=[r"/docs/$", r"\.html$"], exclude=["deep"]), docs) == [
        "/docs/",
        "/docs/a.html",
        "/docs/b.html",
        "/docs/list.html",
    ]


def test_query_strings_dropped_or_kept(docs):
    assert "/docs/list.html" in paths(crawl(docs), docs)
    kept = paths(crawl(docs, keep_query_string=True), docs)
    assert "/docs/list.html?page=2" in kept and "/docs/list.html" not in kept


def test_max_pages(docs):
    assert len(crawl(docs, max_pages=2).pages) == 2


def test_sitemap_adds_pages_not_linked(docs):
    docs.add("/docs/hidden.html", page())
    docs.add(
        "/sitemap.xml",
        f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>{docs.url}/docs/hidden.html</loc></url>
  <url><loc>{docs.url}/outside.html</loc></url>
</urlset>""",
        content_type="application/xml",
    )
    result = crawl(docs, depth=0, sitemap=f"{docs.url}/sitemap.xml")
    assert paths(result, docs) == ["/docs/", "/docs/hidden.html"]


def test_unreadable_sitemap_is_an_error(docs):
    with pytest.raises(CrawlError, match="cannot read the sitemap"):
        crawl(docs, sitemap=f"{docs.url}/nope.xml")


def test_concurrent_fetching_respects_the_rate_limit(docs):
    import time

    started = time.monotonic()
    crawl(docs, concurrency=4, requests_per_second=20)
    requests = len(docs.requests)
    assert time.monotonic() - started >= (requests - 1) / 20 * 0.9


@pytest.mark.parametrize(
    "url,keep,name",
    [
        ("http://h/docs/a.html", False, "/docs/a.html"),
        ("http://h", False, "/"),
        ("http://h/list?page=2", True, "/list?page=2"),
        ("http://h/list", True, "/list"),  # no stray "?" when there is no query
    ],
)
def test_run_names(url, keep, name):
    assert run_name(url, keep_query=keep) == name


def test_start_url_must_be_http():
    with pytest.raises(CrawlError):
        Crawler("ftp://example.com/", CrawlOptions())
