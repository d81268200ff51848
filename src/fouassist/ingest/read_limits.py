"""The bounds of reading one document (`ReadLimits`) and the error that says why a file cannot be
read (`DocumentError`); every reader counts its work against the first and raises the second."""

from __future__ import annotations

from dataclasses import dataclass, replace

from fouassist.config import Settings

_SETTINGS = Settings.model_construct()  # the defaults, without reading the environment


@dataclass(frozen=True)
class ReadLimits:
    """How much work one document may cost, counted while it is extracted: its text (per page and
    in all), its pages, the elements and nesting of HTML, the paragraphs and XML elements of DOCX,
    and what a DOCX or HTML file may expand to (a small ZIP can hold gigabytes of XML).
    The defaults are the settings' defaults (the service passes its settings)."""

    max_chars: int = _SETTINGS.max_document_chars
    max_expanded_mb: int = _SETTINGS.max_expanded_mb
    max_pages: int = _SETTINGS.max_pages
    max_page_chars: int = _SETTINGS.max_page_chars
    max_html_nodes: int = _SETTINGS.max_html_nodes
    max_html_depth: int = _SETTINGS.max_html_depth
    max_docx_paragraphs: int = _SETTINGS.max_docx_paragraphs
    max_docx_elements: int = _SETTINGS.max_docx_elements
    max_chars_per_byte: int = _SETTINGS.max_chars_per_byte
    max_unpacked_ratio: int = _SETTINGS.max_unpacked_ratio
    file_bytes: int | None = None  # the size of the file being read, once known

    @classmethod
    def of(cls, settings) -> ReadLimits:
        return cls(max_chars=settings.max_document_chars, max_expanded_mb=settings.max_expanded_mb,
                   max_pages=settings.max_pages, max_page_chars=settings.max_page_chars,
                   max_html_nodes=settings.max_html_nodes, max_html_depth=settings.max_html_depth,
                   max_docx_paragraphs=settings.max_docx_paragraphs, max_docx_elements=settings.max_docx_elements,
                   max_chars_per_byte=settings.max_chars_per_byte, max_unpacked_ratio=settings.max_unpacked_ratio)

    def sized(self, file_bytes: int) -> ReadLimits:
        return replace(self, file_bytes=file_bytes)

    def check_chars(self, name: str, characters: int) -> None:
        if characters > self.max_chars:
            raise DocumentError(name, f"the document has more than {self.max_chars:,} characters of text (the "
                                      "limit). Split it into smaller documents", code="too_large")
        # Work grows with the text: text far larger than its file is refused however small the file.
        if self.file_bytes is not None and characters > self.max_chars_per_byte * self.file_bytes:
            raise DocumentError(name, f"the file's {self.file_bytes:,} bytes hold more than "
                                      f"{self.max_chars_per_byte} characters of text per byte (the limit); so much "
                                      "text from so small a file comes from a damaged or crafted file. Save the "
                                      "text as a .txt file and upload that", code="too_large")

    def check_count(self, name: str, count: int, limit: int, what: str, advice: str) -> None:
        if count > limit:
            raise DocumentError(name, f"the document has more than {limit:,} {what} (the limit). {advice}",
                                code="too_large")


class DocumentError(Exception):
    """A file that cannot be read as a document; the message says which file and what to do.

    `code` names the kind of problem (for messages in the user's language): unsupported, empty,
    wrong_type, binary, encoding, encrypted, damaged, scan, no_text, unreadable, manifest, too_large.
    """

    def __init__(self, source: str, reason: str, code: str = "unreadable") -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        self.code = code
