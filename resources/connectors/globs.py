"""Include/exclude path filtering shared by every connector (gitignore wildmatch semantics)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pathspec import GitIgnoreSpec
from pathspec.patterns.gitignore import GitIgnorePatternError

from resources.connectors.base import ConfigError

# Version-control metadata is never content, whatever the user's patterns say.
DEFAULT_EXCLUDES: tuple[str, ...] = (".git/", ".hg/", ".svn/")

INCLUDE_KEY = "includePaths"
EXCLUDE_KEY = "excludePaths"

PATTERNS_SCHEMA: Mapping[str, Any] = {
    "type": "array",
    "items": {"type": "string", "minLength": 1},
    "default": [],
}

PATH_FILTER_PROPERTIES: Mapping[str, Mapping[str, Any]] = {
    INCLUDE_KEY: {
        **PATTERNS_SCHEMA,
        "description": (
            "Only paths matching one of these gitignore-style patterns are synced, e.g. "
            '["src/**", "docs/**"]; a pattern without a slash matches at any depth. '
            "Empty: everything."
        ),
    },
    EXCLUDE_KEY: {
        **PATTERNS_SCHEMA,
        "description": (
            "Paths matching one of these gitignore-style patterns are skipped, e.g. "
            '["node_modules/**", "*.lock"]; an excluded folder excludes everything below '
            "it. .git/, .hg/ and .svn/ are always skipped."
        ),
    },
}


class PathFilter:
    """Decides which relative POSIX paths of a source are synced.

    A path is kept when it matches an include pattern (or there are none) and neither it
    nor any folder above it matches an exclude pattern or a default exclude. As in git, a
    negated exclude cannot re-include a file whose folder is excluded, which is what lets
    walkers prune excluded folders without changing the result.
    """

    __slots__ = (
        "_defaults",
        "_dir_cache",
        "_exclude",
        "_include",
        "exclude_patterns",
        "include_patterns",
    )

    def __init__(self, *, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
        """Compile the patterns.

        Args:
            include: Patterns a path must match (any of them); empty keeps everything.
            exclude: Patterns that drop a path or a whole folder.

        Raises:
            ConfigError: A pattern is invalid, blank or a comment; the field names it.
        """
        self.include_patterns = _checked(include, key=INCLUDE_KEY)
        self.exclude_patterns = _checked(exclude, key=EXCLUDE_KEY)
        self._include = GitIgnoreSpec.from_lines(self.include_patterns)
        self._exclude = GitIgnoreSpec.from_lines(self.exclude_patterns)
        # Apart from the user's patterns, so that no `!.git/` can bring them back.
        self._defaults = GitIgnoreSpec.from_lines(DEFAULT_EXCLUDES)
        self._dir_cache: dict[str, bool] = {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PathFilter:
        """The filter a source config describes (`includePaths`, `excludePaths`)."""
        return cls(include=config.get(INCLUDE_KEY, ()), exclude=config.get(EXCLUDE_KEY, ()))

    def matches(self, path: str) -> bool:
        """Whether the file at `path` (relative, POSIX, no leading slash) is synced."""
        if self._excluded(path):
            return False
        parent, sep, _ = path.rpartition("/")
        if sep and self.excludes_dir(parent):
            return False
        return not self._include.patterns or bool(self._include.match_file(path))

    def excludes_dir(self, path: str) -> bool:
        """Whether the folder at `path` and everything below it is excluded."""
        cached = self._dir_cache.get(path)
        if cached is not None:
            return cached
        parent, sep, _ = path.rpartition("/")
        excluded = self._excluded(f"{path}/") or (bool(sep) and self.excludes_dir(parent))
        self._dir_cache[path] = excluded
        return excluded

    def filter(self, paths: Iterable[str]) -> list[str]:
        """The paths that are synced, in their original order."""
        return [path for path in paths if self.matches(path)]

    def _excluded(self, path: str) -> bool:
        return bool(self._defaults.match_file(path) or self._exclude.match_file(path))

    def __repr__(self) -> str:
        return f"PathFilter(include={self.include_patterns!r}, exclude={self.exclude_patterns!r})"


def _checked(patterns: Sequence[str], *, key: str) -> tuple[str, ...]:
    """The patterns, after checking each compiles to something; errors name the field."""
    for index, pattern in enumerate(patterns):
        field = f"config.{key}[{index}]"
        try:
            spec = GitIgnoreSpec.from_lines([pattern])
        except GitIgnorePatternError as error:
            raise ConfigError(
                f"{field}: invalid pattern {pattern!r} ({error})", field=field
            ) from error
        # A blank line or `#...` compiles to a no-op, which would silently widen an include.
        if all(compiled.include is None for compiled in spec.patterns):
            raise ConfigError(
                f"{field}: pattern {pattern!r} is blank or a comment (write \\# for a leading #)",
                field=field,
            )
    return tuple(patterns)
