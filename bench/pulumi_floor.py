"""The Pulumi floor of `make bench-deploy`: the shortest honest Pulumi program that declares the
same rendered objects as the program, so every figure has a ratio to what Pulumi itself costs.

One pulumi-kubernetes resource per object, exactly as `render` prints it (no annotations of the
program's own), Secret data as Pulumi secrets, and the program's provider settings
(inventory/stack/resources.py provider_args: kubeconfig as a secret, clusterIdentifier, mutable
Secrets and ConfigMaps, the client's rate limit). It reads everything from the JSON file named
by BENCH_FLOOR_INPUT, which the bench writes: {"kubeconfig", "clusterIdentifier", "objects"}.
An object's `status` (a ClusterProfile that feature E publishes) is left out: pulumi-kubernetes
never writes a status subresource, so the floor declares metadata and spec only.
The bench copies this file as __main__.py into a project directory of its own and runs the
plain `pulumi` CLI there, through the same language host as the program.
"""

import json
import os

import pulumi
import pulumi_kubernetes as k8s

with open(os.environ["BENCH_FLOOR_INPUT"], encoding="utf-8") as handle:
    given = json.load(handle)
with open(given["kubeconfig"], encoding="utf-8") as handle:
    kubeconfig = handle.read()

provider = k8s.Provider(
    "management-cluster", kubeconfig=pulumi.Output.secret(kubeconfig), cluster_identifier=given["clusterIdentifier"],
    enable_secret_mutable=True, enable_config_map_mutable=True,
    kube_client_settings=k8s.KubeClientSettingsArgs(qps=500.0, burst=1000))
opts = pulumi.ResourceOptions(provider=provider)
secret_opts = pulumi.ResourceOptions(provider=provider, additional_secret_outputs=["data"])

for obj in given["objects"]:
    meta = obj["metadata"]
    name = f"{obj['kind']}/{meta.get('namespace', '')}/{meta['name']}"
    if obj["apiVersion"] == "v1" and obj["kind"] == "Secret":
        data = {key: pulumi.Output.secret(value) for key, value in (obj.get("data") or {}).items()}
        k8s.core.v1.Secret(name, metadata=meta, type=obj.get("type"), data=data, opts=secret_opts)
    else:
        fields = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind", "metadata", "status")}
        k8s.apiextensions.CustomResource(name, api_version=obj["apiVersion"], kind=obj["kind"], metadata=meta,
                                         opts=opts, **fields)
