"""The one exception every service raises when it refuses: views, jobs, the CLI and the API handle them alike."""


class DomainError(ValueError):
    """A service refused what it was asked. The message is fit for whoever asked (a debtor's messages are lazy
    strings, worked out in the language of the page that shows them); ``field`` names the form field it belongs to,
    when one does, so that every form shows it beside that field (``portal.forms.add_error``)."""

    def __init__(self, message, field: str | None = None):
        super().__init__(message)
        self.message, self.field = message, field

    def __str__(self) -> str:
        return str(self.message)
