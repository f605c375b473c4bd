"""`ganime assets list | fetch`, run as a user would (in process, so the pinned table can hold
the stand-ins' hashes; one subprocess shows `list` imports no TensorFlow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ganime_core import assets
from ganime_core.assets import FAST_NST, INCEPTION_V3, VGG19, hub_module_dir
from orchestration.cli import main
from tests.support.asset_server import (
    AssetServer,
    Caches,
    closed_port_url,
    fake_saved_model,
    pin_stand_in,
    stand_in_bytes,
    tar_gz,
)
from tests.support.paths import REPO

pytest_plugins = ["tests.support.asset_server"]  # its fixtures: asset_caches, asset_server


def run(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    """Exit code, stdout lines (progress bars' last state, blank lines dropped) and stderr lines
    of `ganime *argv`."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, shown_lines(out), shown_lines(err)


def shown_lines(text: str) -> list[str]:
    """What a terminal shows: each line's text after its last carriage return."""
    shown = (line.rpartition("\r")[2].strip() for line in text.splitlines())
    return [line for line in shown if line]


def results(lines: list[str]) -> list[str]:
    """The command's own result lines, without the libraries' progress lines."""
    return [line for line in lines if line.split(":")[0] in assets.ASSETS]


def listed(capsys) -> dict[str, str]:
    code, lines, _ = run(capsys, "assets", "list")
    assert code == 0
    return {line.split()[0]: line for line in lines}


def test_list_says_what_is_present_missing_or_corrupt(
    asset_caches: Caches, tmp_path: Path, monkeypatch, capsys
) -> None:
    inception = stand_in_bytes("inception_v3")
    pin_stand_in(monkeypatch, "inception_v3", inception)
    pin_stand_in(monkeypatch, "vgg19", stand_in_bytes("vgg19"))
    asset_caches.keras_models.mkdir(parents=True)
    (asset_caches.keras_models / INCEPTION_V3.file_name).write_bytes(inception)
    (asset_caches.keras_models / VGG19.file_name).write_bytes(b"half a download")

    lines = listed(capsys)
    assert list(lines) == ["inception_v3", "vgg19", "fast_nst"]
    ok = lines["inception_v3"].split()
    assert ok[1] == "ok" and ok[2] == str(asset_caches.keras_models / INCEPTION_V3.file_name)
    assert f"md5:{assets.ASSETS['inception_v3'].md5} (as pinned)" in lines["inception_v3"]
    assert "0.1 MB" in lines["inception_v3"]  # 64 KiB
    assert lines["vgg19"].split()[1] == "corrupt"
    assert f"(expected md5:{assets.ASSETS['vgg19'].md5})" in lines["vgg19"]
    assert lines["fast_nst"].split()[1] == "missing"
    assert f"looked in {hub_module_dir(FAST_NST)}" in lines["fast_nst"]

    # A hub model put in TF Hub's cache by hand has no recorded digest until its first use.
    fake_saved_model(hub_module_dir(FAST_NST))
    assert "unrecorded" in listed(capsys)["fast_nst"]


def test_list_reads_the_caches_without_importing_tensorflow(asset_caches: Caches) -> None:
    code = (
        "import sys; from orchestration.cli import main; main(['assets', 'list']); "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [
        ["inception_v3", "missing"],
        ["vgg19", "missing"],
        ["fast_nst", "missing"],
    ]
    assert lines[3] == "False False"


def test_fetch_downloads_from_the_mirror_then_finds_it_present(
    asset_caches: Caches, asset_server: AssetServer, monkeypatch, capsys
) -> None:
    content = stand_in_bytes("inception_v3")
    pin_stand_in(monkeypatch, "inception_v3", content)
    url = asset_server.serve(f"/{INCEPTION_V3.file_name}", content)
    target = asset_caches.keras_models / INCEPTION_V3.file_name

    code, out, _ = run(capsys, "assets", "fetch", "inception_v3", "--mirror", asset_server.url)
    assert code == 0
    assert out[0] == f"Downloading data from {url}"  # then Keras' progress bar
    assert out[-1] == f"inception_v3: downloaded {url} -> {target} (verified)"
    code, out, _ = run(capsys, "assets", "fetch", "inception_v3", "--mirror", asset_server.url)
    assert code == 0 and out == [f"inception_v3: already in {target} (verified)"]
    assert asset_server.requests[f"/{INCEPTION_V3.file_name}"] == 1
    assert listed(capsys)["inception_v3"].split()[1] == "ok"


def test_the_mirror_flag_overrides_the_environment(
    asset_caches: Caches, asset_server: AssetServer, monkeypatch, capsys
) -> None:
    content = stand_in_bytes("vgg19")
    pin_stand_in(monkeypatch, "vgg19", content)
    asset_server.serve(f"/{VGG19.file_name}", content)
    monkeypatch.setenv(assets.MIRROR_ENV, closed_port_url())
    code, _, err = run(capsys, "assets", "fetch", "vgg19")
    assert code == 2 and len(err) == 1 and err[0].startswith("ganime: error: URL fetch failure")
    code, _, _ = run(capsys, "assets", "fetch", "vgg19", "--mirror", asset_server.url)
    assert code == 0 and (asset_caches.keras_models / VGG19.file_name).read_bytes() == content


def test_fetch_all_from_a_folder_installs_what_is_there_and_counts_what_is_not(
    asset_caches: Caches, tmp_path: Path, monkeypatch, capsys
) -> None:
    copied = tmp_path / "usb"
    copied.mkdir()
    inception = stand_in_bytes("inception_v3")
    pin_stand_in(monkeypatch, "inception_v3", inception)
    (copied / INCEPTION_V3.file_name).write_bytes(inception)
    model = fake_saved_model(tmp_path / "model")
    (copied / f"{FAST_NST.archive_name}.tar.gz").write_bytes(tar_gz(model))

    code, out, err = run(capsys, "assets", "fetch", "all", "--from", str(copied))
    assert code == 2
    assert err == ["ganime: error: 1 of 3 assets not fetched (vgg19); the reasons are above"]
    shown = results(out)
    assert shown[0].startswith(f"inception_v3: installed {copied / INCEPTION_V3.file_name} -> ")
    assert shown[1] == f"vgg19: not fetched: --from {copied}: no {VGG19.file_name} there"
    assert shown[2].startswith("fast_nst: installed ")
    archive = copied / f"{FAST_NST.archive_name}.tar.gz"
    assert any(line.startswith(f"Downloaded {archive}, Total size:") for line in out)  # hub's
    lines = listed(capsys)
    assert [lines[name].split()[1] for name in lines] == ["ok", "missing", "ok"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nst"], "no asset 'nst'; choose from inception_v3, vgg19, fast_nst or all"),
        (["vgg19", "--mirror", "s3://bucket"], "--mirror: 's3://bucket' is not an http(s) URL"),
        (["vgg19", "--from", "/no/such/folder"], "--from /no/such/folder: no such folder"),
    ],
)
def test_user_errors_are_one_line(asset_caches: Caches, capsys, argv, message) -> None:
    code, out, err = run(capsys, "assets", "fetch", *argv)
    assert code == 2 and out == []
    assert len(err) == 1 and err[0].startswith(f"ganime: error: {message}")
