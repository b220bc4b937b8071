"""The headers every response carries, and the Content-Security-Policy the pages are written for.

No inline script or style anywhere: htmx is configured from a meta tag and styles live in static/app.css.
"""

from flask import Flask, abort, request

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; object-src 'none'"
)
# Production runs behind HTTPS (PUBLIC_BASE_URL must be https there): browsers never try plain HTTP again.
HSTS = "max-age=31536000; includeSubDomains"


def register_security_headers(app: Flask) -> None:
    """Every response: the CSP and the headers that keep pages out of frames and content types unguessed, HSTS in
    production, no-store on all but static files; a request carrying a NUL byte is refused."""
    production = app.config.get("ENV_NAME") == "production"

    @app.before_request
    def refuse_nul_bytes():
        # No field of Duly holds a NUL, and PostgreSQL text refuses it: a clear 400, not a 500 from the database.
        for values in (request.args, request.form):
            if any("\x00" in value for value in values.values()):
                abort(400, "NUL characters are not allowed")

    @app.after_request
    def headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if production:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if request.endpoint != "static":
            # Cockpit and self-service pages, their CSV and PDF downloads carry personal data: no copy in the
            # browser's or a proxy's cache. Overrides what send_file sets; the vendored CSS and scripts stay cached.
            response.headers["Cache-Control"] = "no-store"
        return response
