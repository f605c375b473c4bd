"""The cluster files, with no cluster started: cluster.yaml against Ray's own validation and AWS
bootstrap, the security group it names (cluster-security-group.yaml), token authentication, what
every node installs, and kuberay.yaml against KubeRay's RayCluster CRD (vendored in
tests/orchestration/kuberay/) and the Dockerfile its image is built from."""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.util
import re
import subprocess
import sys
import types
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.support.paths import REPO
from tests.support.ray_internals import (
    AWS_BOOTSTRAP_MODULE,
    default_auth_token_path,
    new_auth_token,
    prepared_cluster_config,
    validate_cluster_config,
)

CLUSTER = REPO / "cluster.yaml"
SECURITY_GROUP = REPO / "cluster-security-group.yaml"
KUBERAY = REPO / "kuberay.yaml"
DOCKERFILE = REPO / "Dockerfile"
RAYCLUSTER_CRD = Path(__file__).parent / "kuberay" / "ray.io_rayclusters.v1.yaml"

SG_PLACEHOLDER = "sg-CHANGE-ME"
BUCKET_PLACEHOLDER = "ganime-artifacts-CHANGE-ME"
DATA_FOLDER = "anime-sketch-colorization-pair"


def load_cluster() -> dict:
    return yaml.safe_load(CLUSTER.read_text())


def prepared_cluster() -> dict:
    """cluster.yaml as `ray up` holds it before it calls AWS: defaults filled in, setup commands
    merged into head_setup_commands and worker_setup_commands."""
    return prepared_cluster_config(load_cluster())


def kuberay_documents() -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(KUBERAY.read_text())}


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
    prepared = prepared_cluster()
    validate_cluster_config(prepared)
    assert prepared["provider"]["type"] == "aws"
    assert prepared["head_node_type"] == "head"
    workers = prepared["available_node_types"]["gpu_worker"]
    assert workers["min_workers"] == 0 and workers["max_workers"] >= 1
    assert workers["node_config"]["InstanceType"].startswith(("g", "p"))  # GPU instances


@pytest.fixture
def ray_aws_bootstrap(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Ray's AWS bootstrap (AWS_BOOTSTRAP_MODULE), the code `ray up` runs before it
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
    yield importlib.import_module(AWS_BOOTSTRAP_MODULE)
    for name in set(sys.modules) - before:
        if name.startswith(AWS_BOOTSTRAP_MODULE.rpartition(".")[0]):
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
    sample = new_auth_token()
    assert re.fullmatch(r"[0-9a-f]{64}", sample)
    return [re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])"), re.compile(r"[A-Za-z0-9+/]{43}=")]


def test_the_token_reaches_the_nodes_from_your_machine_never_from_a_file_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", "/home/ubuntu")  # the nodes' user
    mounts = load_cluster()["file_mounts"]
    assert mounts[str(default_auth_token_path())] == "~/.ray/auth_token"
    for path in (CLUSTER, KUBERAY, DOCKERFILE, SECURITY_GROUP):
        text = path.read_text()
        assert "RAY_AUTH_TOKEN" not in text, path.name
        for shape in ray_token_shapes():
            assert not shape.search(text), (path.name, shape.pattern)


# --- kuberay.yaml -------------------------------------------------------------------------------


@functools.cache
def raycluster_schema() -> dict:
    """The CRD's v1 schema, read once: half a megabyte of YAML (libyaml's loader where present)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load(RAYCLUSTER_CRD.read_text(), Loader=loader)
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return v1["schema"]["openAPIV3Schema"]


def fields_the_schema_does_not_declare(value, schema: dict, path: str = "") -> list[str]:
    """kubectl's default field validation (Strict, since Kubernetes 1.27) refuses a field the
    CRD's structural schema does not declare; JSON Schema alone would let a misspelt one pass.
    The root metadata is ObjectMeta, which the API server checks itself."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    unknown = []
    if isinstance(value, dict):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            if path == "" and key == "metadata":
                continue
            if properties is not None and key in properties:
                unknown += fields_the_schema_does_not_declare(
                    item, properties[key], f"{path}.{key}"
                )
            elif isinstance(additional, dict):
                unknown += fields_the_schema_does_not_declare(item, additional, f"{path}.{key}")
            else:
                unknown.append(f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            unknown += fields_the_schema_does_not_declare(item, schema["items"], f"{path}[{i}]")
    return unknown


def raycluster_problems(raycluster: dict) -> list[str]:
    """What the API server and the KubeRay operator would refuse, offline: the CRD's OpenAPI v3
    schema (types, enums, required fields, quantity patterns; OpenAPI 3.0 is JSON Schema draft 4
    plus x-kubernetes extensions, which jsonschema ignores), undeclared fields, and the operator's
    own checks on the name and on token authentication (validation.go, v1.7.0). Not checked:
    the CRD's two CEL rules, on managedBy and gcsFaultToleranceOptions, which kuberay.yaml does
    not set."""
    schema = raycluster_schema()
    problems = [
        error.message for error in jsonschema.Draft4Validator(schema).iter_errors(raycluster)
    ]
    problems += [
        f"undeclared field {f}" for f in fields_the_schema_does_not_declare(raycluster, schema)
    ]
    name = raycluster.get("metadata", {}).get("name", "")
    if len(name) > 53 or not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name):
        problems.append(f"name {name!r} is not a DNS-1035 label of at most 53 characters")
    spec = raycluster.get("spec", {})
    if spec.get("authOptions", {}).get("mode") == "token":
        version = tuple(int(p) for p in re.findall(r"\d+", spec.get("rayVersion", ""))[:3])
        if version < (2, 52, 0):
            problems.append("authOptions.mode token needs rayVersion 2.52.0 or later")
    return problems


def test_kuberay_manifest_passes_the_raycluster_crd_and_the_operators_checks() -> None:
    raycluster = kuberay_documents()["RayCluster"]
    assert raycluster["apiVersion"] == "ray.io/v1"
    assert raycluster_problems(raycluster) == []
    assert raycluster["spec"]["rayVersion"] == locked_version("ray")  # the image's Ray


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda rc: rc["spec"].update(authOption={"mode": "token"}),
            "undeclared field .spec.authOption",
        ),
        (lambda rc: rc["spec"]["authOptions"].update(mode="tokens"), "'tokens' is not one of"),
        (
            lambda rc: rc["spec"]["workerGroupSpecs"][0].update(maxReplicas="8"),
            "'8' is not of type",
        ),
        (lambda rc: rc["spec"]["headGroupSpec"].pop("template"), "'template' is a required"),
        (lambda rc: rc["spec"].update(rayVersion="2.51.0"), "needs rayVersion 2.52.0"),
        (lambda rc: rc["metadata"].update(name="GANime"), "not a DNS-1035 label"),
        (
            lambda rc: workers(rc)["resources"]["limits"].update({"nvidia.com/gpu": "one"}),
            "does not match",
        ),
        (
            lambda rc: workers(rc)["env"][0].update(valueFromm={}),
            "template.spec.containers[0].env[0].valueFromm",
        ),
    ],
)
def test_the_crd_check_refuses_what_kubernetes_would(change, problem: str) -> None:
    raycluster = copy.deepcopy(kuberay_documents()["RayCluster"])
    change(raycluster)
    assert any(problem in found for found in raycluster_problems(raycluster))


def head_pod(raycluster: dict) -> dict:
    return raycluster["spec"]["headGroupSpec"]["template"]["spec"]


def workers(raycluster: dict) -> dict:
    """The Ray container of the GPU worker group."""
    (group,) = raycluster["spec"]["workerGroupSpecs"]
    return group["template"]["spec"]["containers"][0]


def every_container(raycluster: dict) -> list[dict]:
    pods = [head_pod(raycluster)] + [
        g["template"]["spec"] for g in raycluster["spec"]["workerGroupSpecs"]
    ]
    return [c for pod in pods for c in pod["containers"] + pod.get("initContainers", [])]


def test_kuberay_has_a_cpu_head_gpu_workers_and_token_auth() -> None:
    raycluster = kuberay_documents()["RayCluster"]
    spec = raycluster["spec"]
    assert spec["authOptions"] == {"mode": "token"}  # KubeRay generates the token Secret
    (group,) = spec["workerGroupSpecs"]
    assert (
        group["minReplicas"] == 0 and group["maxReplicas"] >= 1 and spec["enableInTreeAutoscaling"]
    )
    resources = workers(raycluster)["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == resources["requests"]["nvidia.com/gpu"] == 1
    head_ray = head_pod(raycluster)["containers"][0]
    assert "nvidia.com/gpu" not in head_ray["resources"]["limits"]
    images = {c["image"] for c in every_container(raycluster)}
    assert images == {"REGISTRY-CHANGE-ME/ganime:0.1.0"}  # one image, built from the Dockerfile


def test_kuberay_takes_s3_credentials_from_a_secret_only() -> None:
    raycluster = kuberay_documents()["RayCluster"]
    for container in every_container(raycluster):
        env = {e["name"]: e for e in container["env"]}
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert "value" not in env[key], (container["name"], key)
            assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "ganime-s3", "key": key}
    assert not re.search(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", KUBERAY.read_text())  # AWS key ids
    # One place to set the bucket (and the image): the others reach it through
    # $(GANIME_S3_BUCKET) and YAML anchors.
    assert len(lines_outside_comments(KUBERAY, BUCKET_PLACEHOLDER)) == 1
    assert len(lines_outside_comments(KUBERAY, "REGISTRY-CHANGE-ME")) == 1


def test_kuberay_mlflow_is_reachable_from_every_ray_pod_and_nothing_from_outside() -> None:
    documents = kuberay_documents()
    raycluster, service = documents["RayCluster"], documents["Service"]
    assert set(documents) == {"PersistentVolumeClaim", "Service", "RayCluster"}  # no Ingress
    assert service["spec"]["selector"] == {
        "ray.io/cluster": raycluster["metadata"]["name"],
        "ray.io/node-type": "head",
    }
    (port,) = service["spec"]["ports"]
    mlflow = next(c for c in head_pod(raycluster)["containers"] if c["name"] == "mlflow")
    assert {"name": port["targetPort"], "containerPort": port["port"]} in mlflow["ports"]
    address = f"{service['metadata']['name']}:{port['port']}"
    for container in every_container(raycluster):
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["MLFLOW_TRACKING_URI"] == f"http://{address}", container["name"]
    (allowed_hosts,) = [a for a in mlflow["command"] if a.startswith("--allowed-hosts=")]
    assert address in allowed_hosts.split("=", 1)[1].split(",")
    mlflow_volume = next(v for v in head_pod(raycluster)["volumes"] if v["name"] == "mlflow")
    claim = documents["PersistentVolumeClaim"]["metadata"]["name"]
    assert mlflow_volume["persistentVolumeClaim"]["claimName"] == claim
    assert (
        service["spec"]["type"] == raycluster["spec"]["headGroupSpec"]["serviceType"] == "ClusterIP"
    )
    assert not raycluster["spec"]["headGroupSpec"].get("enableIngress")
    for pod in [
        head_pod(raycluster),
        raycluster["spec"]["workerGroupSpecs"][0]["template"]["spec"],
    ]:
        assert not pod.get("hostNetwork")
        for container in pod["containers"]:
            assert all("hostPort" not in p for p in container.get("ports", []))


def data_copy_script(raycluster: dict, source_root: str, pod_root: Path) -> str:
    """The data init container's program, with the bucket and the pod's /data where a test puts
    them: pyarrow reads a file:// URI the way it reads s3://."""
    (script,) = head_pod(raycluster)["initContainers"][0]["args"]
    return script.replace("s3://$(GANIME_S3_BUCKET)", source_root).replace(
        '"/data/', f'"{pod_root}/'
    )


def test_each_kuberay_pod_copies_the_data_set_or_says_it_is_not_uploaded(tmp_path: Path) -> None:
    raycluster = kuberay_documents()["RayCluster"]
    for pod in [
        head_pod(raycluster),
        raycluster["spec"]["workerGroupSpecs"][0]["template"]["spec"],
    ]:
        (init,) = pod["initContainers"]
        mounts = {m["mountPath"] for m in init["volumeMounts"]}
        ray_mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert mounts == {"/data"}
        assert mounts <= ray_mounts
    bucket = tmp_path / "bucket"
    script = data_copy_script(raycluster, f"file://{bucket}", tmp_path / "pod")
    missing = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert missing.returncode == 0 and "no data set at" in missing.stdout
    (bucket / "data" / DATA_FOLDER / "train").mkdir(parents=True)
    (bucket / "data" / DATA_FOLDER / "train" / "1.png").write_bytes(b"png")
    subprocess.run([sys.executable, "-c", script], check=True)
    assert (tmp_path / "pod" / DATA_FOLDER / "train" / "1.png").read_bytes() == b"png"


# --- Dockerfile ---------------------------------------------------------------------------------


def test_the_image_installs_the_pinned_stack_then_the_assets() -> None:
    lines = [
        line for line in DOCKERFILE.read_text().splitlines() if line and not line.startswith("#")
    ]
    assert lines[0].startswith(f"FROM python:{sys.version_info.major}.{sys.version_info.minor}-")
    assert f'RUN pip install --no-cache-dir "uv=={makefile_uv_version()}"' in lines
    install = lines.index(
        "RUN uv pip install --system --no-cache --compile-bytecode -c requirements.lock "
        '-e ".[gpu,aws]"'
    )
    assert lines.index("RUN ganime assets fetch all") > install
    copied = {p for line in lines if line.startswith("COPY ") for p in line.split()[1:-1]}
    assert {"pyproject.toml", "requirements.lock", "README.md"} <= copied  # README: the metadata
    assert all((REPO / path).exists() for path in copied)
    assert {"ganime_core", "orchestration"} <= copied
