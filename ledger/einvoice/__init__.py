"""EN 16931 e-invoices: the Factur-X / ZUGFeRD CII XML of an invoice or credit note (`cii`), our own
business-rule checks over it (`checks`) and the PDF/A-3 that embeds it (`pdfa`). docs/einvoicing.md."""
