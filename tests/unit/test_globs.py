"""PathFilter: gitignore wildmatch include/exclude with default excludes."""

from __future__ import annotations

import pytest

from resources.connectors import DEFAULT_EXCLUDES, ConfigError, PathFilter

SEED_INCLUDE = ["src/**", "docs/**"]
SEED_EXCLUDE = ["node_modules/**", "*.lock"]


@pytest.fixture
def seed_filter() -> PathFilter:
    return PathFilter.from_config({"includePaths": SEED_INCLUDE, "excludePaths": SEED_EXCLUDE})


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("src/app.py", True),
        ("src/deep/nested/mod.ts", True),
        ("docs/guide.md", True),
        ("README.md", False),
        ("lib/src/app.py", False),  # `src/**` is anchored: a slash in the pattern
        ("src/yarn.lock", False),  # `*.lock` has no slash: it matches at any depth
        ("src/a/b/poetry.lock", False),
        ("src/node_modules/x.js", True),  # `node_modules/**` is anchored at the root
        ("node_modules/src/x.js", False),
        ("src/.git/config", False),  # default exclude, at any depth
    ],
)
def test_seed_patterns(seed_filter: PathFilter, path: str, kept: bool) -> None:
    assert seed_filter.matches(path) is kept


def test_empty_include_keeps_everything_but_default_excludes() -> None:
    everything = PathFilter()
    assert everything.filter(["a.txt", "x/y/z.bin", ".gitignore", ".github/ci.yml"]) == [
        "a.txt",
        "x/y/z.bin",
        ".gitignore",
        ".github/ci.yml",
    ]
    assert not everything.matches(".git/HEAD")
    assert not everything.matches("vendor/lib/.hg/store")
    assert ".git/" in DEFAULT_EXCLUDES


def test_default_excludes_cannot_be_included_back() -> None:
    stubborn = PathFilter(include=[".git/**", "**"], exclude=["!.git/"])
    assert not stubborn.matches(".git/config")
    assert stubborn.matches("src/main.py")


def test_excluded_folder_excludes_everything_below_it() -> None:
    # As in git: a negated pattern cannot re-include a file whose folder is excluded.
    path_filter = PathFilter(exclude=["build/", "!build/keep.txt"])
    assert path_filter.excludes_dir("build")
    assert path_filter.excludes_dir("build/sub")
    assert not path_filter.matches("build/keep.txt")
    assert not path_filter.matches("build/sub/x.o")
    assert path_filter.matches("src/build.py")
    assert not path_filter.excludes_dir("src")


def test_negated_include_narrows_the_include() -> None:
    path_filter = PathFilter(include=["src/**", "!src/generated/**"])
    assert path_filter.matches("src/app.py")
    assert not path_filter.matches("src/generated/api.py")


def test_folder_pattern_without_slash_matches_at_any_depth() -> None:
    path_filter = PathFilter(exclude=["__pycache__/"])
    assert path_filter.excludes_dir("pkg/sub/__pycache__")
    assert not path_filter.matches("pkg/sub/__pycache__/mod.cpython-311.pyc")
    assert path_filter.matches("pkg/sub/mod.py")


@pytest.mark.parametrize(
    ("include", "exclude", "field"),
    [
        (["src/**", "!"], [], "config.includePaths[1]"),
        ([], ["\\"], "config.excludePaths[0]"),
        (["# notes"], [], "config.includePaths[0]"),
        ([], ["ok/**", "   "], "config.excludePaths[1]"),
    ],
)
def test_bad_patterns_name_the_field(include: list[str], exclude: list[str], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        PathFilter(include=include, exclude=exclude)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert caught.value.details["field"] == field
    assert caught.value.transient is False


def test_escaped_hash_is_a_literal_name() -> None:
    assert PathFilter(include=["\\#notes.md"]).matches("#notes.md")
