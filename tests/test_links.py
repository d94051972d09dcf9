"""Source links: text fragments per the WICG syntax, and fallbacks for documents without an address."""

from __future__ import annotations

from urllib.parse import unquote

from knowledge import Document, Source, source_link, text_fragment
from knowledge.content.links import encode_fragment_text

DOC = Document(file="001.txt", title="A Title", text="", url="https://example.org/post")
NO_URL = Document(file="003.txt", title="Unpacking", text="", url=None,
                  related_title="A Cartography of Open Collaboration", related_url="https://arxiv.org/abs/2509.25397")


def test_reserved_characters_are_percent_encoded_including_dash() -> None:
    assert encode_fragment_text("open-source, fast & cheap") == "open%2Dsource%2C%20fast%20%26%20cheap"
    assert encode_fragment_text("Hugging Face’s") == "Hugging%20Face%E2%80%99s"


def test_short_quote_links_the_whole_passage() -> None:
    assert text_fragment("Large Language Model.") == "#:~:text=Large%20Language%20Model."


def test_long_quote_links_by_its_first_and_last_words() -> None:
    quote = "Some licenses may have restrictions on how the model can be used or distributed, requiring careful review."
    fragment = text_fragment(quote)
    assert fragment == "#:~:text=Some%20licenses%20may%20have,distributed%2C%20requiring%20careful%20review."
    start, end = fragment.removeprefix("#:~:text=").split(",")
    assert quote.startswith(unquote(start)) and quote.endswith(unquote(end))


def test_trailing_comma_is_dropped_from_the_end_term() -> None:
    assert text_fragment("first second third fourth fifth sixth seventh eighth ninth,").endswith("eighth%20ninth")


def test_document_with_url_links_to_the_passage() -> None:
    link = source_link(DOC, Source("001.txt", "Large Language Model.", 3, 3))
    assert link.url == "https://example.org/post#:~:text=Large%20Language%20Model."
    assert link.lines == "line 3"


def test_document_without_url_uses_source_base_url_with_line_anchor() -> None:
    link = source_link(NO_URL, Source("003.txt", "q", 5, 6), base_url="https://git.example.com/bot/blob/main/")
    assert link.url == "https://git.example.com/bot/blob/main/seeds/003.txt#L5-L6"
    assert link.related_title == "A Cartography of Open Collaboration"


def test_document_without_url_or_base_shows_title_and_lines() -> None:
    link = source_link(NO_URL, Source("003.txt", "q", 5, 6))
    assert link.url is None
    assert (link.title, link.lines) == ("Unpacking", "lines 5-6")
    assert link.related_url == "https://arxiv.org/abs/2509.25397"
