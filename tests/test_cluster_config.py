"""cluster.yaml passes Ray's own cluster-config checks, offline (no cloud is reachable).

``ray up`` runs ``prepare_config`` (merge with the provider's defaults) and
``validate_config`` (Ray's JSON schema and cross-field rules) before it talks
to AWS; the node configs are also checked against EC2's RunInstances model
with botocore's parameter validator, which needs no network either.
"""

from __future__ import annotations

import copy
from pathlib import Path

import botocore.session
import yaml
from botocore.validate import ParamValidator
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER_YAML = Path(__file__).resolve().parents[1] / "cluster.yaml"


def load() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def test_cluster_yaml_passes_rays_validation() -> None:
    config = prepare_config(copy.deepcopy(load()))
    validate_config(config)
    assert config["provider"]["type"] == "aws"
    assert config["head_node_type"] in config["available_node_types"]


def test_node_configs_are_valid_ec2_run_instances_parameters() -> None:
    ec2 = botocore.session.get_session().get_service_model("ec2")
    shape = ec2.operation_model("RunInstances").input_shape
    for name, node_type in load()["available_node_types"].items():
        params = {**node_type["node_config"], "MinCount": 1, "MaxCount": 1}
        report = ParamValidator().validate(params, shape)
        assert not report.has_errors(), f"{name}: {report.generate_report()}"


def test_nodes_install_raystream_and_open_the_ports_it_needs() -> None:
    config = load()
    setup = " ".join(config["setup_commands"])
    assert "pip install ~/raystream" in setup and "ray[default]" in setup
    assert config["file_mounts"]["~/raystream"] == "."
    ports = {rule["FromPort"] for rule in config["provider"]["security_group"]["IpPermissions"]}
    assert {6379, 8265, 10001, 8080, 9092} <= ports
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-port=8265" in head and "--metrics-export-port=8080" in head
    assert "RAY_AUTH_MODE=token" in head
    kinds = {name: t["resources"] for name, t in config["available_node_types"].items()}
    assert kinds == {"head": {"head_node": 1}, "worker": {"worker_node": 1}}
