"""The synthetic district: deterministic, complete, consistent across tables, realistic."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datashare.errors import DatashareError, SynthError, SynthOutputExists
from datashare.extract import load_schemas, validate
from datashare.synth import TABLES, SynthSummary, synthesize

START, END = dt.date(2025, 7, 1), dt.date(2026, 6, 30)
DATES = {
    "students": ["birth_date"],
    "enrollments": ["entry_date", "exit_date"],
    "attendance": ["date"],
    "discipline": ["incident_date"],
    "service_contacts": ["contact_date"],
    "consents": ["granted_on", "revoked_on"],
}
NUMBERS = {
    "discipline": ["days_removed"],
    "grades": ["grade_points", "credits_attempted", "credits_earned"],
    "service_contacts": ["minutes"],
}


def load(folder: Path) -> dict[str, pl.DataFrame]:
    """Every table, CSV read as text then typed, so that ids keep their zeros."""
    tables = {}
    for table in TABLES:
        if (folder / f"{table}.parquet").exists():
            frame = pl.read_parquet(folder / f"{table}.parquet")
        else:
            frame = pl.read_csv(folder / f"{table}.csv", infer_schema=False)
            frame = frame.with_columns(
                *(pl.col(c).str.to_date() for c in DATES.get(table, [])),
                *(pl.col(c).cast(pl.Float64) for c in NUMBERS.get(table, [])),
            )
        tables[table] = frame.with_columns(pl.col(pl.Boolean).cast(pl.String).str.to_lowercase())
        if "minutes" in frame.columns:
            tables[table] = tables[table].with_columns(pl.col("minutes").cast(pl.Float64))
    return tables


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> tuple[SynthSummary, dict[str, pl.DataFrame]]:
    summary = synthesize(tmp_path_factory.mktemp("d") / "extract", students=2000, seed=11)
    return summary, load(summary.out_dir)


@pytest.fixture(scope="module")
def t(district: tuple[SynthSummary, dict[str, pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    return district[1]


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    for fmt in ("csv", "parquet"):
        a = synthesize(tmp_path / f"a-{fmt}", students=300, seed=3, format=fmt)
        b = synthesize(tmp_path / f"b-{fmt}", students=300, seed=3, format=fmt)
        c = synthesize(tmp_path / f"c-{fmt}", students=300, seed=4, format=fmt)
        for table in TABLES:
            assert a.paths[table].read_bytes() == b.paths[table].read_bytes(), table
        assert a.paths["attendance"].read_bytes() != c.paths["attendance"].read_bytes()


def test_writes_exactly_the_contract_tables_and_columns(
    district: tuple[SynthSummary, dict[str, pl.DataFrame]],
) -> None:
    summary, tables = district
    assert sorted(p.name for p in summary.out_dir.iterdir()) == sorted(f"{t}.csv" for t in TABLES)
    for name in TABLES:
        schema = load_schemas()[name]
        assert tables[name].columns == list(schema.names), name
        assert summary.rows[name] == tables[name].height
    assert summary.partner_ids == ("el-centro", "bright-path-tutoring", "partner-003", "partner-004")
    assert summary.school_ids == tuple(tables["schools"]["school_id"])
    assert tables["schools"]["district_id"].unique().to_list() == ["apple-tree"]


def test_ids_are_zero_padded_strings(t: dict[str, pl.DataFrame]) -> None:
    assert t["students"]["student_id"].str.contains(r"^\d{6}$").all()
    assert t["students"]["student_id"].min() == "000001"
    assert t["schools"]["school_id"].str.contains(r"^\d{4}$").all()
    assert t["schools"]["school_id"][0] == "0101"
    assert t["students"]["english_learner"].is_in(["true", "false"]).all()


def test_every_referenced_id_exists(t: dict[str, pl.DataFrame]) -> None:
    students, schools = t["students"]["student_id"], t["schools"]["school_id"]
    for name, frame in t.items():
        if "student_id" in frame.columns and name != "students":
            assert frame["student_id"].is_in(students.implode()).all(), name
        if "school_id" in frame.columns and name != "schools":
            assert frame["school_id"].is_in(schools.implode()).all(), name


def test_keys_are_unique(t: dict[str, pl.DataFrame]) -> None:
    for name in TABLES:
        schema = load_schemas()[name]
        if schema.key:
            assert not t[name].select(schema.key).is_duplicated().any(), name


def test_attendance_lies_inside_an_enrollment_at_that_school_on_school_days(
    t: dict[str, pl.DataFrame],
) -> None:
    att, enr = t["attendance"], t["enrollments"]
    assert att["date"].min() >= dt.date(2025, 8, 10) and att["date"].max() <= dt.date(2026, 5, 31)
    assert (att["date"].dt.weekday() <= 5).all()
    assert att["date"].n_unique() == 180
    inside = (
        att.join(enr, on=["student_id", "school_id"])
        .filter(
            (pl.col("date") >= pl.col("entry_date"))
            & (pl.col("exit_date").is_null() | (pl.col("date") <= pl.col("exit_date")))
        )
        .unique(["student_id", "school_id", "date"])
    )
    assert inside.height == att.height
    # One row per school day in membership: a full-year student has all 180 days.
    full_year = enr.filter(pl.col("exit_date").is_null() & (pl.col("entry_date") == att["date"].min()))
    days = att.join(full_year.select("student_id", "school_id"), on=["student_id", "school_id"])
    assert days.group_by("student_id", "school_id").len()["len"].unique().to_list() == [180]


def test_enrollments_include_transfers_leavers_and_reentries(t: dict[str, pl.DataFrame]) -> None:
    enr = t["enrollments"].sort("student_id", "entry_date")
    assert enr["exit_date"].null_count() > 0.9 * t["students"].height
    spells = enr.group_by("student_id").agg(
        schools=pl.col("school_id").n_unique(), n=pl.len(),
        gap_ok=(pl.col("entry_date").shift(-1) > pl.col("exit_date")).drop_nulls().all(),
    )  # fmt: skip
    assert spells.filter((pl.col("n") == 2) & (pl.col("schools") == 2)).height > 10
    assert spells.filter((pl.col("n") == 2) & (pl.col("schools") == 1)).height > 0
    assert spells.filter(pl.col("n") > 1)["gap_ok"].all()
    # Each student's last spell is still open unless they left the district.
    assert enr.filter(pl.col("exit_date").is_not_null())["exit_date"].max() < END
    assert enr["school_year"].unique().to_list() == ["2025-2026"]


def test_event_dates_fall_inside_the_year_and_the_enrollments(t: dict[str, pl.DataFrame]) -> None:
    dis, enr = t["discipline"], t["enrollments"]
    assert dis["incident_date"].is_between(START, END).all()
    inside = dis.join(enr, on=["student_id", "school_id"]).filter(
        (pl.col("incident_date") >= pl.col("entry_date"))
        & (pl.col("exit_date").is_null() | (pl.col("incident_date") <= pl.col("exit_date")))
    )
    assert inside.unique(["incident_id", "student_id"]).height == dis.height
    con = t["consents"]
    assert (con["revoked_on"].is_null() | (con["revoked_on"] >= con["granted_on"])).all()


def test_attendance_rates_and_chronic_absence_look_like_a_district(
    t: dict[str, pl.DataFrame],
) -> None:
    per = t["attendance"].group_by("student_id", "school_id").agg(
        n=pl.len(), absent=pl.col("status").str.ends_with("absence").sum()
    )
    rate = 1 - (per["absent"] / per["n"]).mean()
    chronic = per.filter(pl.col("n") >= 10).select((10 * pl.col("absent") >= pl.col("n")).mean()).item()
    assert 0.90 <= rate <= 0.96
    assert 0.12 <= chronic <= 0.28
    assert set(t["attendance"]["status"].unique()) == {
        "present", "tardy", "early_departure", "excused_absence", "unexcused_absence",
    }  # fmt: skip


def test_discipline_is_concentrated_in_a_minority(t: dict[str, pl.DataFrame]) -> None:
    dis, n_students = t["discipline"], t["students"].height
    per = dis.group_by("student_id").len().sort("len", descending=True)
    assert per.height < 0.25 * n_students
    top = per.head(max(1, per.height // 5))["len"].sum()
    assert top > 0.4 * dis.height
    assert (dis["days_removed"] >= 0).all()
    assert dis.filter(pl.col("action").is_in(["none", "referral", "detention"]))["days_removed"].max() == 0
    assert dis["incident_id"].is_duplicated().any()  # fights with two students


def test_grades_have_failures_and_credits(t: dict[str, pl.DataFrame]) -> None:
    g = t["grades"]
    assert set(g["letter_grade"].unique()) == {"A", "B", "C", "D", "F"}
    assert set(g["term"].unique()) == {"S1", "S2"}
    assert g["grade_points"].is_between(0, 4).all()
    assert set(g["credits_attempted"].unique()) == {0.5, 1.0}
    failed = g.filter(pl.col("grade_points") == 0)
    assert failed.height > 0 and (failed["credits_earned"] == 0).all()
    assert (failed["letter_grade"] == "F").all()
    passed = g.filter(pl.col("grade_points") > 0)
    assert (passed["credits_earned"] == passed["credits_attempted"]).all()


def test_grade_levels_match_schools_and_birth_dates(t: dict[str, pl.DataFrame]) -> None:
    enr = t["enrollments"].join(t["schools"], on="school_id")
    high = enr.filter(pl.col("school_name").str.contains("High|Academy"))
    assert high["grade_level"].is_in(["09", "10", "11", "12"]).all()
    elem = enr.filter(pl.col("school_name").str.contains("Elementary"))
    assert elem["grade_level"].is_in(["PK", "KG", "01", "02", "03", "04", "05"]).all()
    birthday = pl.col("birth_date").dt.month().cast(pl.Int32) * 100 + pl.col("birth_date").dt.day()
    s = t["students"].with_columns(
        number=pl.col("grade_level").replace({"PK": "-1", "KG": "0"}).cast(pl.Int64),
        age_on_sep_1=2025 - pl.col("birth_date").dt.year() - (birthday > 901).cast(pl.Int64),
    )
    assert (s["age_on_sep_1"] - s["number"]).is_in([5, 6]).all()
    assert ((s["age_on_sep_1"] - s["number"]) == 6).mean() < 0.1  # a few held back a year
    assert set(s["grade_level"].unique()) == {"PK", "KG", *(f"{g:02d}" for g in range(1, 13))}
    assert 1 < s["last_name"].n_unique() <= 40


def test_a_small_school_keeps_groups_under_ten(t: dict[str, pl.DataFrame]) -> None:
    per_school = t["enrollments"].group_by("school_id").agg(pl.col("student_id").n_unique())
    assert per_school["student_id"].min() < 40
    small = per_school.sort("student_id")["school_id"][0]
    served = (
        t["service_contacts"]
        .filter(pl.col("school_id") == small)
        .group_by("partner_id")
        .agg(pl.col("student_id").n_unique())
    )
    assert served.height > 0 and served["student_id"].max() < 10


def _distinct_days(t: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return (
        t["service_contacts"]
        .filter(pl.col("contact_date").is_between(START, END))
        .group_by("partner_id", "student_id")
        .agg(days=pl.col("contact_date").n_unique(), records=pl.len())
    )


def test_contact_counts_cluster_at_the_nine_contact_rule(t: dict[str, pl.DataFrame]) -> None:
    counts = _distinct_days(t)
    el_centro = counts.filter(pl.col("partner_id") == "el-centro")["days"]
    for n in (8, 9, 10):
        assert (el_centro == n).sum() >= 5, n
    assert (el_centro <= 5).sum() > 0 and (el_centro >= 15).sum() > 0
    assert (counts["records"] > counts["days"]).sum() > 0  # two records on one day
    sc = t["service_contacts"]
    assert (~sc["contact_date"].is_between(START, END)).sum() > 0  # summer work
    assert sc["minutes"].is_between(15, 120).all()
    assert set(sc["service_type"].unique()) <= {"tutoring", "mentoring", "family_engagement", "health"}


def test_consents_cover_served_unserved_and_students_turning_18(t: dict[str, pl.DataFrame]) -> None:
    con = t["consents"]
    assert not con["consent_id"].is_duplicated().any()
    assert set(con["scope"].unique()) == {"individual_data", "photo_release"}
    assert con["revoked_on"].is_not_null().sum() > 0
    assert con["granted_on"].n_unique() > 50
    served = t["service_contacts"].select("partner_id", "student_id").unique()
    unserved = con.join(served, on=["partner_id", "student_id"], how="anti")
    assert unserved.height > 0
    adults = t["students"].filter(pl.col("birth_date") <= dt.date(2026 - 18, 6, 30))["student_id"]
    data = con.filter((pl.col("scope") == "individual_data") & pl.col("student_id").is_in(adults.implode()))
    signers = data.group_by("partner_id", "student_id").agg(pl.col("signed_by").unique())
    own = signers.filter(pl.col("signed_by").list.contains("eligible_student"))
    parent_only = signers.filter(~pl.col("signed_by").list.contains("eligible_student"))
    assert own.height > 0 and parent_only.height > 0
    already_18 = t["students"].filter(pl.col("birth_date") <= dt.date(2007, 7, 1)).height
    assert already_18 > 0


def test_parquet_and_csv_hold_the_same_data(tmp_path: Path) -> None:
    csv = synthesize(tmp_path / "csv", students=300, seed=5, format="csv")
    parquet = synthesize(tmp_path / "pq", students=300, seed=5, format="parquet")
    assert csv.rows == parquet.rows
    a, b = load(csv.out_dir), load(parquet.out_dir)
    for table in TABLES:
        assert a[table].equals(b[table]), table
    schema = pq.read_schema(parquet.paths["attendance"])
    assert str(schema.field("date").type) == "date32[day]"
    assert str(schema.field("student_id").type) == "string"


def test_refuses_a_folder_that_already_holds_an_extract(tmp_path: Path) -> None:
    (tmp_path / "students.parquet").write_bytes(b"district data")
    with pytest.raises(SynthOutputExists, match="students.parquet"):
        synthesize(tmp_path, students=50)
    assert (tmp_path / "students.parquet").read_bytes() == b"district data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["students.parquet"]


def test_an_output_path_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("notes")
    with pytest.raises(SynthError, match="taken"):
        synthesize(tmp_path / "taken", students=20)


@pytest.mark.parametrize(
    "kwargs",
    [{"students": 0}, {"schools": 0}, {"partners": -1}, {"school_year": "2025-2027"},
     {"school_year": "2025"}, {"format": "xlsx"}],
)  # fmt: skip
def test_refuses_bad_arguments(tmp_path: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(SynthError) as info:
        synthesize(tmp_path / "x", **kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, DatashareError)
    assert not (tmp_path / "x").exists()


def test_other_school_years_and_progress(tmp_path: Path) -> None:
    said: list[str] = []
    summary = synthesize(tmp_path, students=120, schools=3, partners=1, school_year="2027-2028",
                         format="parquet", progress=said.append)  # fmt: skip
    assert said and summary.partner_ids == ("el-centro",)
    att = pl.read_parquet(summary.paths["attendance"])
    assert att["date"].is_between(dt.date(2027, 7, 1), dt.date(2028, 6, 30)).all()
    assert validate(summary.out_dir).valid


def test_a_synthesized_district_validates_clean(
    district: tuple[SynthSummary, dict[str, pl.DataFrame]],
) -> None:
    report = validate(district[0].out_dir)
    assert report.flatten(["table", "column", "code"]) == []
    assert report.valid


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    students=st.integers(1, 400),
    schools=st.integers(1, 9),
    partners=st.integers(0, 5),
    seed=st.integers(0, 2**32 - 1),
    fmt=st.sampled_from(["csv", "parquet"]),
    form=st.sampled_from(["daily", "events"]),
)
def test_any_small_district_validates_clean(
    tmp_path_factory: pytest.TempPathFactory, students: int, schools: int, partners: int,
    seed: int, fmt: str, form: str,
) -> None:  # fmt: skip
    out = tmp_path_factory.mktemp("h") / "extract"
    summary = synthesize(out, students=students, schools=min(schools, students),
                         partners=partners, seed=seed, format=fmt, attendance=form)  # type: ignore[arg-type]  # fmt: skip
    assert summary.rows["students"] == students
    # A tiny district may have no incident at all: a header-only table, "not supplied".
    found = validate(out).flatten(["table", "column", "code"])
    assert all(code in ("not_supplied", "no_exceptions") for _, _, code in found), found


def test_many_partners_share_the_district(tmp_path: Path) -> None:
    """With 200 partners the generic ones serve few students each, so contacts stay realistic."""
    from datashare.synth import synthesize

    few = synthesize(tmp_path / "few", students=3000, schools=6, partners=20, seed=3, format="parquet")
    many = synthesize(tmp_path / "many", students=3000, schools=6, partners=200, seed=3, format="parquet")
    assert many.rows["service_contacts"] < 2.5 * few.rows["service_contacts"]
