"""The headers of the pages the bridge serves to people (the chat page, the
API docs) and of their files.

Everything the pages load comes from the bridge itself: scripts, styles and
requests from this origin only, images also as data: URLs (the favicon,
Swagger UI's icons), no inline script, no eval, no frames, no forms posting
elsewhere; content types are not sniffed and no referrer leaves the page.
"""

from __future__ import annotations

from typing import Final

PAGE_HEADERS: Final = {
    "Content-Security-Policy": "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
