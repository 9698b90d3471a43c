#!/usr/bin/env python3
"""Write kubeconform JSON schemas, offline, from Kubernetes' OpenAPI spec and CRD manifests.

kubeconform normally downloads its schemas; here nothing but package registries is reachable,
so the schemas are made from sources that package registries carry:

* core kinds: ``api/openapi-spec/swagger.json`` of the Go module ``k8s.io/kubernetes``;
* custom resources: the CRD YAMLs of an operator's Go module (KEDA's ``config/crd/bases``).

Each schema is standalone (every ``$ref`` inlined) and strict: an object that lists its
properties rejects any other key, as kubeconform's own "-strict" schema sets do, so a typo in
a manifest fails instead of being dropped by the API server. Files are named the way
kubeconform's ``{{ .ResourceKind }}{{ .KindSuffix }}.json`` template names them, e.g.
``deployment-apps-v1.json``, ``service-v1.json``, ``scaledobject-keda-v1alpha1.json``.

    k8s_schemas.py --swagger swagger.json --crd a.yaml --crd b.yaml --out DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

Schema = dict[str, Any]
REF_PREFIX = "#/definitions/"
# Kubernetes accepts a number where these string-typed definitions appear (cpu: 1, port: 80).
NUMBER_OR_STRING = {"io.k8s.apimachinery.pkg.api.resource.Quantity"}
# Keywords that only document; dropping them keeps the files small.
DOC_KEYS = {"description", "x-kubernetes-group-version-kind", "x-kubernetes-list-map-keys",
            "x-kubernetes-list-type", "x-kubernetes-map-type", "x-kubernetes-patch-merge-key",
            "x-kubernetes-patch-strategy", "x-kubernetes-unions", "x-kubernetes-validations",
            "example", "externalDocs"}


def file_name(group: str, version: str, kind: str) -> str:
    """kubeconform's name for a kind: kind, then the group's first DNS label, then version."""
    suffix = f"-{group.split('.')[0].lower()}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix}.json"


def strict(node: Schema) -> Schema:
    """Close an object schema that lists its properties, unless it asks for unknown fields."""
    if ("properties" in node and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        node["additionalProperties"] = False
    return node


def convert(node: Any, defs: dict[str, Schema], stack: tuple[str, ...] = ()) -> Any:
    """Inline references and translate Kubernetes' OpenAPI extensions to JSON Schema."""
    if isinstance(node, list):
        return [convert(item, defs, stack) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].removeprefix(REF_PREFIX)
        if name in stack:  # recursive types (JSONSchemaProps): accept anything below
            return {}
        if name in NUMBER_OR_STRING:
            return {"oneOf": [{"type": "string"}, {"type": "number"}]}
        return convert(defs[name], defs, stack + (name,))
    if node.get("format") == "int-or-string" or node.get("x-kubernetes-int-or-string"):
        return {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    out: Schema = {}
    for key, value in node.items():
        if key in DOC_KEYS:
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: convert(v, defs, stack) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = convert(value, defs, stack) if isinstance(value, (dict, list)) else value
        else:
            out[key] = value
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    return strict(out)


def from_swagger(path: Path) -> dict[str, Schema]:
    """One schema per top-level kind in Kubernetes' swagger.json."""
    defs: dict[str, Schema] = json.loads(path.read_text())["definitions"]
    out: dict[str, Schema] = {}
    for name, definition in defs.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            # Kinds shared by every group (DeleteOptions, WatchEvent, ...) are not manifests.
            if gvk["kind"] in {"DeleteOptions", "WatchEvent", "Status", "APIGroup", "APIVersions",
                               "APIResourceList", "APIGroupList"}:
                continue
            target = file_name(gvk["group"], gvk["version"], gvk["kind"])
            if target in out:
                raise SystemExit(f"two definitions map to {target}; extend file_name()")
            out[target] = convert(definition, defs, (name,))
    return out


def from_crd(path: Path) -> dict[str, Schema]:
    """One schema per served version of each CustomResourceDefinition in a YAML file."""
    out: dict[str, Schema] = {}
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            schema = version["schema"]["openAPIV3Schema"]
            target = file_name(spec["group"], version["name"], spec["names"]["kind"])
            out[target] = convert(schema, {})
    return out


def main(argv: list[str] | None = None) -> int:
    """Write the schemas; print how many."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--swagger", type=Path, help="Kubernetes api/openapi-spec/swagger.json")
    parser.add_argument("--crd", type=Path, action="append", default=[], help="CRD YAML file")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    schemas: dict[str, Schema] = {}
    if args.swagger:
        schemas.update(from_swagger(args.swagger))
    for crd in args.crd:
        schemas.update(from_crd(crd))
    args.out.mkdir(parents=True, exist_ok=True)
    for target, schema in schemas.items():
        (args.out / target).write_text(json.dumps(schema, separators=(",", ":")))
    print(f"{len(schemas)} schemas written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
