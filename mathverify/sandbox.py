"""Running model-written Python for code-interpreter steps (MARIO / AlphaMath style).

Each snippet runs in a fresh child interpreter (``python -I -S -B``), never in the calling
process, in a new session so the whole process group can be killed, with:

- a wall-clock timeout enforced by the parent, and output read incrementally and capped
  (a snippet printing a gigabyte is killed at the cap, the parent never holds more);
- resource limits (address space, CPU time, file size, open files, no core dumps; the
  process count too when running under a dedicated uid) set by the child itself before any
  snippet code runs, with hard limit = soft limit so the snippet cannot raise them;
- a fresh temporary working directory that is also ``HOME`` and ``TMPDIR``, deleted after;
- a minimal environment (nothing of the caller's variables);
- audit hooks (:func:`sys.addaudithook`) that refuse process creation, signals, sockets,
  rlimit changes, ctypes, and opening files outside the working directory and Python's
  own library folders.

The audit hooks are a speed bump against accidents and lazy attacks, not a security
boundary: code that corrupts memory (ctypes pointer tricks, a crafted C extension) can get
past them. For untrusted models run the executor inside a container or a bubblewrap/nsjail
jail via :attr:`SandboxConfig.wrapper`; see docs/sandbox.md.

Not for grading answers (see :mod:`mathverify.grading`) and not a general job runner.
"""

from __future__ import annotations

import functools
import marshal
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from string import Template
from typing import Any, Literal

from mathverify.errors import MathverifyError

__all__ = [
    "EXIT_MEMORY",
    "EXIT_REFUSED",
    "REFUSAL_MARKER",
    "Sandbox",
    "SandboxConfig",
    "SandboxResult",
    "SandboxStatus",
    "run_snippet",
]

SandboxStatus = Literal["ok", "error", "timeout", "memory", "killed", "output_truncated", "refused"]

# Exit codes the child uses when the snippet died of a refused action or of MemoryError.
# A snippet could exit with them on purpose; the parent also checks stderr before trusting them.
EXIT_REFUSED = 97
EXIT_MEMORY = 98
# Each refused action writes one stderr line starting with this (the first few only).
REFUSAL_MARKER = "[sandbox] refused: "
SNIPPET_FILE = "snippet.py"

# The child's first code. It runs under `python -I -S -B -c`, sets the limits, puts
# site-packages on sys.path (without running site, whose .pth processing costs ~30 ms), installs
# the audit hook, then runs snippet.py from the working directory. Everything lives inside
# one function so that `import __main__` gives the snippet nothing of it.
# argv: memory_bytes cpu_seconds file_bytes open_files processes (-1 = leave unset), then the
# site-packages folders joined by ':' (empty: let the child's site module find them).
_PREAMBLE_TEMPLATE = r'''
def _sandbox_main(argv):
    import builtins, posix, resource, sys
    limits = [int(a) for a in argv[1:6]]
    for which, value in zip(
        (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_FSIZE,
         resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC), limits):
        if value >= 0:
            # One second between SIGXCPU (soft) and SIGKILL (hard) so a CPU overrun is recognisable.
            hard = value + 1 if which == resource.RLIMIT_CPU else value
            resource.setrlimit(which, (value, hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if argv[6]:  # site-packages folders, found by the parent
        sys.path.extend(p for p in argv[6].split(":") if p not in sys.path)
        builtins.exit = builtins.quit = sys.exit  # which model code calls; site sets them
    else:  # another interpreter: ask its own site module (which imports os, ~1 ms)
        import os, site
        sys.path.extend(p for p in site.getsitepackages()
                        if p not in sys.path and os.path.isdir(p))
        site.setquit()

    getcwd, write, encoding = posix.getcwd, posix.write, sys.getfilesystemencoding()
    o_write = posix.O_WRONLY | posix.O_RDWR | posix.O_CREAT | posix.O_TRUNC | posix.O_APPEND

    def norm(path):
        # Lexical normalisation with builtins only: the snippet can monkeypatch os.path.
        if not path.startswith("/"):
            path = getcwd() + "/" + path
        parts = []
        for part in path.split("/"):
            if part == "..":
                if parts:
                    parts.pop()
            elif part and part != ".":
                parts.append(part)
        return "/" + "/".join(parts)

    home = norm(getcwd())
    write_roots = (home + "/",)
    read_roots = write_roots + tuple(norm(p) + "/" for p in sys.path if p) + (
        "/usr/share/zoneinfo/",)
    devices = frozenset(("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"))

    class SandboxRefused(PermissionError):
        """An action the sandbox does not allow."""

    SandboxRefused.__module__ = "sandbox"
    SandboxRefused.__qualname__ = "SandboxRefused"
    refusals = [0]

    def refuse(what):
        refusals[0] += 1
        if refusals[0] <= 5:
            line = "$marker" + what[:300] + "\n"
            write(2, line.encode("utf-8", "backslashreplace"))
        raise SandboxRefused("sandbox refused " + what[:300])

    def as_text(path):
        kind = type(path)
        if kind is str:
            return path
        if kind is bytes:
            return path.decode(encoding, "surrogateescape")
        if kind is int:
            return None  # an already open descriptor, checked when it was opened
        if kind.__module__ == "pathlib" and kind.__name__ in ("PosixPath", "PurePosixPath"):
            return str(path)
        if kind.__module__ == "posix" and kind.__name__ == "DirEntry":
            return path.path
        refuse("a path of type " + kind.__name__)

    def inside(path, roots):
        path = norm(path)
        return path + "/" in roots or path.startswith(roots)

    def check_read(event, path):
        path = as_text(path)
        if path is not None and not (path in devices or inside(path, read_roots)):
            refuse(event + " outside the sandbox: " + path)

    def check_write(event, path):
        path = as_text(path)
        if path is not None and path != "/dev/null" and not inside(path, write_roots):
            refuse(event + " outside the sandbox: " + path)

    forbidden = {
        "os.fork": "process creation", "os.forkpty": "process creation",
        "os.exec": "running a program", "os.posix_spawn": "process creation",
        "os.spawn": "process creation", "os.system": "running a shell command",
        "subprocess.Popen": "running a program", "pty.spawn": "process creation",
        "os.kill": "sending a signal", "os.killpg": "sending a signal",
        "signal.pthread_kill": "sending a signal",
        "resource.setrlimit": "changing resource limits",
        "resource.prlimit": "changing resource limits",
        "gc.get_objects": "walking the heap", "gc.get_referrers": "walking the heap",
        "gc.get_referents": "walking the heap",
        "ctypes.dlsym": "ctypes", "ctypes.dlsym/handle": "ctypes",
        "ctypes.call_function": "ctypes", "ctypes.cdata": "ctypes",
        "ctypes.cdata/buffer": "ctypes", "ctypes.addressof": "ctypes",
        "ctypes.string_at": "ctypes", "ctypes.wstring_at": "ctypes",
        "os.symlink": "creating a link", "os.link": "creating a link",
        "socket.__new__": "network access", "socket.bind": "network access",
        "socket.connect": "network access", "socket.getaddrinfo": "network access",
        "socket.gethostbyname": "network access", "socket.gethostbyaddr": "network access",
        "socket.getnameinfo": "network access", "socket.sendmsg": "network access",
        "socket.sendto": "network access", "socket.sethostname": "network access",
    }
    path_writes = frozenset((
        "os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
        "os.utime", "os.mkfifo", "os.mknod", "os.setxattr", "os.removexattr",
        "os.chflags", "shutil.rmtree"))
    watched = frozenset(forbidden) | path_writes | frozenset((
        "open", "os.listdir", "os.scandir", "os.chdir", "os.rename", "ctypes.dlopen",
        "import"))

    def hook(event, args):
        if event not in watched:
            return
        if event == "open":
            path, mode, flags = args
            writing = (mode is not None and ("w" in mode or "a" in mode or "x" in mode
                                             or "+" in mode)) or bool((flags or 0) & o_write)
            (check_write if writing else check_read)("open", path)
        elif event == "import":
            # Imported and patched below before the hook; importing it again undoes the patch.
            if args[0] == "_posixsubprocess":
                refuse("re-importing _posixsubprocess")
        elif event in path_writes:
            check_write(event, args[0])
        elif event == "os.rename":
            check_write(event, args[0])
            check_write(event, args[1])
        elif event in ("os.listdir", "os.scandir"):
            if args[0] is not None:
                check_read(event, args[0])
        elif event == "os.chdir":
            path = as_text(args[0])
            if path is not None and not inside(path, write_roots):
                refuse("os.chdir outside the sandbox: " + path)
        elif event == "ctypes.dlopen":
            if args[0] is not None:
                refuse("ctypes.dlopen of " + str(args[0]))
        else:
            refuse(forbidden[event] + " (" + event + ")")

    import _posixsubprocess

    def fork_exec(*args, **kwargs):
        refuse("process creation (_posixsubprocess.fork_exec)")

    # multiprocessing's spawn/forkserver start methods call this without an audit event.
    _posixsubprocess.fork_exec = fork_exec
    internal = frozenset(f.__code__ for f in (
        hook, refuse, as_text, inside, check_read, check_write, fork_exec, norm))
    sys.addaudithook(hook)
    sys.stdout.reconfigure(line_buffering=True)  # output printed before a timeout still arrives

    main = type(sys)("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    try:
        with open("$snippet", "rb") as handle:
            source = handle.read()
        exec(compile(source, "$snippet", "exec"), main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:
        code = EXIT_REFUSED if isinstance(exc, SandboxRefused) else (
            EXIT_MEMORY if isinstance(exc, MemoryError) else 1)
        if code == EXIT_MEMORY:
            main.__dict__.clear()  # free the snippet's data so that printing has memory
        # Show the snippet's frames only: drop this function's frame and the hook's.
        tb = first = exc.__traceback__.tb_next
        previous = None
        while tb is not None:
            if tb.tb_frame.f_code in internal:
                if previous is None:
                    first = None
                else:
                    previous.tb_next = None
                break
            previous, tb = tb, tb.tb_next
        try:
            import traceback
            traceback.print_exception(type(exc), exc, first)
        except BaseException:
            write(2, (type(exc).__name__ + ": " + str(exc) + "\n").encode("utf-8", "replace"))
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass  # the snippet closed it; nothing more can be shown there
        posix._exit(code)


EXIT_REFUSED, EXIT_MEMORY = $exit_refused, $exit_memory
_sandbox_main(__import__("sys").argv)
'''
_PREAMBLE = Template(_PREAMBLE_TEMPLATE).substitute(
    marker=REFUSAL_MARKER, snippet=SNIPPET_FILE, exit_refused=EXIT_REFUSED, exit_memory=EXIT_MEMORY
)


def _field(default: Any, help_text: str) -> Any:
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class SandboxConfig:
    """How snippets run: limits, interpreter, and an optional jail command in front."""

    timeout: float = _field(
        5.0, "wall-clock seconds per snippet; the process group is killed after"
    )
    memory_mb: int = _field(512, "address-space limit (RLIMIT_AS) in MiB")
    cpu_seconds: int | None = _field(
        None, "CPU-time limit (RLIMIT_CPU); default: the timeout rounded up, plus one"
    )
    max_output_bytes: int = _field(
        64_000, "bytes kept from stdout and from stderr each; the snippet is killed past it"
    )
    max_file_mb: int = _field(16, "largest file the snippet may write (RLIMIT_FSIZE), MiB")
    max_open_files: int = _field(256, "open file descriptors (RLIMIT_NOFILE)")
    max_processes: int = _field(
        64,
        "RLIMIT_NPROC, applied only with `user`: the kernel counts every process of the uid "
        "and ignores the limit for root",
    )
    python: str = _field("", "interpreter to run; default: the calling one (sys.executable)")
    wrapper: tuple[str, ...] = _field(
        (),
        "command prefix run in front of the interpreter, e.g. ('bwrap', ...) or "
        "('docker', 'run', ...); '{workdir}' in an argument becomes the snippet's directory",
    )
    user: int | None = _field(
        None,
        "uid to run as (needs root; the interpreter must be readable by that uid); "
        "e.g. 65534 (nobody)",
    )
    tmp_root: str | None = _field(None, "where per-snippet directories are made; default: TMPDIR")

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise MathverifyError(f"sandbox timeout must be positive, got {self.timeout}")
        if self.memory_mb < 16:
            raise MathverifyError(f"sandbox memory_mb must be at least 16, got {self.memory_mb}")
        if self.cpu_seconds is not None and self.cpu_seconds < 1:
            raise MathverifyError(f"sandbox cpu_seconds must be >= 1, got {self.cpu_seconds}")
        if self.max_output_bytes < 1:
            raise MathverifyError(
                f"sandbox max_output_bytes must be >= 1, got {self.max_output_bytes}"
            )
        if self.max_file_mb < 0 or self.max_open_files < 16 or self.max_processes < 1:
            raise MathverifyError(
                "sandbox max_file_mb must be >= 0, max_open_files >= 16, max_processes >= 1"
            )
        if not isinstance(self.wrapper, tuple):
            raise MathverifyError("sandbox wrapper must be a tuple of strings")


@dataclass(frozen=True)
class SandboxResult:
    """What happened to one snippet.

    ``status`` says how it ended: ``ok`` (exit 0), ``error`` (an exception or a non-zero
    exit; the traceback is in ``stderr``), ``timeout`` (wall clock or CPU limit),
    ``memory`` (MemoryError at the address-space limit), ``refused`` (died on an action the
    sandbox refuses), ``output_truncated`` (killed for printing past the cap) or ``killed``
    (a signal the sandbox did not send). ``refusals`` lists refused actions even when the
    snippet caught the error and went on.
    """

    status: SandboxStatus
    stdout: str
    stderr: str
    returncode: int
    seconds: float
    message: str
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    refusals: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# Loads the preamble compiled by the parent: compiling its source costs the child 1-2 ms.
_BOOTSTRAP = "exec(__import__('marshal').loads(bytes.fromhex(__import__('sys').argv[-1])))"


def _child_argv(config: SandboxConfig) -> list[str]:
    memory = config.memory_mb * 1024 * 1024
    cpu = config.cpu_seconds if config.cpu_seconds is not None else math.ceil(config.timeout) + 1
    file_bytes = config.max_file_mb * 1024 * 1024
    processes = config.max_processes if config.user is not None else -1
    limits = [str(v) for v in (memory, cpu, file_bytes, config.max_open_files, processes)]
    flags = ["-I", "-S", "-B", "-c"]
    if config.python or config.wrapper:
        # Maybe another Python (a container's): its own site module finds its site-packages,
        # and marshal data is version-specific.
        return [config.python or sys.executable, *flags, _PREAMBLE, *limits, ""]
    return [sys.executable, *flags, _BOOTSTRAP, *limits, *_own_interpreter_arguments()]


@functools.cache
def _own_interpreter_arguments() -> tuple[str, str]:
    """This interpreter's site-packages folders and the compiled preamble, made once."""
    import site

    # Not the user site: -I leaves it out too.
    folders = [p for p in site.getsitepackages() if os.path.isdir(p) and ":" not in p]
    compiled = marshal.dumps(compile(_PREAMBLE, "<sandbox>", "exec")).hex()
    return ":".join(folders), compiled


class Sandbox:
    """Runs snippets one after another (or from several threads) with one configuration."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        if os.name != "posix":
            raise MathverifyError("the code sandbox needs a POSIX system (tested on Linux)")
        self.config = config if config is not None else SandboxConfig()
        self._argv = _child_argv(self.config)
        if self.config.user is not None:
            import pwd

            try:
                self._gid = pwd.getpwuid(self.config.user).pw_gid
            except KeyError:
                self._gid = self.config.user
        else:
            self._gid = None

    def _environment(self, workdir: str) -> dict[str, str]:
        return {
            "HOME": workdir,
            "TMPDIR": workdir,
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg",
            # One thread each: the CPU is shared and threads cost address space under RLIMIT_AS.
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }

    def run(self, code: str) -> SandboxResult:
        """Run ``code`` in a fresh child process and report how it ended."""
        config = self.config
        workdir = tempfile.mkdtemp(prefix="mathverify-sandbox-", dir=config.tmp_root)
        try:
            snippet = os.path.join(workdir, SNIPPET_FILE)
            # Lone surrogates survive the trip and make the child report a SyntaxError.
            with open(snippet, "w", encoding="utf-8", errors="surrogatepass") as handle:
                handle.write(code)
            if config.user is not None:
                os.chown(workdir, config.user, self._gid)
                os.chown(snippet, config.user, self._gid)
            argv = [arg.replace("{workdir}", workdir) for arg in config.wrapper] + self._argv
            return self._execute(argv, workdir)
        finally:
            _remove_tree(workdir)

    def _execute(self, argv: list[str], workdir: str) -> SandboxResult:
        config = self.config
        started = time.monotonic()
        deadline = started + config.timeout
        extra: dict = {}
        if config.user is not None:
            extra = {"user": config.user, "group": self._gid, "extra_groups": []}
        try:
            proc = subprocess.Popen(
                argv,
                cwd=workdir,
                env=self._environment(workdir),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                **extra,
            )
        except OSError as exc:
            raise MathverifyError(f"sandbox could not start {argv[0]!r}: {exc}") from exc
        with proc:
            outcome = _collect(proc, deadline, config.max_output_bytes)
            returncode = proc.wait()
        seconds = time.monotonic() - started
        stdout = outcome.stdout.decode("utf-8", "replace")
        stderr = outcome.stderr.decode("utf-8", "replace")
        status, message = _classify(outcome, returncode, stderr, config)
        refusals = tuple(
            line[len(REFUSAL_MARKER) :]
            for line in stderr.splitlines()
            if line.startswith(REFUSAL_MARKER)
        )
        return SandboxResult(
            status=status,
            stdout=stdout,
            stderr=stderr,
            returncode=returncode,
            seconds=seconds,
            message=message,
            stdout_truncated=outcome.stdout_truncated,
            stderr_truncated=outcome.stderr_truncated,
            refusals=refusals,
        )


def _remove_tree(path: str) -> None:
    try:
        shutil.rmtree(path)
    except PermissionError:
        # The snippet may have made a folder unreadable (chmod 0); root ignores that, a user doesn't.
        os.chmod(path, 0o700)
        for root, dirs, _ in os.walk(path):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o700)
        shutil.rmtree(path)


@dataclass
class _Outcome:
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    timed_out: bool = False
    output_capped: bool = False
    pipes_held: bool = False


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the whole group has already exited


def _open_pidfd(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return opener(pid)
    except OSError:  # kernels before 5.3; fall back to polling
        return None


def _collect(proc: subprocess.Popen, deadline: float, cap: int) -> _Outcome:
    """Read stdout/stderr until the child exits, the deadline passes or a stream hits ``cap``.

    The child's process group is killed before returning in every case, while the leader is
    still unreaped, so its group id cannot have been reused by an unrelated process.
    """
    assert proc.stdout is not None and proc.stderr is not None
    outcome = _Outcome()
    buffers = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    truncated = dict.fromkeys(buffers, False)
    poller = select.poll()
    for fd in buffers:
        poller.register(fd, select.POLLIN)
    open_pipes = set(buffers)
    pidfd = _open_pidfd(proc.pid)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    exited = False
    try:
        while open_pipes or not exited:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if exited:
                    outcome.pipes_held = True  # a stray process keeps the output open
                else:
                    outcome.timed_out = True
                break
            wait_ms = remaining * 1000 if pidfd is not None else min(remaining * 1000, 10)
            for fd, _ in poller.poll(math.ceil(wait_ms)):
                if fd == pidfd:
                    exited = True
                    poller.unregister(pidfd)
                    _kill_group(proc.pid)  # stray children in the group; the leader is a zombie
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    poller.unregister(fd)
                    open_pipes.discard(fd)
                    continue
                buffer = buffers[fd]
                room = cap - len(buffer)
                buffer += chunk[:room]
                if len(chunk) > room:
                    truncated[fd] = True
                    outcome.output_capped = True
            if outcome.output_capped:
                break
            if pidfd is None and not exited and proc.poll() is not None:
                exited = True
        _kill_group(proc.pid)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    outcome.stdout, outcome.stderr = bytes(buffers[out_fd]), bytes(buffers[err_fd])
    outcome.stdout_truncated, outcome.stderr_truncated = truncated[out_fd], truncated[err_fd]
    return outcome


def _last_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if line.strip() and not line.startswith(REFUSAL_MARKER):
            return line.strip()
    return ""


def _classify(
    outcome: _Outcome, returncode: int, stderr: str, config: SandboxConfig
) -> tuple[SandboxStatus, str]:
    """The status and a one-line message for a finished child."""
    if outcome.timed_out:
        return "timeout", f"timed out after {config.timeout:g} s (wall clock); process killed"
    if outcome.output_capped:
        return "output_truncated", (
            f"output passed {config.max_output_bytes} bytes; process killed"
        )
    if returncode < 0:
        signum = -returncode
        if signum == signal.SIGXCPU:
            cpu = config.cpu_seconds or math.ceil(config.timeout) + 1
            return "timeout", f"CPU time limit of {cpu} s exceeded"
        name = signal.Signals(signum).name if signum in signal.valid_signals() else str(signum)
        return "killed", f"killed by signal {name}"
    suffix = " (a background process held the output open; killed)" if outcome.pipes_held else ""
    if returncode == 0:
        return "ok", "exit code 0" + suffix
    if returncode == EXIT_REFUSED and REFUSAL_MARKER in stderr:
        return "refused", _last_line(stderr) + suffix
    if returncode == EXIT_MEMORY and "MemoryError" in stderr:
        return "memory", f"MemoryError (limit {config.memory_mb} MiB)" + suffix
    return "error", (_last_line(stderr) or f"exit code {returncode}") + suffix


def run_snippet(
    code: str,
    *,
    timeout: float = 5.0,
    memory_mb: int = 512,
    cpu_seconds: int | None = None,
    max_output_bytes: int = 64_000,
) -> SandboxResult:
    """Run one snippet with the default sandbox settings and the given limits."""
    config = SandboxConfig(
        timeout=timeout,
        memory_mb=memory_mb,
        cpu_seconds=cpu_seconds,
        max_output_bytes=max_output_bytes,
    )
    return Sandbox(config).run(code)
