"""A provider's or a receiving server's own words in an email's events (commlog.ui.format.quoted):
a Markdown block quote, line for line, in which nothing they wrote becomes a link or a heading."""

from __future__ import annotations

from commlog.ui.format import quoted


def test_a_multi_line_reply_is_quoted_line_for_line_and_its_markdown_stays_inert():
    reply = "550-5.1.1 [Click here](http://evil.example)\n\n  550 5.1.1 # not a heading  "
    assert quoted(reply) == ("> 550\\-5\\.1\\.1 \\[Click here\\]\\(http\\:\u2060\\/\\/evil\\.example\\)  \n"
                             "> 550 5\\.1\\.1 \\# not a heading")
