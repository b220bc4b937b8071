"""Text people typed, made fit to keep."""

# What a debtor or a supplier may write in one message, comment or reason.
MAX_MESSAGE = 2000


def clean(text: str | None, limit: int = MAX_MESSAGE) -> str:
    """Stripped and cut to ``limit`` characters; None becomes ""."""
    return (text or "").strip()[:limit]
