"""The one place that decides between a whole page and a fragment for htmx."""

from flask import make_response, render_template

from portal.extensions import htmx


def render_page_or_fragment(page_template: str, fragment_template: str, /, **context):
    """Render the fragment for an htmx swap, else the whole page (which includes the fragment).

    A boosted request or a history restore wants the whole page, so only a plain htmx request gets the part.
    """
    partial = bool(htmx) and not htmx.boosted and not htmx.history_restore_request
    response = make_response(render_template(fragment_template if partial else page_template, **context))
    response.vary.add("HX-Request")
    return response
