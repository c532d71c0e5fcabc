"""The `git` connector: one branch of any git repository, through the `git` command line."""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from resources.connectors.base import (
    JSON_SCHEMA_DIALECT,
    BaseConnector,
    Changes,
    CheckResult,
    CheckRun,
    ConnectorError,
    ConnectorSpec,
    Entry,
    Fetched,
    SourceUnavailable,
)
from resources.connectors.egress import EgressPolicy, IPAddress
from resources.connectors.globs import PATH_FILTER_PROPERTIES, PathFilter
from resources.settings import get_settings

logger = logging.getLogger(__name__)

TYPE = "git"

GIT = "git"
LS_REMOTE_TIMEOUT_S = 30.0
FETCH_TIMEOUT_S = 600.0
LOCAL_TIMEOUT_S = 120.0
CLOSE_TIMEOUT_S = 5.0

# Paths per `git ls-tree` when looking files up, to keep command lines short.
LOOKUP_BATCH = 500

CACHE_DIR_NAME = "repo.git"
# The fetched head lives under a ref of our own, so nothing else in the cache moves it.
HEAD_REF = "refs/headwater/head"
BRANCH_PREFIX = "refs/heads/"

# ext:: and other remote helpers can run arbitrary commands; a source URL must not.
ALLOWED_PROTOCOLS = "file:git:http:https:ssh"
# Inherited repository locations would point our commands at someone else's repository.
HIDDEN_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)
GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS,
    # Git's messages are matched below and shown to users: keep them untranslated.
    "LC_ALL": "C",
}

REGULAR_MODES = frozenset({"100644", "100755", "100664"})
SKIPPED_MODES = {"120000": "symlinks", "160000": "submodules"}
# Substrings of git's stderr that mean "try again later" rather than "fix the config".
TRANSIENT_MARKERS = (
    "could not resolve host",
    "temporary failure in name resolution",
    "connection timed out",
    "operation timed out",
    "connection refused",
    "couldn't connect to server",
    "connection reset",
    "early eof",
    "the remote end hung up",
    "rpc failed",
    "returned error: 5",
    "http 5",
    "network is unreachable",
)

# What git adds to ssh's own reason when an ssh connection fails.
SSH_CATCH_ALL = (
    "fatal: could not read from remote repository",
    "please make sure you have the correct access rights",
    "and the repository exists",
)

SHA_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
# Greedy up to the last `@` before the host, so a raw `@` inside a password goes too.
USERINFO_RE = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s]+@")
# `host:path` and `user@host:path` (scp syntax): a colon before any slash.
SCP_LIKE_RE = re.compile(r"^[^/]+:")
# Remotes git reaches over the network, and their default ports.
NETWORK_PORTS = {"http": 80, "https": 443, "ssh": 22, "git": 9418}
BRANCH_RE = (
    r"^(?!-)(?!/)(?!.*//)(?!.*\.\.)(?!.*@\{)(?!.*[/.]$)(?!.*\.lock$)(?!.*/\.)(?!\.)"
    r"[^\x00-\x20\x7f~^:?*\[\\]+$"
)

CONFIG_SCHEMA: Mapping[str, Any] = {
    "$schema": JSON_SCHEMA_DIALECT,
    "title": "Git repository",
    "type": "object",
    "properties": {
        "url": {
            "type": "string",
            "minLength": 1,
            "pattern": r"^[^-\s][^\u0000]*$",
            "errorMessage": (
                "must be a git URL or path (not starting with - or a space, without NUL characters)"
            ),
            "description": (
                "Any git URL: https://, ssh://, user@host:path, file://, or a path to a "
                "repository (bare or not) on this machine."
            ),
        },
        "branch": {
            "type": "string",
            "minLength": 1,
            "pattern": BRANCH_RE,
            "errorMessage": "must be a valid git branch name",
            "description": "The branch to sync. Default: the remote's HEAD branch.",
        },
        **PATH_FILTER_PROPERTIES,
    },
    "required": ["url"],
    "additionalProperties": False,
}

SPEC = ConnectorSpec(
    type=TYPE,
    display_name="Git repository",
    description="One branch of any git repository, cloned shallowly and diffed between syncs.",
    category="code",
    config_schema=CONFIG_SCHEMA,
    secret_fields=(),
    capabilities=("read", "incremental", "deletions", "renames", "check"),
    auth_methods=("none",),
)


def redact(text: str) -> str:
    """`text` with the userinfo (`user:token@`) of every URL in it removed."""
    return USERINFO_RE.sub(r"\g<scheme>", text)


@dataclass(frozen=True, slots=True, kw_only=True)
class GitResult:
    """A finished git command."""

    returncode: int
    stdout: bytes
    stderr: str


@dataclass(frozen=True, slots=True, kw_only=True)
class _Pin:
    """How one git command reaches the remote at the addresses the egress policy checked."""

    url: str
    options: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Change:
    """One record of `git diff --raw -z`."""

    status: str
    new_mode: str
    new_sha: str
    path: str
    old_path: str | None


class GitConnector(BaseConnector):
    """Syncs one branch of a repository through a shallow bare clone in `workdir`.

    Each sync fetches the branch tip with `--depth=1` into the cache, then diffs it
    against the cursor commit (the tip of the last good sync), which earlier fetches
    left in the cache. Without that commit it lists the whole tree and compares blob
    ids with `known`. Contents stream from one long-lived `git cat-file --batch`.
    Symlinks and submodules are skipped. The URL is passed on the command line and
    never written to the cache's config, so a token in it is not stored on disk.
    """

    spec = SPEC

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        workdir: Path,
        remote: str | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        """See `BaseConnector`; nothing runs until `check`, `changes` or `fetch`.

        Args:
            config: The source config.
            workdir: The per-source cache folder.
            remote: The URL to fetch from instead of `config["url"]` (code-host connectors
                derive it from their own config).
            extra_env: Variables added to git's environment, e.g. credentials as
                `GIT_CONFIG_*`, so they stay out of URLs and command lines.
        """
        super().__init__(config, workdir=workdir)
        url = config["url"] if remote is None else remote
        self.url = _remote(url)
        self.safe_url = redact(url)
        branch = config.get("branch")
        self.branch: str | None = branch.removeprefix(BRANCH_PREFIX) if branch else None
        self.path_filter = PathFilter.from_config(config)
        self.repo = workdir / CACHE_DIR_NAME
        self.batch_starts = 0
        self._batch: subprocess.Popen[bytes] | None = None
        self._batch_stderr: IO[bytes] | None = None
        self._env = _git_env(os.environ) | dict(extra_env or {})

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> None:
        """Patterns compile."""
        PathFilter.from_config(config)

    @property
    def batch_process(self) -> subprocess.Popen[bytes] | None:
        """The running `git cat-file --batch` process, if `fetch` started one."""
        return self._batch

    @property
    def branch_label(self) -> str:
        """The configured branch, or `HEAD` for the remote's default."""
        return self.branch or "HEAD"

    def check(self) -> CheckResult:
        """`git ls-remote` the URL and find the branch (or the default one)."""
        run = CheckRun()
        found: dict[str, Any] = {"url": self.safe_url}

        def ls_remote() -> str:
            found.update(self._ls_remote())
            return f"branch {found['branch']} at {found['head'][:12]}"

        run.step("git ls-remote", ls_remote)
        return run.result(
            message=(
                f"Reached {self.safe_url}: branch {found.get('branch')} "
                f"at {str(found.get('head'))[:12]}"
            ),
            details=found,
        )

    def changes(self, *, cursor: str | None, known: Mapping[str, str]) -> Changes:
        """Fetch the branch tip and diff it against `cursor` (or list it all).

        Raises:
            SourceUnavailable: The URL is unreachable or invalid, or the branch is unknown.
            ConnectorError: The local cache is unusable in a way git reports.
        """
        # A running cat-file would not see the packs the fetch is about to add.
        self._stop_batch()
        self._ensure_repo()
        head = self._fetch()
        if cursor is None:
            return self._listing(head, known, reason=None)
        problem = self._cursor_problem(cursor)
        if problem is not None:
            logger.warning("%s: %s; listing the whole tree", self.safe_url, problem)
            return self._listing(head, known, reason=problem)
        try:
            return self._diff(cursor, head, known=known)
        except ConnectorError as error:
            logger.warning("%s: git diff failed (%s); listing the whole tree", self.safe_url, error)
            return self._listing(head, known, reason=f"git diff failed: {error.message}")

    def fetch(self, entries: Iterable[Entry]) -> Iterator[Fetched]:
        """Stream blobs (by `entry.version`) through one `git cat-file --batch` process.

        Raises:
            ConnectorError: The cat-file process died (its stderr is in the message).
        """
        for entry in entries:
            yield self._read_blob(entry)

    def close(self) -> None:
        """Stop the cat-file process, if any."""
        self._stop_batch()

    def _pinned(self) -> _Pin:
        """The URL, options and environment that hold git to the egress policy, checked now.

        Every address of a network remote's host is checked (`EgressRefused` if one is
        refused), then git connects to a checked address whatever the name resolves to
        later: over HTTP(S) through curl's resolve list (TLS still verifies the name), with
        no redirect followed, which would reach a host nobody checked; over ssh through
        `-o HostName=ADDRESS` added to the ssh command (`GIT_SSH_COMMAND`, else `ssh`), with
        `-o HostKeyAlias` so the host key is still checked against the name; over git://
        with the address in the URL (the request's `host=` then names the address).
        """
        remote = _network_remote(self.url)
        if remote is None:
            return _Pin(url=self.url)  # a local path or file:// URL
        scheme, host, port = remote
        addresses = EgressPolicy.from_settings(get_settings()).resolve_all(host, port)
        if scheme == "ssh":
            command = self._env.get("GIT_SSH_COMMAND") or "ssh"
            alias = host if port == NETWORK_PORTS["ssh"] else f"[{host}]:{port}"
            pinned = f"{command} -o HostName={addresses[0]} -o HostKeyAlias={shlex.quote(alias)}"
            return _Pin(url=self.url, env={"GIT_SSH_COMMAND": pinned})
        if scheme == "git":
            netloc = f"{_url_address(addresses[0])}:{port}"
            return _Pin(url=urlunsplit(urlsplit(self.url)._replace(netloc=netloc)))
        listed = ",".join(_url_address(address) for address in addresses)
        options = (
            "-c",
            f"http.curloptResolve={host}:{port}:{listed}",
            "-c",
            "http.followRedirects=false",
        )
        return _Pin(url=self.url, options=options)

    def _ls_remote(self) -> dict[str, str]:
        patterns = ["HEAD"] + ([f"{BRANCH_PREFIX}{self.branch}"] if self.branch else [])
        pin = self._pinned()
        result = self._git(
            [*pin.options, "ls-remote", "--symref", "--", pin.url, *patterns],
            what=f"git ls-remote {self.safe_url}",
            timeout=LS_REMOTE_TIMEOUT_S,
            failure=SourceUnavailable,
            in_repo=False,
            env=pin.env,
        )
        refs: dict[str, str] = {}
        default_branch = ""
        for line in result.stdout.decode("utf-8", "replace").splitlines():
            target, _, name = line.partition("\t")
            if target.startswith("ref: ") and name == "HEAD":
                default_branch = target.removeprefix("ref: ").removeprefix(BRANCH_PREFIX)
            elif name:
                refs[name] = target
        ref = f"{BRANCH_PREFIX}{self.branch}" if self.branch else "HEAD"
        if ref not in refs:
            if self.branch:
                raise SourceUnavailable(
                    f"branch {self.branch!r} not found at {self.safe_url}",
                    details={"url": self.safe_url, "branch": self.branch},
                )
            raise SourceUnavailable(
                f"{self.safe_url} has no commits (its HEAD points nowhere)",
                details={"url": self.safe_url},
            )
        return {
            "branch": self.branch or default_branch or "HEAD",
            "head": refs[ref],
            "defaultBranch": default_branch,
        }

    def _ensure_repo(self) -> None:
        """Make sure the cache is a bare repository, recreating it when broken."""
        if self.repo.exists():
            probe = self._git(
                ["rev-parse", "--is-bare-repository"],
                what="git rev-parse",
                timeout=LOCAL_TIMEOUT_S,
                check=False,
            )
            if probe.returncode == 0 and probe.stdout.strip() == b"true":
                return
            logger.warning("cache %s is not a usable repository; recreating it", self.repo)
            shutil.rmtree(self.repo)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._git(
            ["init", "--bare", "--quiet", str(self.repo)],
            what="git init",
            timeout=LOCAL_TIMEOUT_S,
            in_repo=False,
        )

    def _fetch(self) -> str:
        """Fetch the branch tip (depth 1) into `HEAD_REF`; its commit sha."""
        source = f"{BRANCH_PREFIX}{self.branch}" if self.branch else "HEAD"
        pin = self._pinned()
        try:
            self._git(
                [
                    *pin.options,
                    "fetch",
                    "--depth=1",
                    "--no-tags",
                    "--no-recurse-submodules",
                    "--quiet",
                    "--",
                    pin.url,
                    f"+{source}:{HEAD_REF}",
                ],
                what=f"git fetch {self.safe_url} {self.branch_label}",
                timeout=FETCH_TIMEOUT_S,
                failure=SourceUnavailable,
                env=pin.env,
            )
        except SourceUnavailable as error:
            if "couldn't find remote ref" in error.details.get("stderr", ""):
                what = f"branch {self.branch!r}" if self.branch else "HEAD (empty repository?)"
                raise SourceUnavailable(
                    f"{what} not found at {self.safe_url} (git: {error.details['stderr']})",
                    details={**error.details, "branch": self.branch},
                ) from error
            raise
        return self._rev_parse(f"{HEAD_REF}^{{commit}}")

    def _rev_parse(self, name: str) -> str:
        result = self._git(
            ["rev-parse", "--verify", "--quiet", name],
            what="git rev-parse",
            timeout=LOCAL_TIMEOUT_S,
        )
        return result.stdout.decode().strip()

    def _cursor_problem(self, cursor: str) -> str | None:
        """Why the diff cannot start at `cursor`, or None when it can."""
        if not SHA_RE.match(cursor):
            return f"cursor {cursor[:40]!r} is not a commit id"
        probe = self._git(
            ["cat-file", "-e", f"{cursor}^{{commit}}"],
            what="git cat-file -e",
            timeout=LOCAL_TIMEOUT_S,
            check=False,
        )
        if probe.returncode != 0:
            return f"cursor {cursor[:12]} is not in the local cache (lost, or history rewritten)"
        return None

    def _listing(self, head: str, known: Mapping[str, str], *, reason: str | None) -> Changes:
        """Every file at `head`, compared with `known` by blob id."""
        result = self._git(
            ["ls-tree", "-r", "-z", "--long", "--full-tree", head],
            what="git ls-tree",
            timeout=LOCAL_TIMEOUT_S,
        )
        entries: list[Entry] = []
        skipped: Counter[str] = Counter()
        for record in result.stdout.split(b"\0"):
            if not record:
                continue
            meta, _, raw_path = record.partition(b"\t")
            mode, kind, sha, size = meta.decode().split()
            path = _decode_path(raw_path)
            if mode in SKIPPED_MODES:
                skipped[SKIPPED_MODES[mode]] += 1
            elif kind == "blob" and mode in REGULAR_MODES and self.path_filter.matches(path):
                entries.append(Entry(path=path, version=sha, size=int(size), modified_at=None))
        entries.sort(key=lambda entry: entry.path)
        seen = {entry.path for entry in entries}
        upserts = [entry for entry in entries if known.get(entry.path) != entry.version]
        deletes = sorted(path for path in known if path not in seen)
        description = (
            f"full listing of {self.safe_url} {self.branch_label} at {head[:12]}: "
            f"{len(entries)} files, {len(upserts)} new or changed, {len(deletes)} deleted"
        )
        if skipped:
            notes = ", ".join(f"{count} {what}" for what, count in sorted(skipped.items()))
            description += f"; skipped {notes}"
        if reason:
            description += f" ({reason})"
        return Changes(upserts=iter(upserts), deletes=deletes, cursor=head, description=description)

    def _diff(self, cursor: str, head: str, *, known: Mapping[str, str]) -> Changes:
        """What `git diff cursor..head` says changed, with renames."""
        span = f"git diff {cursor[:12]}..{head[:12]}"
        upserted: dict[str, str] = {}
        gone: set[str] = set()
        renames: list[tuple[str, str]] = []
        if cursor != head:
            result = self._git(
                ["diff", "--raw", "-z", "-M", "--no-abbrev", "--no-ext-diff", cursor, head, "--"],
                what="git diff",
                timeout=LOCAL_TIMEOUT_S,
            )
            for change in _parse_raw_diff(result.stdout):
                self._apply(change, upserted=upserted, gone=gone, renames=renames)
        # Files skipped last time (unreadable, too large) are recorded without a blob id;
        # the diff would never revisit them, so look them up at the new head.
        retry = sorted(
            path
            for path, version in known.items()
            if not SHA_RE.match(version) and path not in upserted and path not in gone
        )
        found = self._lookup(head, retry)
        for path in retry:
            mode, sha = found.get(path, ("", ""))
            if mode in REGULAR_MODES and self.path_filter.matches(path):
                upserted[path] = sha
            else:
                gone.add(path)
        # Paths a changed filter no longer covers go too (new matches need a full sync).
        gone.update(path for path in known if not self.path_filter.matches(path))
        wanted = {path: sha for path, sha in upserted.items() if known.get(path) != sha}
        sizes = self._sizes(set(wanted.values()))
        upserts = [
            Entry(path=path, version=sha, size=sizes[sha], modified_at=None)
            for path, sha in sorted(wanted.items())
        ]
        deletes = sorted(path for path in gone if path in known and path not in upserted)
        renames = [(old, new) for old, new in renames if old in known and new in upserted]
        description = (
            f"{span} of {self.safe_url} {self.branch_label}: {len(upserts)} new or changed, "
            f"{len(deletes)} deleted, {len(renames)} renamed"
        )
        if retry:
            description += f" ({len(retry)} skipped last time, looked up again)"
        return Changes(
            upserts=iter(upserts),
            deletes=deletes,
            cursor=head,
            renames=renames,
            description=description,
        )

    def _apply(
        self,
        change: _Change,
        *,
        upserted: dict[str, str],
        gone: set[str],
        renames: list[tuple[str, str]],
    ) -> None:
        """Fold one diff record into the upserts, deletions and renames."""
        status = change.status[:1]
        if status not in "AMTDRC":
            raise ConnectorError(
                f"git diff reported status {change.status!r} for {change.path}",
                details={"status": change.status, "path": change.path},
            )
        if status == "D":
            gone.add(change.path)
            return
        if status == "R" and change.old_path is not None:
            gone.add(change.old_path)
            renames.append((change.old_path, change.path))
        if change.new_mode in REGULAR_MODES and self.path_filter.matches(change.path):
            upserted[change.path] = change.new_sha
        elif status in "MT":
            # Became a symlink or submodule, or the filter dropped it: no longer a file here.
            gone.add(change.path)

    def _lookup(self, head: str, paths: Sequence[str]) -> dict[str, tuple[str, str]]:
        """`path -> (mode, sha)` at `head` for those of `paths` that exist there."""
        found: dict[str, tuple[str, str]] = {}
        for start in range(0, len(paths), LOOKUP_BATCH):
            batch = paths[start : start + LOOKUP_BATCH]
            result = self._git(
                ["--literal-pathspecs", "ls-tree", "-z", "--full-tree", head, "--", *batch],
                what="git ls-tree",
                timeout=LOCAL_TIMEOUT_S,
            )
            for record in result.stdout.split(b"\0"):
                if record:
                    meta, _, raw_path = record.partition(b"\t")
                    mode, _, sha = meta.decode().split()
                    found[_decode_path(raw_path)] = (mode, sha)
        return found

    def _sizes(self, shas: set[str]) -> dict[str, int]:
        """Blob sizes from one short `git cat-file --batch-check`."""
        if not shas:
            return {}
        result = self._git(
            ["cat-file", "--batch-check"],
            what="git cat-file --batch-check",
            timeout=LOCAL_TIMEOUT_S,
            stdin="".join(f"{sha}\n" for sha in sorted(shas)).encode(),
        )
        sizes: dict[str, int] = {}
        for line in result.stdout.decode().splitlines():
            fields = line.split()
            if len(fields) != 3:
                raise ConnectorError(f"git cat-file --batch-check: {line}", details={"line": line})
            sizes[fields[0]] = int(fields[2])
        return sizes

    def _read_blob(self, entry: Entry) -> Fetched:
        sha = entry.version
        if not SHA_RE.match(sha):
            return Fetched(entry=entry, data=None, error=f"version {sha!r} is not a git blob id")
        process = self._batch_process()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(f"{sha}\n".encode())
            process.stdin.flush()
        except BrokenPipeError as error:
            raise self._batch_died() from error
        header = process.stdout.readline()
        fields = header.split()
        if len(fields) == 2 and fields[1] == b"missing":
            return Fetched(entry=entry, data=None, error=f"blob {sha} is not in the local cache")
        if len(fields) != 3:
            raise self._batch_died(header)
        size = int(fields[2])
        data = process.stdout.read(size)
        if len(data) != size or process.stdout.read(1) != b"\n":
            raise self._batch_died()
        if fields[1] != b"blob":
            return Fetched(entry=entry, data=None, error=f"{sha} is a {fields[1].decode()}")
        return Fetched(entry=entry, data=data, error=None)

    def _batch_process(self) -> subprocess.Popen[bytes]:
        if self._batch is not None:
            return self._batch
        # A file, not a pipe: nobody reads stderr while blobs stream, and a full pipe blocks.
        self._batch_stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives with the process
        self._batch = subprocess.Popen(
            [GIT, f"--git-dir={self.repo}", "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._batch_stderr,
            env=self._env,
            start_new_session=True,
        )
        self.batch_starts += 1
        logger.debug("started git cat-file --batch (pid %d) in %s", self._batch.pid, self.repo)
        return self._batch

    def _batch_died(self, reply: bytes = b"") -> ConnectorError:
        stderr = ""
        if self._batch_stderr is not None:
            self._batch_stderr.seek(0)
            stderr = self._batch_stderr.read().decode("utf-8", "replace")
        line = _key_line(stderr) or reply.decode("utf-8", "replace").strip() or "no output"
        self._stop_batch()
        return ConnectorError(
            f"git cat-file --batch in {self.repo} failed: {line}", details={"stderr": line}
        )

    def _stop_batch(self) -> None:
        process, self._batch = self._batch, None
        if process is not None:
            if process.stdin is not None:
                try:
                    process.stdin.close()
                except BrokenPipeError:
                    logger.debug("git cat-file --batch had already exited")
            try:
                process.wait(timeout=CLOSE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._batch_stderr is not None:
            self._batch_stderr.close()
            self._batch_stderr = None

    def _git(
        self,
        args: Sequence[str],
        *,
        what: str,
        timeout: float,
        failure: type[ConnectorError] = ConnectorError,
        check: bool = True,
        stdin: bytes | None = None,
        in_repo: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> GitResult:
        """Run git (list args, own process group, timeout); raise `failure` on error.

        `env` is added to the connector's environment for this command.
        """
        command = [GIT, *([f"--git-dir={self.repo}"] if in_repo else []), *args]
        logger.debug("running %s", redact(" ".join(command)))
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**self._env, **(env or {})},
                # Own session: no terminal to prompt on, and a timeout kills ssh too.
                start_new_session=True,
            )
        except FileNotFoundError as error:
            raise ConnectorError(f"{GIT!r} is not installed or not on PATH") from error
        try:
            stdout, raw_stderr = process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired as error:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise failure(
                f"{what} timed out after {timeout:g} s",
                details={"url": self.safe_url, "command": what, "timeoutSeconds": timeout},
                transient=True,
            ) from error
        stderr = redact(raw_stderr.decode("utf-8", "replace"))
        result = GitResult(returncode=process.returncode, stdout=stdout, stderr=stderr)
        if check and process.returncode != 0:
            line = _key_line(stderr) or f"exit status {process.returncode}"
            raise failure(
                f"{what} failed: {line}",
                details={
                    "url": self.safe_url,
                    "command": what,
                    "stderr": line,
                    "exitCode": process.returncode,
                },
                transient=any(marker in stderr.lower() for marker in TRANSIENT_MARKERS),
            )
        return result


def _network_remote(url: str) -> tuple[str, str, int] | None:
    """The scheme, host and port of a remote git reaches over the network, else None."""
    if "://" in url:
        parts = urlsplit(url)
        try:
            scheme, host, port = parts.scheme, parts.hostname, parts.port
        except ValueError as error:  # a port that is not a number
            raise ConnectorError(f"{redact(url)} has an invalid port") from error
    elif SCP_LIKE_RE.match(url) and "::" not in url:  # user@host:path (not transport::address)
        scheme, host, port = "ssh", url.split(":", 1)[0].rpartition("@")[2], None
    else:
        return None
    if scheme not in NETWORK_PORTS or not host:
        return None
    return scheme, host, port or NETWORK_PORTS[scheme]


def _url_address(address: IPAddress) -> str:
    """An address as URLs and curl's resolve list write it (IPv6 in brackets)."""
    return f"[{address}]" if address.version == 6 else str(address)


def _git_env(environ: Mapping[str, str]) -> dict[str, str]:
    env = {key: value for key, value in environ.items() if key not in HIDDEN_ENV}
    return env | GIT_ENV


def _remote(url: str) -> str:
    """The URL git should use: local paths made absolute (git runs in the cache)."""
    if "://" in url or SCP_LIKE_RE.match(url):
        return url
    return str(Path(url).expanduser().absolute())


def _key_line(stderr: str) -> str:
    """The line of git's stderr that says what went wrong.

    Git's catch-all after a failed ssh connection goes when ssh said why (a host key that
    does not verify, a refused key).
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    lines = [line for line in lines if not line.lower().startswith(SSH_CATCH_ALL)] or lines
    for prefix in ("fatal:", "error:"):
        for line in lines:
            if line.startswith(prefix):
                return line
    return lines[-1] if lines else ""


def _decode_path(raw: bytes) -> str:
    # surrogateescape keeps non-UTF-8 names distinct and reversible.
    return raw.decode("utf-8", "surrogateescape")


def _parse_raw_diff(output: bytes) -> Iterator[_Change]:
    """Records of `git diff --raw -z`: `:old new oldsha newsha status NUL path [NUL path]`."""
    fields = output.split(b"\0")
    index = 0
    while index < len(fields) and fields[index]:
        meta = fields[index].decode()
        _, new_mode, _, new_sha, status = meta.lstrip(":").split()
        if status[:1] in ("R", "C"):
            old_path, path = _decode_path(fields[index + 1]), _decode_path(fields[index + 2])
            index += 3
            yield _Change(
                status=status, new_mode=new_mode, new_sha=new_sha, path=path, old_path=old_path
            )
        else:
            path = _decode_path(fields[index + 1])
            index += 2
            yield _Change(
                status=status, new_mode=new_mode, new_sha=new_sha, path=path, old_path=None
            )
