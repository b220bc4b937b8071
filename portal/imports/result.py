"""What every import answers: how much it stored, or every row it refused and why (then it stored nothing)."""

from dataclasses import dataclass, field

from portal.errors import DomainError


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based line of the file (CSV: the header is row 1), or 0 for the whole file
    field: str  # the field or element concerned, "" when the row as a whole is wrong
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "file"
        return f"{where}{f' ({self.field})' if self.field else ''}: {self.message}"


class ImportRefused(DomainError):
    """The file was refused as a whole; ``errors`` names each bad row. Nothing was stored."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors[:5]) + (" ..." if len(errors) > 5 else ""), "file")


@dataclass
class ImportResult:
    invoices: int = 0
    credit_notes: int = 0
    debtors_created: int = 0
    allocated: int = 0  # credit notes applied to the invoice they correct
    invoice_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was imported in a way the supplier should know of

    def summary(self) -> str:
        line = (
            f"invoices={self.invoices} credit_notes={self.credit_notes} "
            f"debtors_created={self.debtors_created} allocated={self.allocated}"
        )
        return "; ".join([line, *self.notes])
