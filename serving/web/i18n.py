"""The pages' two languages: Chinese (default) and English. One table of messages, key → (zh, en).

The language comes from ``?lang=zh|en`` (which the pages remember in a cookie) or that cookie; anything else
falls back to Chinese. Templates call ``t("key")``; an unknown key is an error (a test renders every page in
both languages), never a silently blank label.
"""

from __future__ import annotations

from fastapi import Request

from serving.web import messages

LANGS = ("zh", "en")
DEFAULT = "zh"
COOKIE = "cw_lang"

MESSAGES = messages.ALL


def t(key: str, lang: str) -> str:
    """The message `key` in `lang` (KeyError for an unknown key: caught by the page tests)."""
    zh, en = MESSAGES[key]
    return en if lang == "en" else zh


def language(request: Request) -> str:
    """The page language: ``?lang=`` first, then the cookie, then Chinese."""
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked
    kept = request.cookies.get(COOKIE)
    return kept if kept in LANGS else DEFAULT
