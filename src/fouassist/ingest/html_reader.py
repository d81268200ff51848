"""The text of an HTML page, read in one bounded pass (see `_HtmlText`)."""

from __future__ import annotations

from html.parser import HTMLParser

from fouassist.ingest.read_limits import ReadLimits

_HTML_BLOCKS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "td", "th", "pre", "blockquote", "dt", "dd",
                          "figcaption"})
_HTML_SKIPPED = frozenset({"script", "style", "nav", "header", "footer", "aside", "noscript", "form", "template"})
_HTML_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                        "track", "wbr"})
# A start tag that ends an open element of its group, as browsers end an unclosed <li> or <td>;
# and those that end an unclosed <p>.
_HTML_ENDS_SIBLING = {"li": {"li"}, "dt": {"dt", "dd"}, "dd": {"dt", "dd"}, "td": {"td", "th"}, "th": {"td", "th"},
                      "tr": {"tr", "td", "th"}, "option": {"option"}}
_HTML_ENDS_P = frozenset({"address", "article", "aside", "blockquote", "details", "div", "dl", "fieldset", "figure",
                          "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "main", "nav", "ol",
                          "p", "pre", "section", "table", "ul"})


class _HtmlText(HTMLParser):
    """The text of a web page as lines, one per outermost block element (headings as Markdown,
    list items with a dash), in one pass over the page, without building a tree: the elements,
    their nesting and the text are counted as they come, against `limits`."""

    def __init__(self, name: str, limits: ReadLimits) -> None:
        super().__init__(convert_charrefs=True)
        self.name, self.limits = name, limits
        self.stack: list[str] = []
        self.nodes = self.characters = self.skipping = 0
        self.block_at: int | None = None  # stack depth of the open outermost block element
        self.block: list[str] = []
        self.lines: list[str] = []
        self.loose: list[str] = []  # all text, for a page without block elements
        self.title: list[str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        self._count_node()
        if self.stack and (self.stack[-1] in _HTML_ENDS_SIBLING.get(tag, ())
                           or (self.stack[-1] == "p" and tag in _HTML_ENDS_P)):
            self._close_to(len(self.stack) - 1)
        if tag in _HTML_VOID:
            return
        self.stack.append(tag)
        self.limits.check_count(self.name, len(self.stack), self.limits.max_html_depth, "levels of nested HTML "
                                "elements", "Save the page's text as a .txt file and upload that")
        self.skipping += tag in _HTML_SKIPPED
        if tag in _HTML_BLOCKS and self.block_at is None and not self.skipping:
            self.block_at = len(self.stack) - 1
        if tag == "title" and self.title is None:
            self.title = []

    def handle_startendtag(self, tag: str, attrs) -> None:
        self._count_node()

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, -1, -1):  # at most max_html_depth steps
            if self.stack[depth] == tag:
                self._close_to(depth)
                return

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        self.characters += len(data)
        self.limits.check_chars(self.name, self.characters)
        if self.stack and self.stack[-1] == "title" and self.title is not None:
            self.title.append(data)
        if self.block_at is not None:
            self.block.append(data)
        elif not self.lines:
            self.loose.append(data)

    def close(self) -> None:
        super().close()
        self._close_to(0)

    def text(self) -> tuple[str, str | None]:
        lines = self.lines or ["\n".join(part.strip() for part in self.loose if part.strip())]
        title = " ".join(" ".join(self.title).split()) if self.title else None
        return "\n\n".join(lines), title or None

    def _count_node(self) -> None:
        self.nodes += 1
        self.limits.check_count(self.name, self.nodes, self.limits.max_html_nodes, "HTML elements",
                                "Save the page's text as a .txt file and upload that")

    def _close_to(self, depth: int) -> None:
        """End the elements from `depth` up."""
        while len(self.stack) > depth:
            tag = self.stack.pop()
            self.skipping -= tag in _HTML_SKIPPED
            if self.block_at == len(self.stack):
                self._end_block(tag)

    def _end_block(self, tag: str) -> None:
        text = " ".join(" ".join(self.block).split())
        self.block_at, self.block = None, []
        if not text:
            return
        if tag[0] == "h" and tag[1:].isdigit():
            self.lines.append(f"{'#' * int(tag[1:])} {text}")
        elif tag == "li":
            self.lines.append(f"- {text}")
        else:
            self.lines.append(text)
        self.loose = []


def html_text(name: str, data: str, limits: ReadLimits) -> tuple[str, str | None]:
    parser = _HtmlText(name, limits)
    parser.feed(data)
    parser.close()
    return parser.text()
