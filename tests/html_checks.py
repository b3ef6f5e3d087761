"""Checks on HTML the preview makes: parsed as a browser would, and free of anything that runs or loads."""

from __future__ import annotations

from html.parser import HTMLParser

HOSTILE = '<script>alert("pwned")</script><img src=x onerror="alert(1)">'
# Tags and attributes that would load, run or navigate something on their own.
ACTIVE_TAGS = frozenset({"script", "img", "iframe", "object", "embed", "link", "svg", "video", "audio", "form", "base"})


class Page(HTMLParser):
    """What a browser would build from the page: tags with attributes, the text, the stylesheets."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text_parts: list[str] = []
        self.styles: list[str] = []
        self._in_style = False
        self.feed(source)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.text_parts).append(data)

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def with_class(self, css: str) -> list[dict[str, str | None]]:
        return [attrs for _, attrs in self.tags if css in (attrs.get("class") or "").split()]


def assert_inert(page: Page) -> None:
    """Nothing that runs, loads or navigates by itself; links only to http(s)."""
    active = [tag for tag, _ in page.tags if tag in ACTIVE_TAGS]
    assert not active, f"active elements in the page: {active}"
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), f"event handler {name} on <{tag}>"
            assert name not in ("src", "srcset", "action", "formaction", "poster", "background"), (tag, name)
            if name == "href":
                assert value and (value.startswith(("https://", "http://", "#"))), f"<{tag} href={value!r}>"
    assert all("url(" not in style and "@import" not in style for style in page.styles)
