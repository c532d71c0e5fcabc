"""Language detection by extension, file name and shebang."""

from __future__ import annotations

import pytest

from connector_assets.languages import detect_language


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("src/app.ts", "typescript"),
        ("src/App.TSX", "typescript"),
        ("web/index.jsx", "javascript"),
        ("lib/esm.mjs", "javascript"),
        ("pkg/__init__.py", "python"),
        ("typeshed/os.pyi", "python"),
        ("README.md", "markdown"),
        ("docs/intro.mdx", "markdown"),
        ("docs/index.rst", "restructuredtext"),
        ("cmd/main.go", "go"),
        ("src/lib.rs", "rust"),
        ("include/list.h", "c"),
        ("include/vector.hpp", "cpp"),
        ("src/widget.cc", "cpp"),
        ("App.cs", "csharp"),
        ("Main.kt", "kotlin"),
        ("deploy.SH", "shell"),
        ("schema.sql", "sql"),
        ("config.yml", "yaml"),
        ("pyproject.toml", "toml"),
        ("report.PDF", "pdf"),
        ("letter.docx", "docx"),
        ("notes.txt", "text"),
        ("types.d.ts", "typescript"),
    ],
)
def test_extension_decides_case_insensitively(path: str, language: str) -> None:
    assert detect_language(path) == language


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("Dockerfile", "dockerfile"),
        ("services/api/dockerfile", "dockerfile"),
        ("Dockerfile.dev", "dockerfile"),
        ("Makefile", "makefile"),
        ("GNUmakefile", "makefile"),
        ("CMakeLists.txt", "cmake"),
        ("Gemfile", "ruby"),
        ("home/.bashrc", "shell"),
    ],
)
def test_well_known_file_names(path: str, language: str) -> None:
    assert detect_language(path) == language


@pytest.mark.parametrize(
    ("head", "language"),
    [
        (b"#!/usr/bin/env python3\nimport sys\n", "python"),
        (b"#!/usr/bin/python3.12 -u\n", "python"),
        (b"#!/bin/sh\nset -e\n", "shell"),
        (b"#!/usr/bin/env bash\n", "shell"),
        (b"#! /bin/zsh\n", "shell"),
        (b"#!/usr/bin/env node\nconsole.log(1)\n", "javascript"),
        (b"#!/usr/bin/env -S node --experimental-vm-modules\n", "javascript"),
        (b"#!/usr/bin/env NODE_ENV=production node\n", "javascript"),
        (b"#!/usr/bin/env ruby\n", "ruby"),
    ],
)
def test_shebang_names_the_language_of_extensionless_scripts(head: bytes, language: str) -> None:
    assert detect_language("bin/tool", head) == language


def test_extension_wins_over_shebang() -> None:
    assert detect_language("scripts/run.py", b"#!/bin/sh\n") == "python"


@pytest.mark.parametrize(
    ("path", "head"),
    [
        ("data/blob.xyz", b""),
        ("bin/tool", b""),
        ("bin/tool", b"#!/usr/bin/env some-unknown-interpreter\n"),
        ("bin/tool", b"#!\n"),
        ("bin/tool", b"plain text, no shebang\n"),
        (".gitignore", b""),
        ("archive.", b""),
    ],
)
def test_unknown_is_none(path: str, head: bytes) -> None:
    assert detect_language(path, head) is None
