"""Fetching the pretrained assets: from a stand-in origin on 127.0.0.1, hash-checked, locked,
atomic; installing copied files; the automatic fetch at run time and its one-line error.

Keras files: the table's md5s are monkeypatched to stand-ins' (pin_stand_in) and the server is
reached as a mirror. The hub model keeps its public handle (its cache key) and comes from the
server as a mirror, or, for hub's own resolver, from a handle pointed at the server.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.util
import re
import shutil
import threading
from pathlib import Path

import pytest

from ganime_core import assets
from ganime_core.assets import (
    FAST_NST,
    INCEPTION_V3,
    VGG19,
    AssetError,
    ensure_asset,
    fetch_asset,
    hub_module_dir,
    inspect_asset,
    mirror_url,
)
from ganime_core.config import AssetsConfig, MetricsConfig, parse_config
from ganime_core.errors import ConfigError, MetricsError
from ganime_core.pretrained import inception_standin, inception_weights
from tests.support.asset_server import (
    AssetServer,
    Caches,
    closed_port_url,
    fake_saved_model,
    pin_stand_in,
    stand_in_bytes,
    stylization_saved_model,
    tar_gz,
)

pytest_plugins = ["tests.support.asset_server"]  # its fixtures: asset_caches, asset_server

HUB_ARCHIVE = f"/{FAST_NST.archive_name}.tar.gz"


def leftovers(folder: Path) -> list[str]:
    """What a failed fetch left in a cache folder, lock files aside (they stay, empty)."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith("lock"))


def serve_keras_stand_in(server: AssetServer, monkeypatch, name: str = "inception_v3") -> bytes:
    content = stand_in_bytes(name)
    asset = pin_stand_in(monkeypatch, name, content)
    server.serve(f"/{asset.file_name}", content)
    return content


# --- the table ------------------------------------------------------------------------------------


def keras_application_source(module: str) -> ast.Module:
    """The installed Keras' source of keras/src/applications/<module>.py, parsed, not imported."""
    spec = importlib.util.find_spec("keras")
    path = Path(spec.origin).parent / "src" / "applications" / f"{module}.py"
    return ast.parse(path.read_text())


def string_constants(tree: ast.Module) -> dict[str, str]:
    return {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
    }


def get_file_hashes(tree: ast.Module) -> dict[str, str]:
    """file name -> file_hash of every get_file(name, ..., file_hash=...) call."""
    hashes = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            for keyword in node.keywords:
                if keyword.arg == "file_hash" and isinstance(keyword.value, ast.Constant):
                    hashes[node.args[0].value] = keyword.value.value
    return hashes


@pytest.mark.parametrize(
    ("asset", "module", "origin_constant"),
    [(INCEPTION_V3, "inception_v3", "WEIGHTS_PATH_NO_TOP"), (VGG19, "vgg19", "WEIGHTS_PATH")],
    ids=["inception_v3", "vgg19"],
)
def test_pinned_origins_and_hashes_are_the_installed_keras_ones(
    asset, module, origin_constant
) -> None:
    """A Keras upgrade that moves or changes the files fails here, not on a cluster."""
    tree = keras_application_source(module)
    assert string_constants(tree)[origin_constant] == asset.origin
    assert asset.origin.endswith(f"/{asset.file_name}")
    assert get_file_hashes(tree)[asset.file_name] == asset.md5


def test_the_hub_cache_folder_is_the_one_tf_hub_resolves_the_handle_to(asset_caches) -> None:
    from tensorflow_hub import compressed_module_resolver

    assert str(hub_module_dir(FAST_NST)) == compressed_module_resolver._module_dir(FAST_NST.handle)
    assert hub_module_dir(FAST_NST).parent == asset_caches.hub


def test_the_mirror_comes_from_the_flag_then_the_environment_then_the_config(
    asset_caches, monkeypatch
) -> None:
    configured = AssetsConfig(mirror="https://bucket.s3.amazonaws.com/assets")
    assert mirror_url(None, None) is None
    assert mirror_url(None, configured) == configured.mirror
    monkeypatch.setenv(assets.MIRROR_ENV, "http://node-mirror:8080/")
    assert mirror_url(None, configured) == "http://node-mirror:8080/"
    assert mirror_url("https://flag.example/x", configured) == "https://flag.example/x"
    monkeypatch.setenv(assets.MIRROR_ENV, "s3://bucket/assets")
    with pytest.raises(AssetError, match=r"\$GANIME_ASSETS_MIRROR: 's3://bucket/assets' is not"):
        mirror_url(None, configured)
    assert VGG19.mirrored("http://m/a/") == f"http://m/a/{VGG19.file_name}"
    assert FAST_NST.mirrored("http://m") == "http://m/arbitrary-image-stylization-v1-256_2.tar.gz"


@pytest.mark.parametrize(
    ("mirror", "message"),
    [
        ("s3://bucket/x", "not an http(s) URL"),
        ("file:///srv/assets", "not an http(s) URL"),
        ("https://user:secret@host/x", "must not hold credentials"),
    ],
)
def test_the_config_takes_only_http_mirrors_without_credentials(mirror, message) -> None:
    raw = {"name": "t", "model": {"family": "pix2pix"}, "assets": {"mirror": mirror}}
    with pytest.raises(ConfigError, match=rf"assets\.mirror: .*{re.escape(message)}"):
        parse_config(raw)


def test_the_assets_section_does_not_change_the_fingerprint() -> None:
    base = {"name": "t", "model": {"family": "pix2pix"}}
    changed = {**base, "assets": {"mirror": "https://m.example", "auto_fetch": False}}
    assert parse_config(base).fingerprint() == parse_config(changed).fingerprint()


# --- Keras files ----------------------------------------------------------------------------------


def test_fetch_downloads_verifies_and_then_finds_the_file_in_keras_cache(
    asset_caches: Caches, asset_server: AssetServer, monkeypatch
) -> None:
    content = serve_keras_stand_in(asset_server, monkeypatch)
    fetched = fetch_asset("inception_v3", mirror=asset_server.url)
    target = asset_caches.keras_models / INCEPTION_V3.file_name
    assert fetched.path == target and fetched.action == "downloaded"
    assert fetched.source == f"{asset_server.url}/{INCEPTION_V3.file_name}"
    assert target.read_bytes() == content
    assert leftovers(asset_caches.keras_models) == [INCEPTION_V3.file_name]

    again = fetch_asset("inception_v3", mirror=asset_server.url)
    assert again.action == "present" and again.path == target
    assert asset_server.requests[f"/{INCEPTION_V3.file_name}"] == 1
    status = inspect_asset("inception_v3")
    assert status.state == "ok" and status.size == len(content)
    assert status.digest == f"md5:{hashlib.md5(content).hexdigest()}"


def test_a_download_with_the_wrong_hash_is_an_error_and_keeps_nothing(
    asset_caches: Caches, asset_server: AssetServer, monkeypatch
) -> None:
    pin_stand_in(monkeypatch, "vgg19", stand_in_bytes("the real vgg19"))
    asset_server.serve(f"/{VGG19.file_name}", stand_in_bytes("something else"))
    with pytest.raises(AssetError, match="does not match the pinned md5:.*nothing was kept"):
        fetch_asset("vgg19", mirror=asset_server.url)
    assert leftovers(asset_caches.keras_models) == []
    assert inspect_asset("vgg19").state == "missing"


def test_a_download_cut_off_half_way_is_an_error_and_keeps_nothing(
    asset_caches: Caches, asset_server: AssetServer, monkeypatch
) -> None:
    serve_keras_stand_in(asset_server, monkeypatch)
    asset_server.cut_off.add(f"/{INCEPTION_V3.file_name}")
    with pytest.raises(AssetError) as error:
        fetch_asset("inception_v3", mirror=asset_server.url)
    assert "\n" not in str(error.value)
    assert leftovers(asset_caches.keras_models) == []


def test_a_corrupt_cached_file_is_replaced_by_the_next_fetch(
    asset_caches: Caches, asset_server: AssetServer, monkeypatch
) -> None:
    content = serve_keras_stand_in(asset_server, monkeypatch)
    target = asset_caches.keras_models / INCEPTION_V3.file_name
    target.parent.mkdir(parents=True)
    target.write_bytes(content[:100])  # what Keras' own get_file leaves after a bad download
    assert inspect_asset("inception_v3").state == "corrupt"
    assert fetch_asset("inception_v3", mirror=asset_server.url).action == "downloaded"
    assert target.read_bytes() == content


def test_from_dir_installs_a_copied_file_only_if_its_hash_is_pinned(
    asset_caches: Caches, tmp_path: Path, monkeypatch
) -> None:
    content = stand_in_bytes("vgg19")
    pin_stand_in(monkeypatch, "vgg19", content)
    copied = tmp_path / "usb"
    copied.mkdir()
    with pytest.raises(AssetError, match=f"--from {copied}: no {VGG19.file_name} there"):
        fetch_asset("vgg19", from_dir=copied)
    (copied / VGG19.file_name).write_bytes(content[:-1] + b"!")
    with pytest.raises(AssetError, match="not the pinned md5:.*nothing was installed"):
        fetch_asset("vgg19", from_dir=copied)
    assert leftovers(asset_caches.keras_models) == []

    (copied / VGG19.file_name).write_bytes(content)
    fetched = fetch_asset("vgg19", from_dir=copied)
    assert fetched.action == "installed" and fetched.source == str(copied / VGG19.file_name)
    assert (asset_caches.keras_models / VGG19.file_name).read_bytes() == content


def test_threads_fetching_at_once_download_once(
    asset_caches: Caches, asset_server: AssetServer, monkeypatch
) -> None:
    """The file lock: the others wait, then find the file the first one put there."""
    content = serve_keras_stand_in(asset_server, monkeypatch)
    asset_server.delay = 0.5  # every fetch starts while the first download is under way
    results, errors = [], []

    def fetch() -> None:
        try:
            results.append(fetch_asset("inception_v3", mirror=asset_server.url))
        except Exception as exc:  # reported below, not lost in a thread
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert asset_server.requests[f"/{INCEPTION_V3.file_name}"] == 1
    assert sorted(r.action for r in results) == ["downloaded", "present", "present"]
    assert (asset_caches.keras_models / INCEPTION_V3.file_name).read_bytes() == content


# --- the automatic fetch at run time --------------------------------------------------------------


def test_the_driver_counts_on_the_fetch_the_workers_will_make(asset_caches, monkeypatch) -> None:
    """inception_standin (no TensorFlow) agrees with what load_backbone will load."""
    needs_weights = MetricsConfig(backbone_size=75)
    assert not inception_standin(needs_weights)  # auto_fetch is on by default
    assert not inception_standin(needs_weights, AssetsConfig())
    allowed = needs_weights.model_copy(update={"allow_untrained_backbone": True})
    assert inception_standin(allowed, AssetsConfig())
    with pytest.raises(MetricsError) as error:
        inception_standin(needs_weights, AssetsConfig(auto_fetch=False))
    message = str(error.value)
    assert "\n" not in message
    for part in (
        "no InceptionV3 ImageNet weights",
        INCEPTION_V3.file_name,
        str(asset_caches.keras_models),
        "assets.auto_fetch is off",
        "`ganime assets fetch inception_v3`",
        "--from DIR",
        assets.MIRROR_ENV,
        "allow_untrained_backbone",
    ):
        assert part in message


def test_a_run_fetches_missing_weights_from_the_mirror(
    asset_caches: Caches, asset_server: AssetServer, monkeypatch
) -> None:
    content = serve_keras_stand_in(asset_server, monkeypatch)
    settings = MetricsConfig(backbone_size=75)
    path = inception_weights(settings, AssetsConfig(mirror=asset_server.url))
    assert path == asset_caches.keras_models / INCEPTION_V3.file_name
    assert path.read_bytes() == content
    # The environment's mirror serves a run whose config names none.
    monkeypatch.setenv(assets.MIRROR_ENV, asset_server.url)
    assert ensure_asset("inception_v3") == path
    assert asset_server.requests[f"/{INCEPTION_V3.file_name}"] == 1


def test_with_the_mirror_down_a_run_stops_with_one_line_naming_the_fix(
    asset_caches: Caches, monkeypatch
) -> None:
    """load_backbone with allow_untrained_backbone false fails before building any model."""
    from ganime_core.metrics import load_backbone

    down = closed_port_url()
    with pytest.raises(MetricsError) as error:
        load_backbone(MetricsConfig(backbone_size=75), AssetsConfig(mirror=down))
    message = str(error.value)
    assert "\n" not in message
    for part in (
        INCEPTION_V3.file_name,
        f"is not in {asset_caches.keras_models}",
        f"fetching it from {down}/{INCEPTION_V3.file_name} failed",
        "`ganime assets fetch inception_v3`",
        "`ganime assets fetch inception_v3 --from DIR`",
        assets.MIRROR_ENV,
    ):
        assert part in message
    assert leftovers(asset_caches.keras_models) == []


def test_without_auto_fetch_a_run_names_the_command_and_downloads_nothing(
    asset_caches: Caches, asset_server: AssetServer, monkeypatch
) -> None:
    serve_keras_stand_in(asset_server, monkeypatch, "vgg19")
    off = AssetsConfig(mirror=asset_server.url, auto_fetch=False)
    with pytest.raises(AssetError, match="assets.auto_fetch is off; run `ganime assets fetch"):
        assets.ensure_asset(assets.VGG19.name, off)
    assert asset_server.requests == {}
    assert assets.ensure_asset(assets.VGG19.name, AssetsConfig(mirror=asset_server.url)).is_file()


def test_the_untrained_stand_in_never_touches_the_network(
    asset_caches: Caches, asset_server: AssetServer, monkeypatch
) -> None:
    serve_keras_stand_in(asset_server, monkeypatch)
    allowed = MetricsConfig(backbone_size=75, allow_untrained_backbone=True)
    assert inception_standin(allowed, AssetsConfig(mirror=asset_server.url))
    assert asset_server.requests == {}


@pytest.mark.slow
def test_load_backbone_fetches_the_weights_it_was_missing(
    asset_caches: Caches, asset_server: AssetServer, monkeypatch, tmp_path: Path
) -> None:
    """The whole path at run time: a real (seeded, untrained) InceptionV3 no-top weights file in
    Keras' legacy .h5 format stands in for the ImageNet one, served by the mirror."""
    import h5py
    import numpy as np

    # Keras' private writer of the legacy format its ImageNet downloads come in.
    from keras.src.legacy.saving import legacy_h5_format

    from ganime_core.metrics import load_backbone
    from ganime_core.metrics.backbone import untrained_inception_v3

    source = tmp_path / "served.h5"
    with h5py.File(source, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, untrained_inception_v3(75, seed=3))
    weights = source.read_bytes()
    pin_stand_in(monkeypatch, "inception_v3", weights)
    asset_server.serve(f"/{INCEPTION_V3.file_name}", weights)

    backbone = load_backbone(MetricsConfig(backbone_size=75), AssetsConfig(mirror=asset_server.url))
    assert backbone.pretrained
    assert backbone.name == "inception_v3/imagenet@75px"
    images = np.random.default_rng(0).integers(0, 256, (2, 75, 75, 3), dtype=np.uint8)
    assert backbone.features(images).shape == (2, 2048)
    assert (asset_caches.keras_models / INCEPTION_V3.file_name).is_file()


# --- the TF Hub model -----------------------------------------------------------------------------


def test_the_hub_model_comes_from_the_mirror_into_tf_hubs_cache_and_is_recorded(
    asset_caches: Caches, asset_server: AssetServer, tmp_path: Path
) -> None:
    model = fake_saved_model(tmp_path / "model")
    asset_server.serve(HUB_ARCHIVE, tar_gz(model))
    fetched = fetch_asset("fast_nst", mirror=asset_server.url)
    module_dir = hub_module_dir(FAST_NST)
    assert fetched.path == module_dir and fetched.action == "downloaded"
    assert (module_dir / "variables" / "variables.index").read_bytes() == (
        model / "variables" / "variables.index"
    ).read_bytes()
    status = inspect_asset("fast_nst")
    assert status.state == "ok" and status.digest == f"sha256:{assets.tree_digest(model)}"
    assert assets.digest_record(FAST_NST).read_text().strip() == status.digest

    assert fetch_asset("fast_nst", mirror=asset_server.url).action == "present"
    assert assets.ensure_asset(assets.FAST_NST.name) == module_dir
    assert asset_server.requests[HUB_ARCHIVE] == 1


def test_hubs_own_resolver_fetches_the_handle_in_its_compressed_format(
    asset_caches: Caches, asset_server: AssetServer, tmp_path: Path, monkeypatch
) -> None:
    """No mirror: the handle itself, as hub.load would ask for it (the handle points at the
    stand-in server, as tfhub.dev cannot be reached)."""
    handle_path = "/google/magenta/arbitrary-image-stylization-v1-256/2"
    local = dataclasses.replace(FAST_NST, handle=f"{asset_server.url}{handle_path}")
    monkeypatch.setitem(assets.ASSETS, "fast_nst", local)
    asset_server.serve(handle_path, tar_gz(fake_saved_model(tmp_path / "model")))
    fetched = fetch_asset("fast_nst")
    assert fetched.action == "downloaded" and fetched.source == local.handle
    assert asset_server.queries == ["tf-hub-format=compressed"]
    assert (hub_module_dir(local) / "saved_model.pb").is_file()


def test_a_hub_archive_cut_off_half_way_leaves_nothing_in_tf_hubs_cache(
    asset_caches: Caches, asset_server: AssetServer, tmp_path: Path
) -> None:
    asset_server.serve(HUB_ARCHIVE, tar_gz(fake_saved_model(tmp_path / "model")))
    asset_server.cut_off.add(HUB_ARCHIVE)
    with pytest.raises(AssetError) as error:
        fetch_asset("fast_nst", mirror=asset_server.url)
    assert "\n" not in str(error.value)
    assert leftovers(asset_caches.hub) == []  # no module folder, no hub temp folder, no record


def test_an_archive_without_a_saved_model_is_refused(
    asset_caches: Caches, asset_server: AssetServer, tmp_path: Path
) -> None:
    nested = tmp_path / "nested"
    fake_saved_model(nested / "model")  # one folder too deep
    asset_server.serve(HUB_ARCHIVE, tar_gz(nested))
    with pytest.raises(AssetError, match="no saved_model.pb at the archive's top level"):
        fetch_asset("fast_nst", mirror=asset_server.url)
    assert leftovers(asset_caches.hub) == []  # refused in hub's temporary folder, before renaming


def test_a_changed_hub_model_is_caught_and_fetched_again(
    asset_caches: Caches, asset_server: AssetServer, tmp_path: Path
) -> None:
    model = fake_saved_model(tmp_path / "model")
    asset_server.serve(HUB_ARCHIVE, tar_gz(model))
    settings = AssetsConfig(mirror=asset_server.url)
    module_dir = assets.ensure_asset(assets.FAST_NST.name, settings)
    (module_dir / "saved_model.pb").write_bytes(b"damaged")
    assert inspect_asset("fast_nst").state == "corrupt"
    off = AssetsConfig(mirror=asset_server.url, auto_fetch=False)
    with pytest.raises(AssetError, match="does not match its sha256:"):
        assets.ensure_asset(assets.FAST_NST.name, off)
    # fetched again, verified
    assert assets.ensure_asset(assets.FAST_NST.name, settings) == module_dir
    assert inspect_asset("fast_nst").state == "ok"
    assert asset_server.requests[HUB_ARCHIVE] == 2

    # The mirror now serves other files under the same handle: refused, not silently accepted.
    (module_dir / "saved_model.pb").write_bytes(b"damaged")
    other = fake_saved_model(tmp_path / "other")
    (other / "saved_model.pb").write_bytes(b"another model")
    asset_server.serve(HUB_ARCHIVE, tar_gz(other))
    with pytest.raises(AssetError, match="differ from those first fetched"):
        assets.ensure_asset(assets.FAST_NST.name, settings)
    assert not module_dir.exists()


def test_from_dir_installs_the_hub_model_from_an_archive_or_a_folder(
    asset_caches: Caches, tmp_path: Path
) -> None:
    model = fake_saved_model(tmp_path / "model")
    copied = tmp_path / "usb"
    copied.mkdir()
    with pytest.raises(AssetError, match="neither arbitrary-image-stylization-v1-256_2.tar.gz"):
        fetch_asset("fast_nst", from_dir=copied)
    (copied / f"{FAST_NST.archive_name}.tar.gz").write_bytes(tar_gz(model))
    fetched = fetch_asset("fast_nst", from_dir=copied)
    assert fetched.action == "installed" and inspect_asset("fast_nst").state == "ok"

    shutil.rmtree(asset_caches.hub)
    (copied / f"{FAST_NST.archive_name}.tar.gz").unlink()
    shutil.copytree(model, copied / FAST_NST.archive_name)
    fetched = fetch_asset("fast_nst", from_dir=copied)
    assert fetched.source == str(copied / FAST_NST.archive_name)
    assert inspect_asset("fast_nst").digest == f"sha256:{assets.tree_digest(model)}"


def test_a_stylization_model_served_as_tar_gz_resolves_through_tf_hubs_cache(
    asset_caches: Caches, asset_server: AssetServer, tmp_path: Path
) -> None:
    """After the fetch, hub.load(<public handle>) finds the model in TF Hub's cache: the handle
    points at tfhub.dev, which this machine cannot reach, so nothing else could answer."""
    import numpy as np
    import tensorflow as tf
    import tensorflow_hub as hub

    model = stylization_saved_model(tmp_path / "model")
    asset_server.serve(HUB_ARCHIVE, tar_gz(model))
    module_dir = assets.ensure_asset(assets.FAST_NST.name, AssetsConfig(mirror=asset_server.url))
    assert hub.resolve(FAST_NST.handle) == str(module_dir)

    stylize = hub.load(FAST_NST.handle)
    content = tf.constant(np.full((1, 40, 48, 3), 0.2, np.float32))
    style = tf.constant(np.full((1, 256, 256, 3), 0.6, np.float32))
    outputs = stylize(content, style)
    stylized = outputs[0].numpy()
    assert stylized.shape == (1, 40, 48, 3)
    np.testing.assert_allclose(stylized, 0.4, atol=1e-4)  # half-way to the style's colour
