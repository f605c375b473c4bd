"""The `ganime` command: describe, data synth, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.cli import main
from tests.support.paths import EXPERIMENTS, REPO
from tests.support.processes import ganime_command


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_describe_reports_the_paper_sized_networks(capsys) -> None:
    code, out, _ = run_main(capsys, "describe", str(EXPERIMENTS / "pix2pix_tv.yaml"))
    assert code == 0
    described = json.loads(out)
    generator, discriminator = (
        described["networks"]["generator"],
        described["networks"]["discriminator"],
    )
    assert generator["parameters"] == 54_425_859
    assert generator["output_shapes"] == [[None, 256, 256, 3]]
    assert discriminator["parameters"] == 2_770_433
    assert discriminator["input_shapes"] == [[None, 256, 256, 3], [None, 256, 256, 3]]
    assert discriminator["output_shapes"] == [[None, 30, 30, 1]]
    assert described["total_parameters"] == 54_425_859 + 2_770_433
    assert generator["float32_megabytes"] == pytest.approx(54_425_859 * 4 / 2**20, abs=0.01)


def test_describe_follows_overrides_and_family(capsys) -> None:
    code, out, _ = run_main(
        capsys, "describe", str(EXPERIMENTS / "cyclegan.yaml"), "--set", "data.image_size=64"
    )
    networks = json.loads(out)["networks"]
    assert set(networks) == {"generator", "generator_f", "discriminator_x", "discriminator_y"}
    assert networks["generator_f"]["output_shapes"] == [[None, 64, 64, 3]]
    assert networks["discriminator_y"]["input_shapes"] == [[None, 64, 64, 3]]
    assert networks["discriminator_y"]["output_shapes"] == [[None, 6, 6, 1]]


@pytest.mark.slow  # over 4 s: `make test`, not the fast lane
def test_describe_prints_style2paints_figure_2_without_vgg19_weights(capsys) -> None:
    """At the paper's settings, without the 550 MB VGG19 file: shapes need no weights."""
    code, out, _ = run_main(capsys, "describe", str(EXPERIMENTS / "style2paints.yaml"))
    assert code == 0
    described = json.loads(out)
    figure = described["figure_shapes"]
    assert figure["enc0_b_act"] == [256, 256, 16] and figure["enc4_b_act"] == [16, 16, 256]
    assert figure["mid_hinted"] == [8, 8, 2048] and figure["dec_entry_act"] == [16, 16, 512]
    assert figure["dec0_up_act"] == [256, 256, 64]
    assert (figure["painting"], figure["guide1"], figure["guide2"]) == (
        [256, 256, 3],
        [256, 256, 1],
        [256, 256, 3],
    )
    generator = described["networks"]["generator"]
    assert generator["input_shapes"] == [[None, 256, 256, 3], [None, 4096]]
    assert described["networks"]["discriminator"]["output_shapes"] == [[None, 4096]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "missing.yaml"], "missing.yaml: no such experiment file"),
        (["train", "experiments/smoke.yaml", "--set", "model.lambda_tv=-1"], "model.lambda_tv"),
        (["describe", "experiments/smoke.yaml", "--set", "data.image_size=48"], "power of two"),
        (
            ["train", "experiments/smoke.yaml", "--set", "data.path=/nowhere"],
            "/nowhere does not exist",
        ),
    ],
)
def test_user_errors_are_one_line_without_traceback(args: list[str], message: str) -> None:
    result = subprocess.run([*ganime_command(), *args], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("ganime:")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "ganime"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "train" in result.stdout and "describe" in result.stdout


def test_data_synth_same_seed_same_bytes(tmp_path: Path, capsys) -> None:
    for name in ("a", "b"):
        code, out, _ = run_main(
            capsys,
            "data",
            "synth",
            "--out",
            str(tmp_path / name),
            "--count",
            "6",
            "--size",
            "32",
            "--seed",
            "3",
        )
        assert code == 0 and json.loads(out)["count"] == 6
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    # Each image: its colour|sketch pair, its same-palette reference and its part labels.
    assert len(files) == 3 * 6 and (tmp_path / "a" / "palettes.json").is_file()
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    code, _, err = run_main(capsys, "data", "synth", "--out", str(tmp_path / "a"), "--count", "2")
    assert code == 2 and err.startswith("ganime: error:")


@pytest.mark.parametrize("extra", [(), ("--workers", "2")])
def test_training_a_method_that_trains_nothing_is_one_line_before_anything_starts(
    capsys, extra: tuple[str, ...]
) -> None:
    code, _, err = run_main(capsys, "train", str(EXPERIMENTS / "nst_smoke.yaml"), *extra)
    assert code == 2
    assert err.strip().endswith(
        "model.family nst trains nothing: `ganime evaluate EXPERIMENT.yaml` measures it and "
        "`ganime colorize --reference` runs it"
    )
    assert len(err.strip().splitlines()) == 1
