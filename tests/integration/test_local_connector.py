"""The `local` connector against real folders under tmp_path."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from resources.connectors import (
    ConfigError,
    Connector,
    Entry,
    LocalConnector,
    SourceUnavailable,
    connector_types,
    open_connector,
    validate_config,
)

SEED_FILTERS = {
    "includePaths": ["src/**", "docs/**"],
    "excludePaths": ["node_modules/**", "*.lock"],
}


def write(root: Path, relative: str, text: str = "x") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "source"
    for relative in (
        "src/app.py",
        "src/lib/util.py",
        "src/lib/poetry.lock",
        "docs/guide.md",
        "README.md",
        "yarn.lock",
        "node_modules/left-pad/index.js",
        "src/.git/config",
        ".git/HEAD",
    ):
        write(root, relative, f"content of {relative}")
    return root


Connect = Callable[[dict[str, object]], Connector]


@pytest.fixture
def connect(tmp_path: Path) -> Iterator[Connect]:
    opened: list[Connector] = []

    def _open(config: dict[str, object]) -> Connector:
        connector = open_connector("local", config, workdir=tmp_path / "work")
        opened.append(connector)
        return connector

    yield _open
    for connector in opened:
        connector.close()


def paths(entries: Iterator[Entry] | list[Entry]) -> list[str]:
    return [entry.path for entry in entries]


def known_of(connector: Connector) -> dict[str, str]:
    return {entry.path: entry.version for entry in connector.changes(cursor=None, known={}).upserts}


def test_full_listing_applies_seed_filters_and_default_excludes(
    folder: Path, connect: Connect
) -> None:
    connector = connect({"path": str(folder), **SEED_FILTERS})
    changes = connector.changes(cursor=None, known={})
    entries = list(changes.upserts)
    assert paths(entries) == ["docs/guide.md", "src/app.py", "src/lib/util.py"]
    assert changes.deletes == []
    assert changes.cursor is None
    assert changes.description.startswith(f"full listing of {folder}: 3 files")
    app = entries[1]
    info = (folder / "src/app.py").stat()
    assert app.version == f"{info.st_size}:{info.st_mtime_ns}"
    assert app.size == info.st_size
    assert app.modified_at is not None and app.modified_at.tzinfo is not None


def test_no_filters_lists_everything_but_vcs_metadata(folder: Path, connect: Connect) -> None:
    connector = connect({"path": str(folder)})
    assert paths(connector.changes(cursor=None, known={}).upserts) == [
        "README.md",
        "docs/guide.md",
        "node_modules/left-pad/index.js",
        "src/app.py",
        "src/lib/poetry.lock",
        "src/lib/util.py",
        "yarn.lock",
    ]


def test_order_is_sorted_path_order_and_stable(tmp_path: Path, connect: Connect) -> None:
    root = tmp_path / "tricky"
    names = ["a/b", "a-b", "a.txt", "a0", "B", "a/c/d", "ab/x", "a b", "z", "é.md", "a/b0"]
    for name in names:
        write(root, name)
    connector = connect({"path": str(root)})
    first = paths(connector.changes(cursor=None, known={}).upserts)
    assert first == sorted(names)
    assert paths(connector.changes(cursor=None, known={}).upserts) == first


@pytest.fixture
def deep_tree(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A folder nested deeper than Python's recursion limit, removed bottom-up after."""
    root = tmp_path / "deep"
    depth = sys.getrecursionlimit() + 100
    current = root
    current.mkdir()
    for _ in range(depth):
        current = current / "d"
        current.mkdir()
    (current / "leaf.txt").write_text("bottom")
    yield root, depth
    # shutil.rmtree (and pytest's cleanup with it) recurses and would fail on this tree.
    (current / "leaf.txt").unlink()
    while current != tmp_path:
        current.rmdir()
        current = current.parent


def test_deep_tree_walks_without_recursion(deep_tree: tuple[Path, int], connect: Connect) -> None:
    root, depth = deep_tree
    connector = connect({"path": str(root)})
    [entry] = connector.changes(cursor=None, known={}).upserts
    assert entry.path == "d/" * depth + "leaf.txt"
    [fetched] = connector.fetch([entry])
    assert fetched.data == b"bottom"


def test_incremental_modify_add_delete_rename(folder: Path, connect: Connect) -> None:
    connector = connect({"path": str(folder), **SEED_FILTERS})
    known = known_of(connector)
    write(folder, "src/app.py", "changed and longer")
    util = folder / "src/lib/util.py"
    info = util.stat()
    os.utime(util, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000))  # same size, new mtime
    write(folder, "docs/new.md", "new page")
    (folder / "docs/guide.md").rename(folder / "docs/manual.md")
    write(folder, "node_modules/added.js")  # excluded: not an upsert

    changes = connector.changes(cursor=None, known=known)
    upserts = list(changes.upserts)
    assert paths(upserts) == ["docs/manual.md", "docs/new.md", "src/app.py", "src/lib/util.py"]
    assert changes.deletes == ["docs/guide.md"]
    assert changes.renames == []  # folders cannot tell a rename from delete + add
    assert "4 new or changed, 1 deleted" in changes.description
    contents = {item.entry.path: item.data for item in connector.fetch(upserts)}
    assert contents["src/app.py"] == b"changed and longer"
    assert contents["docs/manual.md"] == b"content of docs/guide.md"

    settled = {item.entry.path: item.entry.version for item in connector.fetch(upserts)}
    again = connector.changes(cursor=None, known={**known, **settled})
    assert paths(again.upserts) == []


def test_changed_filter_deletes_newly_excluded_files(folder: Path, connect: Connect) -> None:
    known = known_of(connect({"path": str(folder), **SEED_FILTERS}))
    narrower = connect(
        {"path": str(folder), "includePaths": ["src/**"], "excludePaths": ["*.lock"]}
    )
    changes = narrower.changes(cursor=None, known=known)
    assert list(changes.upserts) == []
    assert changes.deletes == ["docs/guide.md"]


def test_fetch_reports_unreadable_files_instead_of_raising(folder: Path, connect: Connect) -> None:
    connector = connect({"path": str(folder), **SEED_FILTERS})
    entries = {entry.path: entry for entry in connector.changes(cursor=None, known={}).upserts}
    (folder / "src/app.py").unlink()  # deleted between listing and fetch
    guide = folder / "docs/guide.md"
    guide.unlink()
    guide.symlink_to(folder / "missing-target")  # became a dangling symlink
    outside = Entry(path="../secrets.txt", version="1:1", size=1, modified_at=None)

    results = list(connector.fetch([entries["src/app.py"], entries["docs/guide.md"], outside]))
    assert [item.data for item in results] == [None, None, None]
    assert results[0].error == "No such file or directory (ENOENT)"
    assert results[1].error == "is a symbolic link (not followed)"
    assert results[2].error == "path is outside the source folder"
    [still_fine] = connector.fetch([entries["src/lib/util.py"]])
    assert still_fine.data == b"content of src/lib/util.py"


def test_fifo_is_skipped_when_listing_and_never_blocks_a_fetch(
    tmp_path: Path, connect: Connect
) -> None:
    root = tmp_path / "special"
    write(root, "data.txt", "x")
    os.mkfifo(root / "pipe")
    connector = connect({"path": str(root)})
    changes = connector.changes(cursor=None, known={})
    [entry] = changes.upserts
    assert entry.path == "data.txt"
    assert "1 special files" in changes.description
    (root / "data.txt").unlink()
    os.mkfifo(root / "data.txt")  # swapped for a FIFO after listing
    [fetched] = connector.fetch([entry])
    assert fetched.data is None
    assert fetched.error == "not a regular file"


def test_symlinks_skipped_by_default_and_followed_without_loops(
    tmp_path: Path, connect: Connect
) -> None:
    root = tmp_path / "links"
    write(root, "real/file.txt", "real")
    (root / "alias.txt").symlink_to(root / "real/file.txt")
    (root / "mirror").symlink_to(root / "real", target_is_directory=True)
    (root / "real/loop").symlink_to(root, target_is_directory=True)
    (root / "dangling.txt").symlink_to(root / "nowhere")

    plain = connect({"path": str(root)}).changes(cursor=None, known={})
    assert paths(plain.upserts) == ["real/file.txt"]
    assert "4 symlinks" in plain.description

    following = connect({"path": str(root), "followSymlinks": True})
    changes = following.changes(cursor=None, known={})
    entries = list(changes.upserts)
    # `mirror` and `real` are one folder, walked once: first in path order wins.
    assert paths(entries) == ["alias.txt", "mirror/file.txt"]
    assert "1 broken symlinks" in changes.description
    assert "2 folders seen twice" in changes.description  # `real`, and `mirror/loop`
    assert [item.data for item in following.fetch(entries)] == [b"real", b"real"]


def test_missing_or_non_folder_root_is_source_unavailable(tmp_path: Path, connect: Connect) -> None:
    missing = connect({"path": str(tmp_path / "nope")})
    with pytest.raises(SourceUnavailable, match="does not exist") as caught:
        missing.changes(cursor=None, known={})
    assert caught.value.details["path"] == str(tmp_path / "nope")
    result = missing.check()
    assert not result.ok
    assert result.message == f"folder {tmp_path / 'nope'} does not exist"
    assert [(step.name, step.ok) for step in result.steps] == [("stat folder", False)]

    a_file = write(tmp_path, "plain.txt")
    with pytest.raises(SourceUnavailable, match="is not a folder"):
        connect({"path": str(a_file)}).changes(cursor=None, known={})


def test_check_reports_steps_and_timings(folder: Path, connect: Connect) -> None:
    result = connect({"path": str(folder)}).check()
    assert result.ok
    assert [step.name for step in result.steps] == ["stat folder", "list folder"]
    assert all(step.ok and step.duration_ms >= 0 for step in result.steps)
    assert result.duration_ms == pytest.approx(sum(s.duration_ms for s in result.steps), abs=0.01)
    # README.md, yarn.lock, docs, src, node_modules, .git
    assert result.details == {"path": str(folder), "entries": 6}
    assert result.message == f"Read folder {folder}: 6 entries at the top level"


def test_home_relative_path_expands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "home/notes", "todo.md", "- ship it")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with open_connector("local", {"path": "~/notes"}, workdir=tmp_path / "w") as connector:
        assert isinstance(connector, LocalConnector)
        assert connector.root == tmp_path / "home/notes"
        assert paths(connector.changes(cursor=None, known={}).upserts) == ["todo.md"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "config.path: is required"),
        ({"path": "relative/dir"}, "config.path: 'relative/dir' must be an absolute path or "),
        ({"path": "/x", "followSymlinks": "yes"}, "config.followSymlinks: 'yes' is not of type"),
        ({"path": "/x", "includePaths": "src/**"}, "config.includePaths: 'src/**' is not of type"),
        ({"path": "/x", "excludePaths": ["ok", 3]}, "config.excludePaths[1]: 3 is not of type"),
        ({"path": "/x", "excludePaths": ["ok", "!"]}, "config.excludePaths[1]: invalid pattern"),
        ({"path": "/x", "recursive": True}, "config.recursive: unknown field (allowed: "),
    ],
)
def test_invalid_config_names_the_field(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config("local", config)
    assert str(caught.value).startswith(message)
    assert caught.value.details["field"] == message.split(":")[0]
    assert caught.value.details["errors"][0]["field"] == caught.value.field


def test_valid_config_is_returned_as_a_copy() -> None:
    config = {"path": "/data", "includePaths": ["docs/**"]}
    validated = validate_config("local", config)
    assert validated == config
    validated["includePaths"].append("more/**")
    assert config["includePaths"] == ["docs/**"]


def test_unknown_type_is_a_config_error_on_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^type: unknown connector type 'ftp'") as caught:
        open_connector("ftp", {}, workdir=tmp_path)
    assert caught.value.field == "type"


def test_catalog_lists_valid_schemas() -> None:
    from jsonschema import Draft202012Validator

    specs = {spec.type: spec for spec in connector_types()}
    assert set(specs) >= {"local", "git"}
    for spec in specs.values():
        Draft202012Validator.check_schema(spec.config_schema)
        assert set(spec.secret_fields) <= set(spec.config_schema["properties"])
    for name in ("local", "git"):
        assert specs[name].auth_methods == ("none",) and specs[name].secret_fields == ()
    local = specs["local"]
    assert local.category == "filesystem"
    assert local.config_schema["required"] == ["path"]
    assert set(local.config_schema["properties"]) == {
        "path",
        "includePaths",
        "excludePaths",
        "followSymlinks",
    }
    local.config_schema["properties"].clear()  # a copy: the registry is untouched
    again = {spec.type: spec for spec in connector_types()}
    assert again["local"].config_schema["properties"]
