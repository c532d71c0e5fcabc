"""Language detection from a file's name, or its shebang line when the name says nothing."""

from __future__ import annotations

import re

EXTENSIONS: dict[str, str] = {
    "ts": "typescript",
    "tsx": "typescript",
    "mts": "typescript",
    "cts": "typescript",
    "js": "javascript",
    "jsx": "javascript",
    "mjs": "javascript",
    "cjs": "javascript",
    "py": "python",
    "pyi": "python",
    "pyw": "python",
    "pyx": "cython",
    "ipynb": "jupyter",
    "md": "markdown",
    "mdx": "markdown",
    "markdown": "markdown",
    "mkd": "markdown",
    "rst": "restructuredtext",
    "adoc": "asciidoc",
    "asciidoc": "asciidoc",
    "tex": "latex",
    "txt": "text",
    "text": "text",
    "go": "go",
    "rs": "rust",
    "java": "java",
    "kt": "kotlin",
    "kts": "kotlin",
    "c": "c",
    "h": "c",
    "cc": "cpp",
    "cpp": "cpp",
    "cxx": "cpp",
    "c++": "cpp",
    "hh": "cpp",
    "hpp": "cpp",
    "hxx": "cpp",
    "h++": "cpp",
    "ipp": "cpp",
    "m": "objectivec",
    "mm": "objectivec",
    "cs": "csharp",
    "fs": "fsharp",
    "vb": "visualbasic",
    "rb": "ruby",
    "rake": "ruby",
    "gemspec": "ruby",
    "php": "php",
    "swift": "swift",
    "scala": "scala",
    "sc": "scala",
    "groovy": "groovy",
    "gradle": "groovy",
    "clj": "clojure",
    "cljs": "clojure",
    "ex": "elixir",
    "exs": "elixir",
    "erl": "erlang",
    "hs": "haskell",
    "ml": "ocaml",
    "mli": "ocaml",
    "lua": "lua",
    "pl": "perl",
    "pm": "perl",
    "r": "r",
    "jl": "julia",
    "dart": "dart",
    "zig": "zig",
    "nim": "nim",
    "sol": "solidity",
    "vue": "vue",
    "svelte": "svelte",
    "sh": "shell",
    "bash": "shell",
    "zsh": "shell",
    "ksh": "shell",
    "fish": "fish",
    "ps1": "powershell",
    "psm1": "powershell",
    "bat": "batch",
    "cmd": "batch",
    "sql": "sql",
    "graphql": "graphql",
    "gql": "graphql",
    "proto": "protobuf",
    "bzl": "starlark",
    "bazel": "starlark",
    "tf": "hcl",
    "hcl": "hcl",
    "html": "html",
    "htm": "html",
    "xhtml": "html",
    "css": "css",
    "scss": "scss",
    "sass": "sass",
    "less": "less",
    "json": "json",
    "jsonl": "json",
    "ndjson": "json",
    "json5": "json",
    "yaml": "yaml",
    "yml": "yaml",
    "toml": "toml",
    "ini": "ini",
    "cfg": "ini",
    "xml": "xml",
    "xsd": "xml",
    "xsl": "xml",
    "svg": "xml",
    "plist": "xml",
    "csv": "csv",
    "tsv": "csv",
    "pdf": "pdf",
    "docx": "docx",
}

# Names that carry no extension (or whose extension would mislead), compared lowercased.
FILENAMES: dict[str, str] = {
    "dockerfile": "dockerfile",
    "containerfile": "dockerfile",
    "makefile": "makefile",
    "gnumakefile": "makefile",
    "cmakelists.txt": "cmake",
    "gemfile": "ruby",
    "rakefile": "ruby",
    "podfile": "ruby",
    "vagrantfile": "ruby",
    "jenkinsfile": "groovy",
    "pipfile": "toml",
    "go.mod": "gomod",
    ".bashrc": "shell",
    ".bash_profile": "shell",
    ".profile": "shell",
    ".zshrc": "shell",
    "readme": "text",
    "license": "text",
    "copying": "text",
}

# Interpreter named on a shebang line, version suffix removed (python3.12 -> python).
INTERPRETERS: dict[str, str] = {
    "python": "python",
    "pypy": "python",
    "sh": "shell",
    "bash": "shell",
    "zsh": "shell",
    "ksh": "shell",
    "dash": "shell",
    "ash": "shell",
    "fish": "fish",
    "node": "javascript",
    "nodejs": "javascript",
    "deno": "typescript",
    "bun": "javascript",
    "ts-node": "typescript",
    "tsx": "typescript",
    "ruby": "ruby",
    "perl": "perl",
    "php": "php",
    "lua": "lua",
    "rscript": "r",
    "pwsh": "powershell",
    "make": "makefile",
}

_VERSION_SUFFIX = re.compile(r"[\d.]+$")


def detect_language(path: str, head: bytes = b"") -> str | None:
    """The language of the file at `path`, or None when neither its name nor `head` tells.

    `head` is the start of the file; only its shebang line is read, and only when the
    name has no known extension.
    """
    name = path.rpartition("/")[2].lower()
    language = FILENAMES.get(name)
    if language is not None:
        return language
    stem, dot, extension = name.rpartition(".")
    if dot and stem:
        language = EXTENSIONS.get(extension)
        if language is not None:
            return language
    if name.startswith("dockerfile."):
        return "dockerfile"
    if head.startswith(b"#!"):
        return _shebang_language(head)
    return None


def _shebang_language(head: bytes) -> str | None:
    line = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace")
    words = line.split()
    if not words:
        return None
    program = words[0].rpartition("/")[2]
    if program == "env":
        # `env -S python3 -u` and `env VAR=1 node`: the interpreter is the first plain word.
        program = next((w for w in words[1:] if not w.startswith("-") and "=" not in w), "")
    return INTERPRETERS.get(_VERSION_SUFFIX.sub("", program.lower()))
