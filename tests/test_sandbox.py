"""The code-interpreter sandbox: normal snippets work, hostile ones are stopped or refused.

Every hostile snippet must leave the test process running and the user's files (a fake
HOME with an SSH key, a victim file, the project's pyproject.toml) byte-for-byte unchanged,
and the result must say what happened.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import threading
from pathlib import Path

import pytest

from mathverify.errors import MathverifyError
from mathverify.sandbox import Sandbox, SandboxConfig, SandboxResult, run_snippet

REPO_ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = REPO_ROOT / "pyproject.toml"
TIMEOUT = 1.5
OUTPUT_CAP = 10_000


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(SandboxConfig(timeout=TIMEOUT, max_output_bytes=OUTPUT_CAP))


@pytest.fixture
def user_files(tmp_path: Path) -> dict[str, Path]:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_rsa"
    key.write_text("-----BEGIN FAKE KEY-----\nnot a real key\n")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious data\n")
    return {"root": tmp_path, "home": home, "key": key, "victim": victim, "project": PYPROJECT}


def _snapshot(files: dict[str, Path]) -> dict[str, str]:
    """Checksums of every file under the test's tmp dir, plus the project's pyproject.toml."""
    paths = sorted(p for p in files["root"].rglob("*") if p.is_file()) + [files["project"]]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


# (id, code, allowed statuses, text expected in message or refusals)
HOSTILE = [
    ("infinite-loop", "while True:\n    pass", {"timeout"}, "timed out"),
    ("sleep-forever", "import time\ntime.sleep(3600)", {"timeout"}, "timed out"),
    (
        "fork-bomb",
        # Depth-bounded, so that a broken sandbox could not take the test machine down.
        "import os\n"
        "def bomb(depth):\n"
        "    for _ in range(depth):\n"
        "        if os.fork() == 0:\n"
        "            bomb(depth - 1)\n"
        "            os._exit(0)\n"
        "bomb(4)\n",
        {"refused"},
        "os.fork",
    ),
    ("os-system", "import os\nos.system('echo pwned > {victim}')", {"refused"}, "os.system"),
    (
        "subprocess",
        "import subprocess\nsubprocess.run(['sh', '-c', 'echo pwned > {victim}'])",
        {"refused"},
        "subprocess.Popen",
    ),
    (
        "multiprocessing-fork",
        "import multiprocessing as mp\np = mp.Process(target=print)\np.start()\np.join()",
        {"refused"},
        "process creation",
    ),
    (
        "multiprocessing-spawn",
        "import multiprocessing as mp\nmp.set_start_method('spawn')\n"
        "p = mp.Process(target=print)\np.start()\np.join()",
        {"refused"},
        "fork_exec",
    ),
    (
        "reimport-posixsubprocess",
        "import sys\ndel sys.modules['_posixsubprocess']\nimport _posixsubprocess",
        {"refused"},
        "re-importing",
    ),
    ("allocate-10GB", "x = bytearray(10 * 1024**3)", {"memory"}, "MemoryError"),
    (
        "allocate-gradually",
        "chunks = []\nwhile True:\n    chunks.append(bytes(32 * 1024**2))",  # calloc: address space, untouched
        {"memory"},
        "MemoryError",
    ),
    ("write-outside", "open({victim!r}, 'w').write('pwned')", {"refused"}, "outside the sandbox"),
    (
        "create-outside",
        "import pathlib\npathlib.Path({root!r}, 'new.txt').write_text('pwned')",
        {"refused"},
        "outside the sandbox",
    ),
    ("delete-outside", "import os\nos.remove({victim!r})", {"refused"}, "os.remove"),
    (
        "rename-outside",
        "import os\nos.rename({victim!r}, {victim!r} + '.moved')",
        {"refused"},
        "os.rename",
    ),
    ("rmtree-outside", "import shutil\nshutil.rmtree({home!r})", {"refused"}, "rmtree"),
    (
        "relative-escape",
        "open('../' * 30 + {victim!r}.lstrip('/'), 'a').write('pwned')",
        {"refused"},
        "outside the sandbox",
    ),
    ("chdir-escape", "import os\nos.chdir({root!r})", {"refused"}, "os.chdir"),
    ("symlink-to-key", "import os\nos.symlink({key!r}, 'key')", {"refused"}, "link"),
    ("read-ssh-key", "print(open({key!r}).read())", {"refused"}, "outside the sandbox"),
    ("list-ssh-dir", "import os\nprint(os.listdir({home!r} + '/.ssh'))", {"refused"}, "listdir"),
    ("read-project-file", "print(open({project!r}).read())", {"refused"}, "outside the sandbox"),
    ("read-etc-passwd", "print(open('/etc/passwd').read())", {"refused"}, "outside the sandbox"),
    ("socket", "import socket\nsocket.socket()", {"refused"}, "network"),
    (
        "connect",
        "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)",
        {"refused"},
        "network",
    ),
    (
        # urllib wraps the refusal (an OSError) in URLError, so the snippet dies of an error.
        "urlopen",
        "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:9/', timeout=1)",
        {"refused", "error"},
        "network",
    ),
    ("kill-parent", "import os\nos.kill(os.getppid(), 9)", {"refused"}, "os.kill"),
    (
        "kill-parent-group",
        "import os\nos.killpg(os.getpgid(os.getppid()), 9)",
        {"refused"},
        "os.killpg",
    ),
    (
        "print-1GB",
        "import sys\nchunk = 'x' * 1_000_000\nfor _ in range(1000):\n    sys.stdout.write(chunk)",
        {"output_truncated"},
        "process killed",
    ),
    (
        "stderr-flood",
        "import sys\nwhile True:\n    sys.stderr.write('y' * 4096)",
        {"output_truncated"},
        "process killed",
    ),
    (
        "raise-memory-limit",
        "import resource\n"
        "resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))",
        {"refused"},
        "resource limits",
    ),
    ("ctypes-libc", "import ctypes\nctypes.CDLL('libc.so.6')", {"refused"}, "dlopen"),
    (
        "ctypes-main-program",
        "import ctypes\nctypes.CDLL(None).kill(0, 9)",
        {"refused"},
        "ctypes",
    ),
    ("walk-heap", "import gc\ngc.get_objects()", {"refused"}, "heap"),
]


@pytest.mark.parametrize(
    ("code", "statuses", "expected"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
def test_hostile_snippet_is_stopped_and_user_files_are_untouched(
    sandbox: Sandbox,
    user_files: dict[str, Path],
    code: str,
    statuses: set[str],
    expected: str,
) -> None:
    before = _snapshot(user_files)
    result = sandbox.run(code.format(**{k: str(v) for k, v in user_files.items()}))

    assert result.status in statuses, (result.status, result.message, result.stderr[-2000:])
    assert expected in result.message + " ".join(result.refusals)
    assert _snapshot(user_files) == before
    assert result.seconds < TIMEOUT + 1.0
    if result.status == "refused":
        assert result.refusals and result.returncode != 0
    if result.status == "output_truncated":
        assert len(result.stdout) <= OUTPUT_CAP and len(result.stderr) <= OUTPUT_CAP
        assert result.stdout_truncated or result.stderr_truncated


def test_refusal_caught_by_the_snippet_is_still_recorded(sandbox: Sandbox) -> None:
    code = "try:\n    open('/etc/passwd')\nexcept OSError as exc:\n    print('caught', exc)\n"
    result = sandbox.run(code)
    assert result.status == "ok"
    assert result.stdout.startswith("caught sandbox refused open outside the sandbox")
    assert result.refusals == ("open outside the sandbox: /etc/passwd",)


def test_cpu_limit_stops_a_busy_loop_before_the_wall_clock() -> None:
    # A generous wall clock: on a loaded machine one CPU second can take several seconds.
    result = Sandbox(SandboxConfig(timeout=60, cpu_seconds=1)).run("while True:\n    pass")
    assert result.status == "timeout"
    assert "CPU time limit of 1 s" in result.message
    assert result.returncode < 0


def test_file_size_limit_applies_inside_the_working_directory() -> None:
    code = "open('big.bin', 'wb').write(b'0' * (2 * 1024 * 1024))"
    result = Sandbox(SandboxConfig(timeout=5, max_file_mb=1)).run(code)
    assert result.status == "error"
    assert "File too large" in result.message


def test_output_printed_before_a_timeout_is_kept(sandbox: Sandbox) -> None:
    result = sandbox.run("print('started')\nwhile True:\n    pass")
    assert result.status == "timeout"
    assert result.stdout == "started\n"


# Normal snippets ------------------------------------------------------------------------


def test_print_sum(sandbox: Sandbox) -> None:
    result = sandbox.run("print(sum(range(10)))")
    assert (result.status, result.stdout, result.returncode, result.refusals) == (
        "ok",
        "45\n",
        0,
        (),
    )
    assert result.ok and not result.stdout_truncated


def test_sympy_import_and_solve(sandbox: Sandbox) -> None:
    code = "import sympy as sp\nx = sp.symbols('x')\nprint(sp.solve(x**2 - 4, x))"
    result = Sandbox(SandboxConfig(timeout=30)).run(code)
    assert result.status == "ok", result.stderr
    assert result.stdout == "[-2, 2]\n"


def test_numpy_works_under_the_memory_limit() -> None:
    code = (
        "import numpy as np\nprint(int(np.linalg.det(np.array([[2.0, 1.0], [1.0, 3.0]])).round()))"
    )
    result = Sandbox(SandboxConfig(timeout=30)).run(code)
    assert result.status == "ok", result.stderr
    assert result.stdout == "5\n"


def test_exception_gives_error_with_traceback(sandbox: Sandbox) -> None:
    result = sandbox.run("x = 1\n1 / 0\n")
    assert result.status == "error"
    assert result.returncode == 1
    assert result.message == "ZeroDivisionError: division by zero"
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert 'File "snippet.py", line 2, in <module>' in result.stderr
    assert "_sandbox_main" not in result.stderr  # the sandbox's own frames are hidden


def test_syntax_error_is_reported(sandbox: Sandbox) -> None:
    result = sandbox.run("x = = 2")
    assert result.status == "error"
    assert result.message == "SyntaxError: invalid syntax"
    assert 'File "snippet.py", line 1' in result.stderr


def test_refusal_traceback_ends_at_the_snippet_line(sandbox: Sandbox) -> None:
    result = sandbox.run("import os\nos.kill(os.getpid(), 9)")
    assert result.status == "refused"
    assert result.message == "sandbox.SandboxRefused: sandbox refused sending a signal (os.kill)"
    assert "in hook" not in result.stderr


@pytest.mark.parametrize(
    ("code", "status", "returncode"),
    [
        ("import sys\nsys.exit(0)", "ok", 0),
        ("exit(3)", "error", 3),
        # The sandbox's exit codes mean nothing without the sandbox's stderr marker.
        ("import sys\nsys.exit(97)", "error", 97),
        ("import sys\nsys.exit(98)", "error", 98),
    ],
)
def test_exit_codes(sandbox: Sandbox, code: str, status: str, returncode: int) -> None:
    result = sandbox.run(code)
    assert (result.status, result.returncode) == (status, returncode)


def test_working_directory_is_private_home_and_removed_after(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATHVERIFY_TEST_SECRET", "hunter2")
    code = (
        "import os\n"
        "open('notes.txt', 'w').write('kept')\n"
        "print(open('notes.txt').read())\n"
        "print(os.getcwd())\n"
        "print(os.environ['HOME'] == os.getcwd() == os.environ['TMPDIR'])\n"
        "print('MATHVERIFY_TEST_SECRET' in os.environ)\n"
    )
    result = sandbox.run(code)
    assert result.status == "ok", result.stderr
    kept, workdir, home_is_workdir, secret_seen = result.stdout.splitlines()
    assert (kept, home_is_workdir, secret_seen) == ("kept", "True", "False")
    assert not os.path.exists(workdir)


def test_limits_are_set_and_cannot_be_raised(sandbox: Sandbox) -> None:
    code = (
        "import resource\n"
        "for name in ('RLIMIT_AS', 'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_NOFILE', 'RLIMIT_CORE'):\n"
        "    print(name, *resource.getrlimit(getattr(resource, name)))\n"
    )
    config = SandboxConfig(timeout=TIMEOUT, memory_mb=300, max_file_mb=2, max_open_files=100)
    result = Sandbox(config).run(code)
    assert result.status == "ok", result.stderr
    assert result.stdout.splitlines() == [
        f"RLIMIT_AS {300 * 2**20} {300 * 2**20}",
        "RLIMIT_CPU 3 4",  # timeout 1.5 s rounded up, plus one; hard limit one more
        f"RLIMIT_FSIZE {2 * 2**20} {2 * 2**20}",
        "RLIMIT_NOFILE 100 100",
        "RLIMIT_CORE 0 0",
    ]


def test_unicode_output_round_trips(sandbox: Sandbox) -> None:
    result = sandbox.run("print('π ≈ 3.14159, √2, ∑')")
    assert result.stdout == "π ≈ 3.14159, √2, ∑\n"


def test_one_sandbox_serves_several_threads(sandbox: Sandbox) -> None:
    results: dict[int, SandboxResult] = {}

    def work(n: int) -> None:
        results[n] = sandbox.run(f"print({n} * {n})")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {n: r.stdout for n, r in results.items()} == {n: f"{n * n}\n" for n in range(4)}


def test_run_snippet_takes_the_limits_as_keywords() -> None:
    result = run_snippet("print(len('x' * 100))", timeout=3, memory_mb=256, max_output_bytes=5)
    assert result.status == "ok"
    assert result.stdout == "100\n"
    big = run_snippet("print('x' * 100)", timeout=3, max_output_bytes=5)
    assert big.status == "output_truncated"
    assert big.stdout == "xxxxx" and big.stdout_truncated


def test_wrapper_prefix_runs_in_front_of_the_interpreter() -> None:
    env = shutil.which("env")
    if env is None:
        pytest.skip("no `env` program to use as a wrapper")
    config = SandboxConfig(timeout=5, wrapper=(env, "MV_WRAPPED_DIR={workdir}"))
    result = Sandbox(config).run("import os\nprint(os.environ['MV_WRAPPED_DIR'] == os.getcwd())")
    assert result.status == "ok", result.stderr
    assert result.stdout == "True\n"


def test_runs_as_another_user_when_asked() -> None:
    system_python = "/usr/bin/python3"
    if os.geteuid() != 0 or not os.access(system_python, os.X_OK):
        pytest.skip("needs root and a system interpreter (/usr/bin/python3) readable by nobody")
    if os.stat(os.path.realpath(system_python)).st_mode & 0o005 != 0o005:
        pytest.skip(f"{system_python} is not readable and executable by other users")
    config = SandboxConfig(timeout=5, python=system_python, user=65534, max_processes=32)
    code = (
        "import os, resource\n"
        "open('x.txt', 'w').write('ok')\n"
        "print(os.getuid(), resource.getrlimit(resource.RLIMIT_NPROC)[0], open('x.txt').read())"
    )
    result = Sandbox(config).run(code)
    assert result.status == "ok", result.stderr
    assert result.stdout == "65534 32 ok\n"


@pytest.mark.parametrize(
    "settings",
    [
        {"timeout": 0},
        {"memory_mb": 1},
        {"cpu_seconds": 0},
        {"max_output_bytes": 0},
        {"max_open_files": 3},
        {"wrapper": ["bwrap"]},
    ],
)
def test_bad_config_is_a_domain_error(settings: dict) -> None:
    with pytest.raises(MathverifyError):
        SandboxConfig(**settings)


def test_missing_interpreter_is_a_domain_error(tmp_path: Path) -> None:
    sandbox = Sandbox(SandboxConfig(python=str(tmp_path / "no-such-python")))
    with pytest.raises(MathverifyError, match="could not start"):
        sandbox.run("print(1)")


def test_the_calling_process_is_not_the_one_running_the_code(sandbox: Sandbox) -> None:
    result = sandbox.run("import os\nprint(os.getpid(), os.getppid())")
    child, parent = (int(v) for v in result.stdout.split())
    assert parent == os.getpid() and child != os.getpid()
    assert sys.modules.get("__main__") is not None  # our own interpreter state is untouched
