"""The SIS extract: schemas as data, lazy reading, and validation into a report."""

from datashare.extract.read import Extract
from datashare.extract.report import Finding, TableInfo, ValidationReport
from datashare.extract.schema import TABLES, TableSchema, load_schemas
from datashare.extract.validate import load_extract, validate
from datashare.schoolyear import SchoolYear

__all__ = [
    "TABLES",
    "Extract",
    "Finding",
    "SchoolYear",
    "TableInfo",
    "TableSchema",
    "ValidationReport",
    "load_extract",
    "load_schemas",
    "validate",
]
