"""A pandas reference: one partner's aggregate comparison, as a district analyst writes it today.

Read the tables with pandas, group, merge: eligibility by distinct contact days in the
school year, per-student-school summaries, and for each school (and ``ALL``, pooling each
student's schools) the six metrics of CONTRACT section 3 for served and comparison
students, rounded like the published package (shares to 3 decimals, means to 2, half away
from zero). No suppression: the raw figures, to time and to check datashare's published
cells against.

Usage: ``python benchmarks/pandas_ref.py EXTRACT_DIR PARTNER_ID[,PARTNER_ID...] OUT.parquet [MIN_CONTACTS]``.
With several partners the comparison is made for each in turn, as a per-partner script
would be run for each partner, and the tables are concatenated with a ``partner_id`` column.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

MEANS = ("incidents_per_student", "mean_gpa")
ID_COLUMNS = {"student_id": str, "school_id": str, "partner_id": str, "incident_id": str, "course_id": str}


def read(extract: Path, table: str, columns: list[str]) -> pd.DataFrame:
    """A table's columns; identifiers as text (``000123`` keeps its zeros)."""
    parquet = extract / f"{table}.parquet"
    if parquet.exists():
        return pd.read_parquet(parquet, columns=columns)
    dtypes = {c: t for c, t in ID_COLUMNS.items() if c in columns}
    return pd.read_csv(extract / f"{table}.csv", usecols=columns, dtype=dtypes)


def to_date(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, format="%Y-%m-%d") if series.dtype == object or series.dtype == "str" else pd.to_datetime(series)


def round_half_away(values: pd.Series, decimals: int) -> pd.Series:
    scale = 10.0**decimals
    return np.sign(values) * np.floor(np.abs(values) * scale + 0.5) / scale


def reference(extract: Path, partner: str, min_contacts: int = 9) -> pd.DataFrame:
    """Served and comparison ``n`` and rounded value per school (and ``ALL``) and metric."""
    enrollments = read(extract, "enrollments", ["student_id", "school_id", "school_year", "entry_date", "exit_date"])
    label = str(enrollments["school_year"].iloc[0])
    start, end = pd.Timestamp(f"{label[:4]}-07-01"), pd.Timestamp(f"{label[5:]}-06-30")

    enrollments["entry_date"] = to_date(enrollments["entry_date"])
    enrollments["exit_date"] = to_date(enrollments["exit_date"])
    overlaps = (enrollments["entry_date"] <= end) & (enrollments["exit_date"].isna() | (enrollments["exit_date"] >= start))
    enrolled = enrollments.loc[overlaps, ["school_id", "student_id"]].drop_duplicates()

    contacts = read(extract, "service_contacts", ["partner_id", "student_id", "contact_date"])
    contacts = contacts[contacts["partner_id"] == partner].copy()
    contacts["contact_date"] = to_date(contacts["contact_date"])
    contacts = contacts[(contacts["contact_date"] >= start) & (contacts["contact_date"] <= end)]
    days = contacts.groupby("student_id")["contact_date"].nunique()
    eligible = set(days[days >= min_contacts].index) & set(enrolled["student_id"])

    attendance = read(extract, "attendance", ["student_id", "school_id", "date", "status"])
    attendance["date"] = to_date(attendance["date"])
    attendance = attendance[(attendance["date"] >= start) & (attendance["date"] <= end)]
    attendance["present"] = attendance["status"].isin(["present", "tardy", "early_departure"])
    attendance["absent"] = attendance["status"].isin(["excused_absence", "unexcused_absence"])
    att = attendance.groupby(["school_id", "student_id"]).agg(
        enrolled_days=("status", "size"), present_days=("present", "sum"), absent_days=("absent", "sum")
    ).reset_index()

    discipline = read(extract, "discipline", ["incident_id", "student_id", "school_id", "incident_date", "action"])
    discipline["incident_date"] = to_date(discipline["incident_date"])
    discipline = discipline[(discipline["incident_date"] >= start) & (discipline["incident_date"] <= end)]
    discipline["suspension"] = discipline["action"].isin(["in_school_suspension", "out_of_school_suspension", "expulsion"])
    dis = discipline.groupby(["school_id", "student_id"]).agg(
        incidents=("incident_id", "nunique"), suspended=("suspension", "any")
    ).reset_index()

    grades = read(extract, "grades", ["student_id", "school_id", "school_year", "grade_points", "credits_attempted"])
    grades = grades[grades["school_year"] == label].copy()
    grades["weighted"] = grades["grade_points"] * grades["credits_attempted"]
    grades["failed"] = grades["grade_points"] == 0
    grd = grades.groupby(["school_id", "student_id"]).agg(
        weighted=("weighted", "sum"), credits=("credits_attempted", "sum"), failed=("failed", "any")
    ).reset_index()
    grd["graded"] = True

    summary = enrolled.merge(att, how="left", on=["school_id", "student_id"])
    summary = summary.merge(dis, how="left", on=["school_id", "student_id"])
    summary = summary.merge(grd, how="left", on=["school_id", "student_id"])
    for column in ("enrolled_days", "present_days", "absent_days", "incidents", "weighted", "credits"):
        summary[column] = summary[column].fillna(0)
    for column in ("suspended", "failed", "graded"):
        summary[column] = summary[column].fillna(False).astype(bool)

    pooled = summary.groupby("student_id").agg(
        enrolled_days=("enrolled_days", "sum"), present_days=("present_days", "sum"),
        absent_days=("absent_days", "sum"), incidents=("incidents", "sum"), weighted=("weighted", "sum"),
        credits=("credits", "sum"), suspended=("suspended", "any"), failed=("failed", "any"), graded=("graded", "any"),
    ).reset_index()  # fmt: skip
    pooled["school_id"] = "ALL"
    units = pd.concat([summary, pooled], ignore_index=True)
    units["served"] = units["student_id"].isin(eligible)

    rows = []
    metrics = {
        "attendance_rate": (units["enrolled_days"] > 0, lambda u: u["present_days"] / u["enrolled_days"]),
        "chronic_absence_rate": (units["enrolled_days"] >= 10, lambda u: (10 * u["absent_days"] >= u["enrolled_days"]).astype(float)),
        "suspension_rate": (units["student_id"].notna(), lambda u: u["suspended"].astype(float)),
        "incidents_per_student": (units["student_id"].notna(), lambda u: u["incidents"].astype(float)),
        "mean_gpa": (units["credits"] > 0, lambda u: u["weighted"] / u["credits"]),
        "course_failure_rate": (units["graded"], lambda u: u["failed"].astype(float)),
    }  # fmt: skip
    for metric, (who, value) in metrics.items():
        counted = units[who].copy()
        counted["x"] = value(counted)
        groups = counted.groupby(["school_id", "served"])["x"].agg(["size", "mean"]).reset_index()
        groups["metric"] = metric
        rows.append(groups)
    long = pd.concat(rows, ignore_index=True)
    served = long[long["served"]].rename(columns={"size": "served_n", "mean": "served_raw"})
    comparison = long[~long["served"]].rename(columns={"size": "comparison_n", "mean": "comparison_raw"})
    table = served.drop(columns="served").merge(
        comparison.drop(columns="served"), how="outer", on=["school_id", "metric"]
    )
    for side in ("served", "comparison"):
        table[f"{side}_n"] = table[f"{side}_n"].fillna(0).astype("int64")
        decimals = np.where(table["metric"].isin(MEANS), 2, 3)
        raw = table[f"{side}_raw"]
        table[f"{side}_value"] = np.where(
            decimals == 2, round_half_away(raw, 2), round_half_away(raw, 3)
        )
    return table[["school_id", "metric", "served_n", "served_raw", "served_value",
                  "comparison_n", "comparison_raw", "comparison_value"]].sort_values(["school_id", "metric"])  # fmt: skip


def main(argv: list[str]) -> int:
    extract, partners, out = Path(argv[1]), argv[2].split(","), Path(argv[3])
    min_contacts = int(argv[4]) if len(argv) > 4 else 9
    if len(partners) == 1:
        reference(extract, partners[0], min_contacts).to_parquet(out, index=False)
        return 0
    tables = [reference(extract, p, min_contacts).assign(partner_id=p) for p in partners]
    pd.concat(tables, ignore_index=True).to_parquet(out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
