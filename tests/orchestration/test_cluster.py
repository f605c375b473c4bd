"""The cluster files, with no cluster started: cluster.yaml against Ray's own validation and AWS
bootstrap, the security group it names (cluster-security-group.yaml), token authentication and
what every node installs."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

CLUSTER = REPO / "cluster.yaml"
SECURITY_GROUP = REPO / "cluster-security-group.yaml"

SG_PLACEHOLDER = "sg-CHANGE-ME"
BUCKET_PLACEHOLDER = "ganime-artifacts-CHANGE-ME"
DATA_FOLDER = "anime-sketch-colorization-pair"


def load_cluster() -> dict:
    return yaml.safe_load(CLUSTER.read_text())


def prepared_cluster() -> dict:
    """cluster.yaml as `ray up` holds it before it calls AWS: defaults filled in, setup commands
    merged into head_setup_commands and worker_setup_commands."""
    from ray.autoscaler._private.util import prepare_config

    return prepare_config(load_cluster())


def locked_version(package: str) -> str:
    (line,) = re.findall(rf"^{package}==(\S+)$", (REPO / "requirements.lock").read_text(), re.M)
    return line


def makefile_uv_version() -> str:
    return re.search(r"^UV_VERSION := (\S+)$", (REPO / "Makefile").read_text(), re.M).group(1)


def mappings_with(value, key: str) -> list[dict]:
    """Every mapping, at any depth, that has `key`."""
    if isinstance(value, list):
        return [m for item in value for m in mappings_with(item, key)]
    if not isinstance(value, dict):
        return []
    return ([value] if key in value else []) + mappings_with(list(value.values()), key)


def lines_outside_comments(path: Path, text: str) -> list[str]:
    """The lines of a YAML file that hold `text` in a value, not in a comment."""
    return [line for line in path.read_text().splitlines() if text in line.split("#")[0]]


# --- cluster.yaml -------------------------------------------------------------------------------


def test_cluster_yaml_passes_rays_validation() -> None:
    from ray.autoscaler._private.util import validate_config

    prepared = prepared_cluster()
    validate_config(prepared)
    assert prepared["provider"]["type"] == "aws"
    assert prepared["head_node_type"] == "head"
    workers = prepared["available_node_types"]["gpu_worker"]
    assert workers["min_workers"] == 0 and workers["max_workers"] >= 1
    assert workers["node_config"]["InstanceType"].startswith(("g", "p"))  # GPU instances


@pytest.fixture
def ray_aws_bootstrap(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Ray's AWS bootstrap (ray.autoscaler._private.aws.config), the code `ray up` runs before it
    launches anything. It imports boto3 and botocore, which only the `aws` extra installs: where
    they are missing, their names get empty stand-ins, enough to import it; the tests replace
    every AWS call it makes. The module is dropped afterwards, so no other test sees it."""
    if importlib.util.find_spec("boto3") is None:

        class BotoError(Exception):
            pass

        stand_ins = {
            "boto3": {"__version__": locked_version("boto3")},
            "boto3.exceptions": {"ResourceNotExistsError": BotoError},
            "boto3.resources": {},
            "boto3.resources.base": {"ServiceResource": object},
            "botocore": {},
            "botocore.client": {"BaseClient": object},
            "botocore.config": {"Config": object},
            "botocore.exceptions": {"ClientError": BotoError},
        }
        for name, attributes in stand_ins.items():
            module = types.ModuleType(name)
            module.__dict__.update(attributes)
            monkeypatch.setitem(sys.modules, name, module)
    before = set(sys.modules)
    yield importlib.import_module("ray.autoscaler._private.aws.config")
    for name in set(sys.modules) - before:
        if name.startswith("ray.autoscaler._private.aws"):
            del sys.modules[name]


def test_ray_creates_no_security_group_for_cluster_yaml(
    ray_aws_bootstrap: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """To a group it creates, Ray adds SSH from anywhere, besides any rules the file lists. With a
    group named on every node type, its bootstrap must leave security groups alone."""
    anywhere = {"CidrIp": "0.0.0.0/0"}
    assert anywhere in ray_aws_bootstrap._create_default_ssh_inbound_rules()[0]["IpRanges"]

    def create_groups(*args, **kwargs):
        raise AssertionError("Ray would create a security group open to SSH from 0.0.0.0/0")

    monkeypatch.setattr(ray_aws_bootstrap, "_upsert_security_groups", create_groups)
    config = prepared_cluster()
    assert "security_group" not in config["provider"]
    bootstrapped = ray_aws_bootstrap._configure_security_group(copy.deepcopy(config))
    groups = {
        name: node_type["node_config"]["SecurityGroupIds"]
        for name, node_type in bootstrapped["available_node_types"].items()
    }
    assert groups == {"head": [SG_PLACEHOLDER], "gpu_worker": [SG_PLACEHOLDER]}
    for everywhere in ("0.0.0.0/0", "::/0"):
        assert lines_outside_comments(CLUSTER, everywhere) == []


def test_ray_up_stops_before_launching_while_the_security_group_is_the_placeholder(
    ray_aws_bootstrap: types.ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    """No command of a cluster file runs on your machine (initialization_commands run on a node
    already launched), so the guard is the value itself: Ray looks the group up while it picks
    subnets, before any instance exists, and stops when AWS knows no such group. The committed
    placeholder cannot be an AWS id, so a fresh clone always stops there."""
    assert not re.fullmatch(r"sg-([0-9a-f]{8}|[0-9a-f]{17})", SG_PLACEHOLDER)
    asked_for = []

    class EC2WithoutThatGroup:
        class security_groups:  # boto3's names, as Ray calls them
            @staticmethod
            def filter(Filters):
                asked_for.extend(Filters[0]["Values"])
                return []

    monkeypatch.setattr(ray_aws_bootstrap, "_resource", lambda name, config: EC2WithoutThatGroup)
    with pytest.raises(AssertionError):  # cli_logger.doassert, after its PANIC line
        ray_aws_bootstrap._configure_subnet(prepared_cluster())
    assert asked_for == [SG_PLACEHOLDER]
    assert (
        "Failed to detect a security group with id equal to any of the configured"
        in capsys.readouterr().err
    )


def security_group_template() -> dict:
    return yaml.safe_load(SECURITY_GROUP.read_text())


def test_the_security_group_admits_ssh_from_the_users_range_and_nothing_else_from_outside() -> None:
    template = security_group_template()
    resources = template["Resources"]
    assert set(resources) == {"ClusterSecurityGroup", "IntraClusterIngress"}
    (ssh,) = resources["ClusterSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert (ssh["IpProtocol"], ssh["FromPort"], ssh["ToPort"]) == ("tcp", 22, 22)
    assert ssh["CidrIp"] == {"Ref": "SshSource"}
    group_id = {"Fn::GetAtt": ["ClusterSecurityGroup", "GroupId"]}
    members = resources["IntraClusterIngress"]["Properties"]
    assert members["GroupId"] == group_id and members["SourceSecurityGroupId"] == group_id
    assert not {"CidrIp", "CidrIpv6", "SourcePrefixListId"} & set(members)
    assert template["Outputs"]["SecurityGroupId"]["Value"] == group_id
    address_ranges = [r for r in mappings_with(resources, "CidrIp") if r["CidrIp"] != ssh["CidrIp"]]
    assert address_ranges == []
    assert mappings_with(resources, "CidrIpv6") == []


def test_the_ssh_source_must_be_set_and_cannot_be_the_internet() -> None:
    """CloudFormation refuses a parameter without a value or outside AllowedPattern (which must
    match the whole value) before it creates anything, with ConstraintDescription as the reason."""
    ssh_source = security_group_template()["Parameters"]["SshSource"]
    assert "Default" not in ssh_source
    allowed = re.compile(ssh_source["AllowedPattern"])
    for cidr in ("203.0.113.7/32", "198.51.100.0/24", "10.1.0.0/16"):
        assert allowed.fullmatch(cidr), cidr
    refused = (
        "0.0.0.0/0",
        "",
        "CHANGE-ME",
        "203.0.113.7",
        "10.0.0.0/8",
        "256.1.1.1/32",
        "1.2.3.4/33",
    )
    for value in refused:
        assert not allowed.fullmatch(value), value
    assert "0.0.0.0/0" in ssh_source["ConstraintDescription"]


def test_only_the_head_listens_for_the_dashboard_and_mlflow_inside_the_cluster() -> None:
    cluster = load_cluster()
    start = " ".join(cluster["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in start
    assert "mlflow server" in start and "--backend-store-uri sqlite:" in start
    assert "--artifacts-destination $GANIME_S3/mlflow-artifacts" in start


def test_every_node_installs_the_stack_then_the_assets_then_syncs_the_data() -> None:
    """Ray merges setup_commands into both node kinds' lists; a node starts Ray only after them."""
    prepared = prepared_cluster()
    for kind in ("head_setup_commands", "worker_setup_commands"):
        commands = prepared[kind]
        install = next(
            i for i, c in enumerate(commands) if '-c requirements.lock -e ".[gpu,aws]"' in c
        )
        assets = commands.index("ganime assets fetch all")
        (sync,) = [i for i, c in enumerate(commands) if c.startswith("aws s3 sync")]
        assert install < assets < sync, kind
        assert commands[sync].split()[-2:] == [
            f"$GANIME_S3/data/{DATA_FOLDER}",
            f"~/data/{DATA_FOLDER}",
        ]
    setup = " ".join(load_cluster()["setup_commands"])
    assert f'"uv=={makefile_uv_version()}"' in setup


def write_node_environment(home: Path, node_type: str) -> dict[str, str]:
    """Runs the setup commands that write ~/.ganime_env, as Ray would on a node of that type, in
    a stand-in home; returns what a shell then sees."""
    commands = prepared_cluster()[f"{node_type}_setup_commands"]
    writes = [c for c in commands if "~/.ganime_env" in c and "bashrc" not in c]
    home.mkdir(parents=True, exist_ok=True)
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    for command in writes:
        subprocess.run(["bash", "-c", command], env=env, check=True)
    names = (
        "RAY_AUTH_MODE",
        "GANIME_S3",
        "GANIME_RAY_STORAGE",
        "MLFLOW_TRACKING_URI",
        "TFHUB_CACHE_DIR",
    )
    shown = subprocess.run(
        ["bash", "-c", ". ~/.ganime_env; " + "; ".join(f'echo "{n}=${n}"' for n in names)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split("=", 1) for line in shown.splitlines())


def test_each_node_runs_ray_with_token_auth_and_one_bucket(tmp_path: Path) -> None:
    for node_type in ("head", "worker"):
        for _ in range(2):  # rewritten on each `ray up`, never appended to
            seen = write_node_environment(tmp_path / node_type, node_type)
        assert seen["RAY_AUTH_MODE"] == "token", node_type
        assert seen["GANIME_RAY_STORAGE"] == f"s3://{BUCKET_PLACEHOLDER}/ray"
        expected_tracking = "http://127.0.0.1:5000" if node_type == "head" else ""
        assert seen["MLFLOW_TRACKING_URI"] == expected_tracking
        assert seen["TFHUB_CACHE_DIR"].startswith(str(tmp_path / node_type))  # not /tmp
    # One place to set the bucket: every other command reaches it through $GANIME_S3.
    assert len(lines_outside_comments(CLUSTER, BUCKET_PLACEHOLDER)) == 1


def ray_token_shapes() -> list[re.Pattern]:
    """What a token looks like: Ray's own generator (ray get-auth-token --generate) and KubeRay's
    (32 random bytes, base64)."""
    from ray._private.authentication.authentication_token_generator import (
        generate_new_authentication_token,
    )

    sample = generate_new_authentication_token()
    assert re.fullmatch(r"[0-9a-f]{64}", sample)
    return [re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])"), re.compile(r"[A-Za-z0-9+/]{43}=")]


def test_the_token_reaches_the_nodes_from_your_machine_never_from_a_file_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ray._private.authentication.authentication_token_setup import _get_default_token_path

    monkeypatch.setenv("HOME", "/home/ubuntu")  # the nodes' user
    mounts = load_cluster()["file_mounts"]
    assert mounts[str(_get_default_token_path())] == "~/.ray/auth_token"
    for path in (CLUSTER, SECURITY_GROUP):
        text = path.read_text()
        assert "RAY_AUTH_TOKEN" not in text, path.name
        for shape in ray_token_shapes():
            assert not shape.search(text), (path.name, shape.pattern)
