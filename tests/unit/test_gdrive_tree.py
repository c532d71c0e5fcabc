"""Drive trees and paths: names made unique, export extensions, reachability, file types."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from resources.connectors.gdrive_tree import (
    DOCUMENT_MIME,
    FOLDER_MIME,
    PDF_MIME,
    PRESENTATION_MIME,
    SPREADSHEET_MIME,
    DriveFile,
    DriveTree,
    file_type,
)

ROOT = "root-id"


def item(id_: str, name: str, parent: str | None = ROOT, mime: str = "text/plain") -> DriveFile:
    return DriveFile(
        id=id_, name=name, mime_type=mime, parent=parent, version="v1", size=1, modified_at=None
    )


def folder(id_: str, name: str, parent: str | None = ROOT) -> DriveFile:
    return item(id_, name, parent, FOLDER_MIME)


def test_paths_follow_folder_names_and_add_export_extensions() -> None:
    tree = DriveTree(
        ROOT,
        [
            folder("f1", "Specs"),
            folder("f2", "2026", "f1"),
            item("d1", "Design", "f2", DOCUMENT_MIME),
            item("s1", "Budget", "f1", SPREADSHEET_MIME),
            item("p1", "Deck", ROOT, PRESENTATION_MIME),
            item("n1", "notes.md", ROOT, DOCUMENT_MIME),
            item("b1", "report.pdf", "f2", PDF_MIME),
        ],
    )
    assert tree.file_paths() == {
        "d1": "Specs/2026/Design.md",
        "s1": "Specs/Budget.csv",
        "p1": "Deck.txt",
        "n1": "notes.md",
        "b1": "Specs/2026/report.pdf",
    }


def test_same_names_get_the_id_of_all_but_the_first() -> None:
    tree = DriveTree(
        ROOT,
        [
            item("b", "a.txt"),
            item("a", "a.txt"),
            item("c", "a/b"),
            item("d", ".."),
            item("e", "Plan", mime=DOCUMENT_MIME),
            item("f", "Plan.md", mime="text/markdown"),
        ],
    )
    assert tree.file_paths() == {
        "a": "a.txt",
        "b": "a (b).txt",
        "c": "a_b",
        "d": "_..",
        "e": "Plan.md",
        "f": "Plan (f).md",
    }


def test_only_what_hangs_below_the_root_is_in_the_source() -> None:
    tree = DriveTree(
        ROOT,
        [
            folder("in", "in"),
            item("x", "x.txt", "in"),
            folder("out", "out", parent="elsewhere"),
            item("y", "y.txt", "out"),
            item("orphan", "o.txt", parent=None),
            folder("c1", "c1", "c2"),
            folder("c2", "c2", "c1"),
            item("z", "z.txt", "c1"),
        ],
    )
    assert tree.file_paths() == {"x": "in/x.txt"}
    assert tree.folders() == {ROOT, "in"}
    tree.prune()
    assert set(tree.items) == {"in", "x"}
    tree.remove("in")
    assert tree.file_paths() == {}


def test_from_api_prefers_the_content_checksum() -> None:
    common = {"id": "1", "name": "a", "parents": ["p"], "modifiedTime": "2026-01-02T03:04:05.000Z"}
    binary = DriveFile.from_api({**common, "mimeType": PDF_MIME, "md5Checksum": "ab", "size": "7"})
    assert (binary.version, binary.size, binary.parent) == ("md5:ab", 7, "p")
    assert binary.modified_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    doc = DriveFile.from_api({**common, "mimeType": DOCUMENT_MIME, "version": "12"})
    assert (doc.version, doc.size) == ("v12", 0)
    bare = DriveFile.from_api({"id": "2", "name": "b", "modifiedTime": common["modifiedTime"]})
    assert bare.version == common["modifiedTime"] and bare.parent is None
    assert DriveFile.from_json(binary.to_json()) == binary


@pytest.mark.parametrize(
    ("mime", "expected"),
    [
        (DOCUMENT_MIME, "document"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document"),
        (SPREADSHEET_MIME, "spreadsheet"),
        ("text/csv", "spreadsheet"),
        (PRESENTATION_MIME, "presentation"),
        (PDF_MIME, "pdf"),
        ("text/markdown", "text"),
        ("image/png", "other"),
        (FOLDER_MIME, None),
        ("application/vnd.google-apps.form", None),
        ("application/vnd.google-apps.shortcut", None),
    ],
)
def test_file_types(mime: str, expected: str | None) -> None:
    assert file_type(mime) == expected
