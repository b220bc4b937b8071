"""Reading statements written by banks (the samples) and by us; bad files are refused with where."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from portal.bank.generate import Credit, camt053
from portal.bank.parse import StatementError, parse

DATA = Path(__file__).resolve().parent.parent / "data"  # copies of ../shared/samples (see its README)


def _sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_camt053_sample_splits_the_batch_and_knows_returns():
    statement = parse(_sample("test-camt053"))
    assert (statement.format, statement.account) == ("camt053", "NL77ABNA0574908765")
    # 3 entries, one a returned batch of 2: 4 transactions.
    assert [(e.credit, e.amount, e.is_return) for e in statement.entries] == [
        (False, Decimal("754.25"), False),
        (False, Decimal("564.05"), True),
        (False, Decimal("100.00"), True),
        (True, Decimal("1405.31"), False),
    ]
    assert statement.entries[1].return_reason == "AC06"
    assert statement.entries[3].name == "3rd party Media" and statement.entries[3].end_to_end == "115"


def test_mt940_sample_reads_the_dutch_structured_details_and_wrapped_lines():
    statement = parse(_sample("sample3"))
    assert (statement.format, statement.account, len(statement.entries)) == ("mt940", "NL50RABO0123456789", 12)
    first, second = statement.entries[:2]
    assert (first.credit, first.amount, first.name) == (False, Decimal("127.50"), "Nespresso Nederland B.V.")
    assert first.iban == "NL96RBOS0523149468"
    assert second.credit and "201303-111" in second.remittance and "201303-112" in second.remittance
    assert statement.entries[9].end_to_end == "1134027115"
    assert sum(e.amount for e in statement.entries if e.credit) == Decimal(
        "19946.42"
    )  # worked out by hand from the 8 credit lines


def test_mt940_structured_reference_and_return_codes():
    text = (
        b":20:TEST\n:25:NL50RABO0123456789\n:28C:1\n:60F:C260101EUR000000000000,00\n"
        b":61:260102C000000000121,00N122NONREF\nNL02INGB0002447973\n"
        b":86:/EREF/E2E-1/CNTP/NL02INGB0002447973/INGBNL2A/KLANT BV///REMI/STRD/CUR/1234567890123452/\n"
        b":61:260103D000000000121,00N122NONREF\n"
        b":86:/RTRN/MD06/EREF/E2E-1/REMI/USTD//terug/\n"
        b":62F:C260103EUR000000000000,00\n"
    )
    credit, back = parse(text).entries
    assert (credit.reference, credit.end_to_end, credit.name, credit.iban) == (
        "1234567890123452",
        "E2E-1",
        "KLANT BV",
        "NL02INGB0002447973",
    )
    assert back.is_return and back.return_reason == "MD06" and not back.credit and back.remittance == "terug"


@pytest.mark.parametrize("version", ["02", "04", "08"])
def test_camt_versions_are_read_by_local_name(version):
    content = camt053("NL91ABNA0417164300", date(2026, 5, 4), [Credit(Decimal("10.50"), text="A-1")]).replace(
        b"camt.053.001.02", f"camt.053.001.{version}".encode()
    )
    [entry] = parse(content).entries
    assert entry.amount == Decimal("10.50") and entry.remittance == "A-1"


@pytest.mark.parametrize(
    "content, where",
    [
        (b"", "empty"),
        (b"hello", "neither camt.053"),
        (b"<Document><x>", "not well-formed"),
        (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "x">]><Document/>', "DTD"),
        (b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.09'><BkToCstmrStmt/></Document>", "001.09"),
        (
            camt053("NL91ABNA0417164300", date(2026, 5, 4), [Credit(Decimal("1.00"))]).replace(b"1.00<", b"1,0x<"),
            "statement 1, entry 1",
        ),
        (b":20:X\n:25:NL50RABO0123456789\n:61:26010XC12,00N122NONREF\n", "line 3"),
    ],
)
def test_a_bad_file_is_refused_saying_where(content, where):
    with pytest.raises(StatementError, match=where):
        parse(content)


def test_an_mt940_file_cut_off_in_a_transaction_is_refused():
    whole = _sample("sample3")
    with pytest.raises(StatementError, match="cut off"):
        parse(whole[:560])


LATER_CAMT = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><Stmt><Id>S-8</Id>
<Acct><Id><Othr><Id>ACC-1</Id></Othr></Id></Acct>
<Ntry><Amt Ccy="EUR">12.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
<BookgDt><DtTm>2026-05-04T10:00:00</DtTm></BookgDt><NtryDtls><TxDtls><RltdPties>
<Dbtr><Nm>  Jan\t de\u2003Vries </Nm></Dbtr><DbtrAcct><Id><IBAN>NL02INGB0002447973</IBAN></Id></DbtrAcct></RltdPties>
<RmtInf><Ustrd>INV-1</Ustrd><Ustrd>INV-2</Ustrd></RmtInf><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs></TxDtls>
</NtryDtls><AddtlNtryInf> with  thanks </AddtlNtryInf></Ntry>
<Ntry><Amt Ccy="EUR">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>PDNG</Cd></Sts>
<BookgDt><Dt>2026-05-04</Dt></BookgDt></Ntry>
<Ntry><Amt Ccy="USD">7.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><RvslInd>true</RvslInd><BookgDt><Dt>2026-05-05</Dt></BookgDt>
<ValDt><Dt>2026-05-06</Dt></ValDt><NtryDtls>
<TxDtls><AmtDtls><TxAmt><Amt Ccy="USD">3.00</Amt></TxAmt></AmtDtls><RltdPties><Cdtr><Nm>Shop</Nm></Cdtr>
<CdtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></CdtrAcct></RltdPties>
<RmtInf><Strd><CdtrRefInf><Ref>RF18 5390 0754 7034</Ref></CdtrRefInf></Strd></RmtInf></TxDtls>
<TxDtls><AmtDtls><TxAmt><Amt>4.00</Amt></TxAmt></AmtDtls><RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf></TxDtls>
</NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>"""


@pytest.mark.parametrize("namespace", [True, False])
def test_a_later_camt_version_field_by_field(namespace):
    """Status and booking time as later versions write them, a batch split, whitespace (Unicode's too) collapsed
    in each field; with the camt namespace or none."""
    content = (
        LATER_CAMT if namespace else LATER_CAMT.replace(' xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"', "")
    )
    statement = parse(content.encode())
    assert (statement.account, statement.statement_id) == ("ACC-1", "S-8")
    paid, sent, back = statement.entries  # the pending entry is not booked yet
    assert (paid.booking_date, paid.amount, paid.credit, paid.name, paid.iban) == (
        date(2026, 5, 4),
        Decimal("12.00"),
        True,
        "Jan de Vries",
        "NL02INGB0002447973",
    )
    assert (paid.remittance, paid.end_to_end, paid.value_date) == ("INV-1 INV-2 with thanks", "", None)
    assert (sent.amount, sent.currency, sent.name, sent.reference, sent.return_reason) == (
        Decimal("3.00"),
        "USD",
        "Shop",
        "RF18 5390 0754 7034",
        "reversal",
    )
    assert (back.amount, back.currency, back.is_return, back.return_reason, back.value_date) == (
        Decimal("4.00"),
        "USD",
        True,
        "AC04",
        date(2026, 5, 6),
    )
