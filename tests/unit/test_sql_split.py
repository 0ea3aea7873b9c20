"""The migration engine's pure parts: file discovery, rendering, splitting, planning."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))

import migrations
from migrations import MigrationError, split_statements


def sqls(text: str) -> list[str]:
    return [s.sql for s in split_statements(text)]


def test_splits_on_top_level_semicolons():
    assert sqls("SELECT 1; SELECT 2;\n\nSELECT 3") == ["SELECT 1", "SELECT 2", "SELECT 3"]


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT 'a;b'",
        "SELECT 'it''s; fine'",
        r"SELECT 'back\'slash; still a string'",
        'SELECT 1 AS "odd;name"',
        "SELECT 1 AS `odd;name`",
        "SELECT 1 -- trailing; comment\n+ 1",
        "SELECT /* inline; comment */ 1",
        "SELECT /* nested /* ; */ still comment; */ 1",
        "SELECT '-- not a comment; really'",
        "SELECT '/* not a comment;'",
    ],
)
def test_semicolons_inside_strings_identifiers_and_comments_do_not_split(statement):
    assert sqls(f"{statement};\nSELECT 2;") == [statement, "SELECT 2"]


def test_comment_only_fragments_are_dropped_and_lines_are_kept():
    text = (
        "-- header\n/* block */\nCREATE TABLE a (x UInt8) ENGINE = Memory;\n-- done;\n\nSELECT 1;\n"
    )
    statements = split_statements(text)
    assert [s.line for s in statements] == [3, 6]
    assert statements[1].sql == "SELECT 1"


@pytest.mark.parametrize("text", ["SELECT 'open", "SELECT /* open", 'SELECT "open'])
def test_unterminated_quotes_and_comments_fail_with_the_line(text):
    with pytest.raises(MigrationError, match="line 1: unterminated"):
        split_statements(text)


def test_render_replaces_known_variables_and_leaves_clickhouse_macros():
    sql = "CREATE TABLE ${db}.t ${on_cluster} ENGINE = X('/t/{shard}', '{replica}')"
    rendered = migrations.render(sql, {"db": "hft_data", "on_cluster": "ON CLUSTER `c`"})
    assert (
        rendered == "CREATE TABLE hft_data.t ON CLUSTER `c` ENGINE = X('/t/{shard}', '{replica}')"
    )


def test_render_escape_gives_a_literal_placeholder():
    assert migrations.render("SELECT '$${x}'", {}) == "SELECT '${x}'"


def test_render_unknown_variable_names_file_line_and_known_names():
    with pytest.raises(
        migrations.TemplateError,
        match=r"0007_x.sql line 2: unknown variable \$\{tll_days\}.*known: db",
    ):
        migrations.render("SELECT 1\nTTL ${tll_days}", {"db": "x"}, source="0007_x.sql")


def test_default_variables_without_and_with_cluster():
    single = migrations.default_variables()
    assert (single["on_cluster"], single["replicated"]) == ("", "")
    assert single["ttl_raw_days"] == "30" and single["ttl_agg_days"] == "365"
    clustered = migrations.default_variables(cluster="hft")
    assert (clustered["on_cluster"], clustered["replicated"]) == ("ON CLUSTER `hft`", "Replicated")


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def test_discover_orders_by_version_and_ignores_other_files(tmp_path):
    write(tmp_path, {"0010_b.sql": "SELECT 10", "0002_a.sql": "SELECT 2", "README.md": "x"})
    found = migrations.discover(tmp_path)
    assert [(m.version, m.name) for m in found] == [(2, "0002_a.sql"), (10, "0010_b.sql")]
    assert found[0].checksum == migrations.checksum("SELECT 2")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"1_short.sql": "SELECT 1"}, "must be named NNNN_description.sql"),
        ({"0001_Upper.sql": "SELECT 1"}, "must be named NNNN_description.sql"),
        ({"0001_a.sql": "SELECT 1", "0001_b.sql": "SELECT 2"}, "share version 1"),
    ],
)
def test_discover_rejects_misnamed_and_duplicate_files(tmp_path, files, message):
    write(tmp_path, files)
    with pytest.raises(MigrationError, match=message):
        migrations.discover(tmp_path)


def test_discover_missing_directory(tmp_path):
    with pytest.raises(MigrationError, match="does not exist"):
        migrations.discover(tmp_path / "nope")


def test_prepare_rejects_empty_file(tmp_path):
    write(tmp_path, {"0001_empty.sql": "-- nothing here;\n"})
    with pytest.raises(MigrationError, match=r"0001_empty\.sql holds no statement"):
        migrations.prepare(migrations.discover(tmp_path)[0], {})


def applied(*versions: int) -> dict[int, migrations.AppliedRecord]:
    return {
        v: migrations.AppliedRecord(v, f"{v:04d}_m.sql", migrations.checksum(f"SELECT {v}"))
        for v in versions
    }


def test_pending_respects_target_and_applied(tmp_path):
    write(tmp_path, {f"{v:04d}_m.sql": f"SELECT {v}" for v in (1, 2, 3, 4)})
    found = migrations.discover(tmp_path)
    pending = migrations.select_pending(found, applied(1), target=3)
    assert [m.version for m in pending] == [2, 3]


def test_target_below_applied_version_fails(tmp_path):
    write(tmp_path, {f"{v:04d}_m.sql": f"SELECT {v}" for v in (1, 2)})
    with pytest.raises(MigrationError, match="does not roll back"):
        migrations.select_pending(migrations.discover(tmp_path), applied(1, 2), target=1)


def test_changed_applied_file_fails_naming_it_unless_allowed(tmp_path):
    write(tmp_path, {"0001_m.sql": "SELECT 1 -- edited", "0002_m.sql": "SELECT 2"})
    found = migrations.discover(tmp_path)
    with pytest.raises(migrations.ChecksumMismatchError, match=r"0001_m\.sql was changed"):
        migrations.verify_checksums(found, applied(1, 2), allow_change=False)
    warnings = migrations.verify_checksums(found, applied(1, 2), allow_change=True)
    assert len(warnings) == 1 and "accepted" in warnings[0]


def test_bookkeeping_database_must_be_an_identifier():
    with pytest.raises(MigrationError, match="plain identifier"):
        migrations.Bookkeeping(executor=None, database="x; DROP DATABASE y")  # type: ignore[arg-type]


def test_string_literals_are_escaped():
    assert migrations.quote_string("a'b\\c") == "'a\\'b\\\\c'"
