"""Import Ed-Fi data (API resources as JSON or a data lake's folders, or XML interchanges)
into a datashare extract folder, with every problem of the source as a finding.

Modules, one per concern: ``api`` (JSON and data lakes), ``interchange`` (XML),
``resources`` (where each field lives), ``descriptors`` (descriptor values to extract
codes), ``people`` and ``events`` (building the tables), ``write``, ``importer`` (the chain).
"""

from datashare.edfi.findings import ImportReport
from datashare.edfi.importer import import_edfi

__all__ = ["ImportReport", "import_edfi"]
