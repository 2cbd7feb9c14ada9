"""PDF/A-3 with the Factur-X XML embedded: WeasyPrint renders the HTML as PDF/A-3b, factur-x attaches
the XML (`factur-x.xml`, AFRelationship Data) and writes the Factur-X XMP metadata (level EN 16931)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import facturx

FLAVOR = "factur-x"
LEVEL = "en16931"


def html_to_pdfa(html: str) -> bytes:
    """WeasyPrint's PDF/A-3b render, in a short-lived thread of its own: a copy of ledger.pdf.html_to_pdf
    (read its docstring: a new thread's stack starts shallow, so the render's recursion does not pay an
    mmap/munmap pair per stack chunk it crosses, whoever calls it)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdf-render") as pool:
        return pool.submit(_render, html).result()


def _render(html: str) -> bytes:
    from weasyprint import HTML

    pdf: bytes = HTML(string=html).write_pdf(pdf_variant="pdf/a-3b")
    return pdf


def embed_xml(pdf: bytes, xml: bytes) -> bytes:
    """The PDF with the XML embedded as its Factur-X invoice (the XSD is checked again on the way)."""
    result: bytes = facturx.generate_from_binary(pdf, xml, flavor=FLAVOR, level=LEVEL, check_xsd=True)
    return result


def check_xsd(xml: bytes) -> str:
    """'' when the XML is valid against the official Factur-X EN 16931 XSD, else the validator's error."""
    try:
        facturx.xml_check_xsd(xml, flavor=FLAVOR, level=LEVEL)
    except Exception as err:  # factur-x raises a bare Exception for an invalid document
        return str(err)
    return ""


def xml_of_pdf(pdf: bytes) -> bytes:
    """The Factur-X XML embedded in a PDF (b'' when there is none)."""
    _filename, xml = facturx.get_xml_from_pdf(pdf, check_xsd=False)
    return xml or b""
