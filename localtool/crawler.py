"""Site diff's crawler: which pages of a site to capture.

Breadth-first from a start URL, links found with a real HTML parser, kept only under the start
URL's prefix. Only pages that answer 2xx with ``text/html`` become runs (the original
screenshotted 404 pages). Fetches run concurrently, within a politeness limit of requests per
second.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin, urlsplit, urlunsplit

import requests
from bs4 import BeautifulSoup
from defusedxml import ElementTree

SKIPPED_EXTENSIONS = {
    "jpg",
    "jpeg",
    "png",
    "gif",
    "svg",
    "webp",
    "ico",
    "css",
    "js",
    "json",
    "xml",
    "pdf",
    "zip",
    "gz",
    "mp4",
    "mp3",
    "woff",
    "woff2",
    "ttf",
    "doc",
}
LINK_ATTRIBUTES = (("a", "href"), ("area", "href"), ("iframe", "src"), ("frame", "src"))
SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


class CrawlError(RuntimeError):
    pass


@dataclass
class CrawlOptions:
    depth: int = -1  # -1: unlimited; 0: the start page only
    ignore_prefixes: list[str] = field(default_factory=list)
    keep_query_string: bool = False
    include: list[str] = field(default_factory=list)  # regexes; any must match
    exclude: list[str] = field(default_factory=list)  # regexes; none may match
    max_pages: int = 1000
    sitemap: str | None = None
    auth: tuple | None = None
    concurrency: int = 4
    requests_per_second: float = 10.0
    timeout: float = 30.0


@dataclass
class Crawl:
    pages: list[str]  # 2xx text/html pages, in discovery order
    skipped: dict[str, str]  # url -> why


class _RateLimit:
    def __init__(self, per_second: float):
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.lock = threading.Lock()
        self.next = 0.0

    def wait(self):
        with self.lock:
            now = time.monotonic()
            delay = self.next - now
            self.next = max(now, self.next) + self.interval
        if delay > 0:
            time.sleep(delay)


def normalize(url: str, *, scheme: str, keep_query: bool) -> str:
    url, _ = urldefrag(url)
    parts = urlsplit(url)
    path = re.sub(r"/\./", "/", parts.path or "/")
    return urlunsplit((scheme, parts.netloc, path, parts.query if keep_query else "", ""))


def run_name(url: str, *, keep_query: bool) -> str:
    """The run's name: the URL's path, plus ``?query`` when queries are kept and there is one."""
    parts = urlsplit(url)
    name = parts.path or "/"
    if keep_query and parts.query:
        name += "?" + parts.query
    return name


class Crawler:
    def __init__(self, start: str, options: CrawlOptions):
        parts = urlsplit(start)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CrawlError(f"the start URL must be http(s): {start}")
        self.options = options
        self.scheme = parts.scheme
        self.start = normalize(start, scheme=self.scheme, keep_query=options.keep_query_string)
        self.prefix = self.start if not options.keep_query_string else self.start.split("?")[0]
        self.include = [re.compile(p) for p in options.include]
        self.exclude = [re.compile(p) for p in options.exclude]
        self.session = requests.Session()
        if options.auth:
            self.session.auth = options.auth
        self.limit = _RateLimit(options.requests_per_second)

    def wanted(self, url: str) -> str | None:
        """None if the URL should be crawled, else why not."""
        if not url.startswith(self.prefix):
            return "outside the start prefix"
        if any(url.startswith(prefix) for prefix in self.options.ignore_prefixes):
            return "ignored prefix"
        last = urlsplit(url).path.rsplit("/", 1)[-1]
        extension = last.rpartition(".")[2].lower()
        if "." in last and extension in SKIPPED_EXTENSIONS:
            return f"not a page (.{extension})"
        if self.include and not any(p.search(url) for p in self.include):
            return "not matched by --include"
        if any(p.search(url) for p in self.exclude):
            return "matched by --exclude"
        return None

    def crawl(self, on_page: Callable[[str], object] | None = None) -> Crawl:
        """Crawl the site; ``on_page`` is called with each page as it is found (in the order
        of ``Crawl.pages``), so a caller can start on it while the crawl goes on."""
        seen: set[str] = set()
        pages: list[str] = []
        skipped: dict[str, str] = {}
        level = [self.start] + self.sitemap_urls()
        depth = 0
        with ThreadPoolExecutor(max_workers=max(1, self.options.concurrency)) as pool:
            while level and len(pages) < self.options.max_pages:
                batch = []
                for url in level:
                    if url in seen:
                        continue
                    seen.add(url)
                    reason = self.wanted(url)
                    if reason:
                        skipped[url] = reason
                    else:
                        batch.append(url)
                next_level = []
                for url, (html, reason) in zip(batch, pool.map(self.fetch, batch), strict=True):
                    if html is None:
                        skipped[url] = reason
                        continue
                    if len(pages) >= self.options.max_pages:
                        skipped[url] = "over --max-pages"
                        continue
                    pages.append(url)
                    if on_page is not None:
                        on_page(url)
                    if self.options.depth < 0 or depth < self.options.depth:
                        next_level.extend(self.links(url, html))
                level = next_level
                depth += 1
        return Crawl(pages, skipped)

    def fetch(self, url: str) -> tuple[str | None, str]:
        self.limit.wait()
        try:
            with self.session.get(url, timeout=self.options.timeout, stream=True) as response:
                if not 200 <= response.status_code < 300:
                    return None, f"HTTP {response.status_code}"
                content_type = response.headers.get("Content-Type", "")
                if content_type.split(";")[0].strip().lower() != "text/html":
                    return None, f"not HTML ({content_type or 'no content type'})"
                final = normalize(
                    response.url, scheme=self.scheme, keep_query=self.options.keep_query_string
                )
                if final != url and not final.startswith(self.prefix):
                    return None, f"redirects outside the start prefix ({response.url})"
                return response.text, ""
        except requests.RequestException as exc:
            return None, f"fetch failed: {type(exc).__name__}"

    def links(self, base: str, html: str) -> list[str]:
        soup = BeautifulSoup(html, "html.parser")
        base_tag = soup.find("base", href=True)
        base = urljoin(base, str(base_tag["href"])) if base_tag else base
        found = []
        for tag, attribute in LINK_ATTRIBUTES:
            for element in soup.find_all(tag, attrs={attribute: True}):
                target = str(element[attribute]).strip()
                absolute = urljoin(base, target)
                if urlsplit(absolute).scheme not in ("http", "https"):
                    continue  # mailto:, javascript:, tel:, data: ...
                found.append(
                    normalize(
                        absolute, scheme=self.scheme, keep_query=self.options.keep_query_string
                    )
                )
        return found

    def sitemap_urls(self) -> list[str]:
        if not self.options.sitemap:
            return []
        urls: list[str] = []
        queue = [self.options.sitemap]
        visited: set[str] = set()
        while queue and len(visited) < 50:
            sitemap = queue.pop(0)
            if sitemap in visited:
                continue
            visited.add(sitemap)
            self.limit.wait()
            try:
                response = self.session.get(sitemap, timeout=self.options.timeout)
                response.raise_for_status()
                root = ElementTree.fromstring(response.content)
            except (requests.RequestException, ElementTree.ParseError) as exc:
                raise CrawlError(f"cannot read the sitemap {sitemap}: {exc}") from None
            for loc in root.iter(f"{SITEMAP_NS}loc"):
                text = (loc.text or "").strip()
                if root.tag == f"{SITEMAP_NS}sitemapindex":
                    queue.append(text)
                elif text:
                    urls.append(
                        normalize(
                            text, scheme=self.scheme, keep_query=self.options.keep_query_string
                        )
                    )
        return urls
