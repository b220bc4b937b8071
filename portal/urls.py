"""Safe redirects: a ``next`` parameter may only lead to a path on this site."""

from urllib.parse import unquote, urlsplit


def is_safe_local_path(target: str | None) -> bool:
    if not target:
        return False
    decoded = unquote(target)
    for candidate in (target, decoded):
        if any(ch in candidate for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in candidate):
            return False
        if not candidate.startswith("/") or candidate.startswith("//"):
            return False
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return False
    return True


def safe_next(target: str | None, fallback: str) -> str:
    """``target`` when it is a local path, else ``fallback`` (``//evil``, ``/\\evil``, ``https:evil``...)."""
    return target if is_safe_local_path(target) else fallback
