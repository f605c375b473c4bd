"""`ganime data download` against a stand-in for Kaggle's API: a fake client that writes a zip
with the real archive's folder names (`data/train/*.png`, `data/val/*.png`, and a duplicated
`data/data/` copy), and the search for credentials in what a tracked run leaves behind."""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from ganime_core.errors import GanimeError
from orchestration.cli import main
from orchestration.data import archive, kaggle
from orchestration.data.credentials import find_kaggle_credentials, redact
from orchestration.data.kaggle import DEFAULT_DATASET, download_dataset

SLUG = DEFAULT_DATASET.split("/")[1]
KAGGLE_ENV = ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR")
TRAIN, VAL = 6, 2  # good pairs per split in the stand-in archive; train also holds broken.png
COUNTS = {"train": TRAIN + 1, "val": VAL}


# --- the stand-in archive and client -------------------------------------------------------


def pair_png(index: int) -> bytes:
    """A tiny colour | sketch pair, 16x8, different for every index."""
    image = Image.new("RGB", (16, 8), (index * 30 % 256, 90, 200))
    image.paste((255, 255, 255), (8, 0, 16, 8))  # the sketch half
    image.putpixel((9, index % 8), (0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def kaggle_zip() -> bytes:
    """The real archive's layout: data/{train,val}/N.png, one corrupt PNG in train, and the
    same folders again under data/data/ (which must be neither unpacked nor counted; here with
    one file more, so that a test sees which copy was unpacked)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("data/data/train/only-in-the-copy.png", pair_png(99))
        for root in ("data", "data/data"):
            for i in range(TRAIN):
                zf.writestr(f"{root}/train/{i}.png", pair_png(i))
            zf.writestr(f"{root}/train/broken.png", b"not a png at all")
            for i in range(VAL):
                zf.writestr(f"{root}/val/{100 + i}.png", pair_png(100 + i))
    return buffer.getvalue()


class FakeKaggle:
    """Stands in for KaggleApi: records its calls and 'downloads' the archive it was given."""

    def __init__(self, archive_bytes: bytes | None = None) -> None:
        self.archive_bytes = kaggle_zip() if archive_bytes is None else archive_bytes
        self.calls: list[tuple] = []

    def authenticate(self) -> None:
        self.calls.append(("authenticate",))

    def dataset_download_files(
        self, dataset: str, path: str | None = None, force: bool = False, quiet: bool = True
    ) -> None:
        self.calls.append(("download", dataset, quiet))
        Path(path, f"{dataset.split('/')[1]}.zip").write_bytes(self.archive_bytes)


def never_called() -> kaggle.KaggleClient:
    raise AssertionError("Kaggle was contacted")


@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home without Kaggle files and no KAGGLE_* variables; returns the home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    for name in KAGGLE_ENV:
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def token(no_credentials: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    value = secrets.token_hex(16)
    monkeypatch.setenv("KAGGLE_API_TOKEN", value)
    return value


@pytest.fixture
def tiny_expected_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in archive's counts take the place of the real set's 14224 / 3545."""
    monkeypatch.setitem(kaggle.EXPECTED_COUNTS, DEFAULT_DATASET, dict(COUNTS))


def download(out: Path, client, cache_dir: Path, **options) -> kaggle.DownloadResult:
    factory = client if callable(client) else (lambda: client)
    return download_dataset(
        out, client_factory=factory, image_size=32, cache_dir=cache_dir, progress=False, **options
    )


def leftovers(parent: Path, out: Path) -> list[str]:
    """What a download left beside `out`: staging folders or the archive's folder."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{out.name}."))


# --- credentials ---------------------------------------------------------------------------


def test_missing_credentials_is_one_line_and_nothing_is_written(
    no_credentials: Path, tmp_path: Path, cache_dir: Path, capsys
) -> None:
    out = tmp_path / "anime"
    with pytest.raises(GanimeError) as raised:
        download(out, never_called, cache_dir)
    message = str(raised.value)
    assert "\n" not in message
    for where in (
        "https://www.kaggle.com/settings/api",
        "$KAGGLE_API_TOKEN",
        str(no_credentials / ".kaggle" / "access_token"),
        "kaggle.json",
        "$KAGGLE_USERNAME and $KAGGLE_KEY",
    ):
        assert where in message

    assert main(["data", "download", "--out", str(out), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("ganime: error: no Kaggle credentials found")
    assert not out.exists() and leftovers(tmp_path, out) == []


@pytest.mark.parametrize(
    "place, expected_source",
    [
        ("env token", "$KAGGLE_API_TOKEN"),
        ("token file", "{home}/.kaggle/access_token"),
        ("env username and key", "$KAGGLE_USERNAME and $KAGGLE_KEY"),
        ("kaggle.json in ~/.kaggle", "{home}/.kaggle/kaggle.json"),
        ("kaggle.json in $KAGGLE_CONFIG_DIR", "{home}/elsewhere/kaggle.json"),
        ("kaggle.json in ~/.config/kaggle", "{home}/.config/kaggle/kaggle.json"),
        ("username in kaggle.json, key in env", "$KAGGLE_KEY and {home}/.kaggle/kaggle.json"),
        ("oauth login", "{home}/.kaggle/credentials.json (kaggle auth login)"),
    ],
)
def test_credentials_are_found_where_the_kaggle_package_looks(
    place: str, expected_source: str, no_credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, secret = no_credentials, secrets.token_hex(16)
    dot_kaggle = home / ".kaggle"
    legacy = json.dumps({"username": "someone", "key": secret})
    if place == "env token":
        monkeypatch.setenv("KAGGLE_API_TOKEN", secret)
    elif place == "token file":
        dot_kaggle.mkdir()
        (dot_kaggle / "access_token").write_text(secret + "\n")
    elif place == "env username and key":
        monkeypatch.setenv("KAGGLE_USERNAME", "someone")
        monkeypatch.setenv("KAGGLE_KEY", secret)
    elif place == "kaggle.json in ~/.kaggle":
        dot_kaggle.mkdir()
        (dot_kaggle / "kaggle.json").write_text(legacy)
    elif place == "kaggle.json in $KAGGLE_CONFIG_DIR":
        (home / "elsewhere").mkdir()
        (home / "elsewhere" / "kaggle.json").write_text(legacy)
        monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(home / "elsewhere"))
    elif place == "kaggle.json in ~/.config/kaggle":  # Linux, when ~/.kaggle does not exist
        (home / ".config" / "kaggle").mkdir(parents=True)
        (home / ".config" / "kaggle" / "kaggle.json").write_text(legacy)
    elif place == "username in kaggle.json, key in env":
        dot_kaggle.mkdir()
        (dot_kaggle / "kaggle.json").write_text(json.dumps({"username": "someone"}))
        monkeypatch.setenv("KAGGLE_KEY", secret)
    else:
        dot_kaggle.mkdir()
        (dot_kaggle / "credentials.json").write_text(json.dumps({"refresh_token": secret}))

    source = find_kaggle_credentials()
    assert source == expected_source.format(home=home)
    assert secret not in source


def test_half_a_legacy_key_or_an_empty_token_file_is_no_credential(
    no_credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dot_kaggle = no_credentials / ".kaggle"
    dot_kaggle.mkdir()
    (dot_kaggle / "access_token").write_text("\n")
    (dot_kaggle / "kaggle.json").write_text(json.dumps({"username": "someone"}))
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    assert find_kaggle_credentials() is None


def test_credentials_kaggle_refuses_are_one_line_naming_where_they_are_not_what(
    token: str, tmp_path: Path, cache_dir: Path
) -> None:
    class Refusing(FakeKaggle):
        def authenticate(self) -> None:
            print("Authentication required to call the Kaggle API.\n... several lines ...")
            raise SystemExit(1)  # what KaggleApi.authenticate does

    out = tmp_path / "anime"
    with pytest.raises(GanimeError) as raised:
        download(out, Refusing(), cache_dir)
    assert str(raised.value) == (
        "Kaggle did not accept the credentials in $KAGGLE_API_TOKEN; create a new API token at "
        "https://www.kaggle.com/settings/api"
    )
    assert not out.exists() and leftovers(tmp_path, out) == []


def test_a_download_error_is_one_line_without_the_secret(
    token: str, tmp_path: Path, cache_dir: Path
) -> None:
    class Failing(FakeKaggle):
        def dataset_download_files(self, dataset, path=None, force=False, quiet=True) -> None:
            raise ConnectionError(f"connection reset\nwhile sending Bearer {token}")

    with pytest.raises(GanimeError) as raised:
        download(tmp_path / "anime", Failing(), cache_dir)
    message = str(raised.value)
    assert token not in message and "\n" not in message
    assert "ConnectionError: connection reset" in message and "run the command again" in message

    class Forbidden(Exception):
        response = type("Response", (), {"status_code": 403})()

    class Refused(FakeKaggle):
        def dataset_download_files(self, dataset, path=None, force=False, quiet=True) -> None:
            raise Forbidden("403 Client Error")

    with pytest.raises(GanimeError, match=r"Kaggle refused .* \(HTTP 403\); open https://"):
        download(tmp_path / "anime", Refused(), cache_dir)


def test_redact_hides_token_file_and_legacy_key_values(
    no_credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_token, legacy_key = secrets.token_hex(16), secrets.token_hex(16)
    (no_credentials / ".kaggle").mkdir()
    (no_credentials / ".kaggle" / "access_token").write_text(file_token)
    (no_credentials / ".kaggle" / "kaggle.json").write_text(json.dumps({"key": legacy_key}))
    assert redact(f"a {file_token} b {legacy_key}") == "a *** b ***"


# --- unpacking and verifying ----------------------------------------------------------------


@pytest.mark.parametrize("credentials", ["env", "token file"])
def test_a_kaggle_zip_is_unpacked_into_the_paired_layout_and_verified(
    credentials: str,
    no_credentials: Path,
    tmp_path: Path,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    tiny_expected_counts: None,
    smoke_config,
) -> None:
    if credentials == "env":
        monkeypatch.setenv("KAGGLE_API_TOKEN", secrets.token_hex(16))
    else:
        (no_credentials / ".kaggle").mkdir()
        (no_credentials / ".kaggle" / "access_token").write_text(secrets.token_hex(16))
    client, out = FakeKaggle(), tmp_path / "anime"

    result = download(out, client, cache_dir)

    assert client.calls == [("authenticate",), ("download", DEFAULT_DATASET, True)]
    assert result.already_complete is False
    assert result.installed.counts == COUNTS
    assert result.installed.scan == {
        "train": f"train: {TRAIN} images (skipped 1: 1 corrupt [broken.png])",
        "val": f"val: {VAL} images",
    }
    # The shallowest train/ and val/, byte for byte; nothing of data/data/.
    with zipfile.ZipFile(io.BytesIO(client.archive_bytes)) as zf:
        for split in ("train", "val"):
            names = sorted(p.name for p in (out / split).iterdir())
            assert names == sorted(
                Path(n).name for n in zf.namelist() if n.startswith(f"data/{split}/")
            )
            for name in names:
                assert (out / split / name).read_bytes() == zf.read(f"data/{split}/{name}")
    assert sorted(p.name for p in out.iterdir()) == [archive.MARKER, "train", "val"]
    assert leftovers(tmp_path, out) == []  # no staging folder, and the archive is gone
    # The folder is what data.path expects.
    config = smoke_config(f"data.path={out}", "data.layout=paired")
    assert config.data.path == out


def test_an_empty_folder_is_filled_and_an_interrupted_attempts_staging_is_removed(
    token: str, tmp_path: Path, cache_dir: Path, tiny_expected_counts: None
) -> None:
    out = tmp_path / "anime"
    out.mkdir()
    stale = tmp_path / ".anime.unpack-abc123"
    (stale / "train").mkdir(parents=True)
    assert download(out, FakeKaggle(), cache_dir).installed.counts == COUNTS
    assert not stale.exists() and leftovers(tmp_path, out) == []


def test_a_rerun_after_a_scan_that_never_finished_scans_without_kaggle(
    token: str, tmp_path: Path, cache_dir: Path, tiny_expected_counts: None
) -> None:
    out = tmp_path / "anime"
    first = download(out, FakeKaggle(), cache_dir).installed
    marker = out / archive.MARKER
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "scan": None}))
    again = download(out, never_called, cache_dir)
    assert again.already_complete and again.installed.scan == first.scan
    assert json.loads(marker.read_text())["scan"] == first.scan


def test_progress_is_asked_of_the_package(
    token: str, tmp_path: Path, cache_dir: Path, tiny_expected_counts: None
) -> None:
    client = FakeKaggle()
    download_dataset(
        tmp_path / "anime",
        client_factory=lambda: client,
        image_size=32,
        cache_dir=cache_dir,
        progress=True,
    )
    assert ("download", DEFAULT_DATASET, False) in client.calls  # quiet=False: its bar shows


def test_a_rerun_on_a_complete_folder_does_nothing_and_never_contacts_kaggle(
    token: str,
    tmp_path: Path,
    cache_dir: Path,
    tiny_expected_counts: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
) -> None:
    out = tmp_path / "anime"
    first = download(out, FakeKaggle(), cache_dir)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}

    again = download(out, never_called, cache_dir)
    assert again.already_complete is True
    assert again.installed == first.installed

    # The command, without credentials at all: it never needs them here.
    monkeypatch.delenv("KAGGLE_API_TOKEN")
    assert main(["data", "download", "--out", str(out), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "already holds a complete download" in captured.err and "nothing to do" in captured.err
    assert json.loads(captured.out)["already_complete"] is True
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_a_complete_folder_that_lost_files_is_not_taken_for_complete(
    token: str, tmp_path: Path, cache_dir: Path, tiny_expected_counts: None
) -> None:
    out = tmp_path / "anime"
    download(out, FakeKaggle(), cache_dir)
    (out / "val" / "100.png").unlink()
    with pytest.raises(GanimeError, match=r"changed since .* remove it and download again"):
        download(out, never_called, cache_dir)


def damaged_archives() -> dict[str, bytes]:
    whole = kaggle_zip()
    last_val = pair_png(100 + VAL - 1)
    at = whole.find(last_val) + len(last_val) // 2  # inside the last file unpacked
    corrupt_member = whole[:at] + bytes([whole[at] ^ 0xFF]) + whole[at + 1 :]
    return {"cut short": whole[: len(whole) // 2], "a corrupt member": corrupt_member}


@pytest.mark.parametrize("damage", ["cut short", "a corrupt member"])
def test_a_damaged_archive_is_an_error_and_leaves_no_half_folder(
    damage: str, token: str, tmp_path: Path, cache_dir: Path, tiny_expected_counts: None
) -> None:
    out = tmp_path / "anime"
    with pytest.raises(GanimeError) as raised:
        download(out, FakeKaggle(damaged_archives()[damage]), cache_dir)
    assert "is damaged or cut short" in str(raised.value)
    assert "run the command again to download it afresh" in str(raised.value)
    assert not out.exists()
    assert leftovers(tmp_path, out) == []  # nor the damaged archive: the next run starts afresh

    assert download(out, FakeKaggle(), cache_dir).installed.counts == COUNTS


def test_counts_other_than_the_known_ones_are_refused_unless_allowed(
    token: str, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(kaggle.EXPECTED_COUNTS, DEFAULT_DATASET, {"train": 14224, "val": 3545})
    out = tmp_path / "anime"
    with pytest.raises(GanimeError) as raised:
        download(out, FakeKaggle(), cache_dir)
    assert str(raised.value) == (
        f"{DEFAULT_DATASET} should hold 14224 train / 3545 val pairs but the archive holds "
        f"{TRAIN + 1} train / {VAL} val; pass --allow-other-counts to install it anyway"
    )
    assert not out.exists()
    assert leftovers(tmp_path, out) == [f".{out.name}.download"]  # whole: kept for a rerun

    result = download(out, FakeKaggle(), cache_dir, allow_other_counts=True)
    assert result.installed.counts == COUNTS


def test_an_archive_without_the_split_folders_is_named_as_such(
    token: str, tmp_path: Path, cache_dir: Path
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("images/0.png", pair_png(0))
    out = tmp_path / "anime"
    with pytest.raises(GanimeError, match=r"holds no train/ and val/ folders .* images"):
        download(out, FakeKaggle(buffer.getvalue()), cache_dir)
    assert not out.exists() and leftovers(tmp_path, out) == []


def test_a_folder_holding_other_files_is_refused_before_kaggle_is_contacted(
    token: str, tmp_path: Path, cache_dir: Path
) -> None:
    out = tmp_path / "anime"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(GanimeError, match="exists and is not an empty folder"):
        download(out, never_called, cache_dir)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


# --- the kaggle package itself, against a stand-in on 127.0.0.1 ------------------------------


class KaggleStandIn(BaseHTTPRequestHandler):
    """Kaggle's two API calls a download makes, answered as a forward HTTP proxy sees them (the
    package's --local endpoint is http://localhost/api/v1/...); records each call's path and
    Authorization header."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        path = urlsplit(self.path).path
        self.server.calls.append((path, self.headers.get("Authorization")))
        if path.endswith("/security.OAuthService/IntrospectToken"):
            body, kind = json.dumps({"active": True, "username": "someone"}).encode(), "json"
        elif path.endswith("/datasets.DatasetApiService/DownloadDataset"):
            body, kind = self.server.archive_bytes, "zip"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", f"application/{kind}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def kaggle_stand_in(no_credentials: Path, monkeypatch: pytest.MonkeyPatch):
    """The kaggle package imported (without credentials, so its import-time authenticate
    contacts nothing) and pointed at the stand-in, with $VERBOSE's header printing on."""
    with contextlib.redirect_stdout(io.StringIO()):
        from kaggle.api.kaggle_api_extended import KaggleApi
    server = ThreadingHTTPServer(("127.0.0.1", 0), KaggleStandIn)
    server.calls, server.archive_bytes = [], kaggle_zip()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy = f"http://127.0.0.1:{server.server_port}"
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, proxy)  # any request, even a stray https one, reaches it
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(KaggleApi, "args", ["--local", "--verbose"])
    yield server
    server.shutdown()
    server.server_close()


def test_the_kaggle_package_authenticates_and_downloads_through_the_seam(
    kaggle_stand_in,
    tmp_path: Path,
    cache_dir: Path,
    tiny_expected_counts: None,
    monkeypatch: pytest.MonkeyPatch,
    capfd,
) -> None:
    token = secrets.token_hex(16)
    monkeypatch.setenv("KAGGLE_API_TOKEN", token)  # after the import: see kaggle_stand_in

    result = download_dataset(tmp_path / "anime", image_size=32, cache_dir=cache_dir)

    assert result.installed.counts == COUNTS
    assert kaggle_stand_in.calls == [
        ("/api/v1/security.OAuthService/IntrospectToken", f"Bearer {token}"),
        ("/api/v1/datasets.DatasetApiService/DownloadDataset", f"Bearer {token}"),
    ]
    said = capfd.readouterr()
    assert "unpacking" in said.err  # progress bars on stderr; stdout left to the JSON result
    assert token not in said.out + said.err  # $VERBOSE would have printed the header


# --- credentials never leave the environment -----------------------------------------------


def files_holding(values: list[str], root: Path) -> dict[str, list[str]]:
    """For each value, the files under `root` whose bytes contain it."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            for value in values:
                if value.encode() in data:
                    found.setdefault(value, []).append(str(path.relative_to(root)))
    return found


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Distinctive random KAGGLE_USERNAME, KAGGLE_KEY and KAGGLE_API_TOKEN values, set."""
    values = {name: f"ganimeleak{secrets.token_hex(12)}" for name in KAGGLE_ENV[:3]}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return list(values.values())


def test_the_leak_search_finds_a_value_in_an_mlflow_store_and_its_artifacts(
    tmp_path: Path, fake_credentials: list[str]
) -> None:
    """The control for the search below: a value MLflow did record is found."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'control.db'}")
    experiment = client.create_experiment("control", str(tmp_path / "artifacts"))
    run_id = client.create_run(experiment).info.run_id
    client.log_param(run_id, "oops", fake_credentials[0])
    client.log_text(run_id, fake_credentials[1], "oops.txt")
    found = files_holding(fake_credentials, tmp_path)
    assert any(path.startswith("control.db") for path in found[fake_credentials[0]])
    assert found[fake_credentials[1]] == [f"artifacts/{run_id}/artifacts/oops.txt"]


@pytest.mark.slow
def test_a_tracked_run_stores_no_credential_from_its_environment(
    smoke_config, tmp_path: Path, fake_credentials: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local training run, tracked in MLflow with its system metrics and logged model, with
    Kaggle credentials in its environment: no store file, artifact or run-folder file holds
    them, nor any param or tag."""
    from mlflow.tracking import MlflowClient

    from orchestration.tracking.runs import tracking_uri
    from orchestration.training.local import train_locally

    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root is relative to the cwd
    config = smoke_config("train.epochs=1", "data.synthetic.count=40")
    summary = train_locally(config, progress=False)

    client = MlflowClient(tracking_uri())
    run = client.get_run(summary["mlflow_run_id"])
    artifacts = Path(run.info.artifact_uri.removeprefix("file://"))
    assert artifacts.is_relative_to(tmp_path)
    assert any(tmp_path.rglob("MLmodel"))  # the logged model (MLflow 3 keeps it beside the run)
    assert config.run_dir.resolve().is_relative_to(tmp_path)
    # Everything the run wrote: the SQLite store (and its journal), artifacts, run folder.
    assert files_holding(fake_credentials, tmp_path) == {}
    recorded = json.dumps(
        [run.data.params, run.data.tags, client.get_experiment(run.info.experiment_id).tags]
    )
    assert not [value for value in fake_credentials if value in recorded]


def test_ray_train_forwards_no_credential_to_its_controller_or_workers(
    smoke_config, tmp_path: Path, fake_credentials: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a Ray Train run ships: the trainer (its loop config, run config), and the
    runtime_env Ray Train gives the controller and each worker (it propagates only its own
    RAY_TRAIN_* settings)."""
    import ray.cloudpickle

    from orchestration.training.ray_train import WORKER_START_TIMEOUT_ENV, Scaling, make_trainer
    from tests.support.ray_internals import train_controller_env, train_worker_runtime_env

    monkeypatch.setenv(WORKER_START_TIMEOUT_ENV, "300")  # make_trainer sets it; restored after
    trainer = make_trainer(
        smoke_config(),
        Scaling(),
        storage=str(tmp_path / "ray"),
        name="leak",
        tracking_uri="sqlite:///x.db",
        run_id="0" * 32,
    )
    shipped = {
        "trainer": ray.cloudpickle.dumps(trainer),
        "train_loop_config": ray.cloudpickle.dumps(trainer.train_loop_config),
        "controller runtime_env": json.dumps(train_controller_env()).encode(),
        "worker runtime_env": json.dumps(
            train_worker_runtime_env(trainer.run_config.worker_runtime_env)
        ).encode(),
    }
    assert b"300" in shipped["worker runtime_env"]  # the check sees what Ray does forward
    leaks = {
        what: value
        for what, data in shipped.items()
        for value in fake_credentials
        if value.encode() in data
    }
    assert leaks == {}
