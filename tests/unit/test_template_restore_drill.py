"""The restore drill's comparison (scripts/restore_drill.py) sees every kind of difference.

It runs against the test PostgreSQL: the fingerprint of a database changes with a row's content,
not only with the row count, and `compare` names the table and the kind of difference.
"""

from __future__ import annotations

import sys
from pathlib import Path

from devstack import provision

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import restore_drill  # noqa: E402


def test_fingerprint_changes_with_content_and_compare_names_the_table(scratch_database) -> None:
    url = scratch_database.url(provision.OWNER)
    conn = scratch_database.connect(provision.OWNER)
    try:
        conn.run("CREATE TABLE drill_items (id int PRIMARY KEY, label text)")
        conn.run("INSERT INTO drill_items VALUES (1, 'a'), (2, 'b')")
        before = restore_drill.fingerprint(url)
        assert before["drill_items"][0] == 2
        assert restore_drill.compare(before, restore_drill.fingerprint(url)) == []

        conn.run("UPDATE drill_items SET label = 'c' WHERE id = 2")  # same count, new content
        changed = restore_drill.fingerprint(url)
        assert restore_drill.compare(before, changed) == ["drill_items: same 2 rows, different content"]

        conn.run("DELETE FROM drill_items WHERE id = 1")
        assert restore_drill.compare(before, restore_drill.fingerprint(url)) == ["drill_items: 2 rows before, 1 after"]

        conn.run("DROP TABLE drill_items")
        assert "drill_items: missing after restore" in restore_drill.compare(before, restore_drill.fingerprint(url))
    finally:
        conn.close()
