"""Object-store setup, run by the Job minio-setup (minio.yaml) with MinIO's root credential:
the buckets, one policy per component and one user per component, bound to exactly that
policy. Nothing else holds the root credential. Idempotent: run it again after rotating a
component's secret or changing a policy.

    python setup.py --policies DIR --credentials DIR

--policies holds the IAM policy documents, <policy>.json (policies/ beside this file, mounted
from the ConfigMap examgate-minio-setup). --credentials holds <policy>/access-key and
<policy>/secret-key for each component user (the Job projects each component's Secret there).
A policy without credentials (examgate-gate: one user per gate) is created for users added by
hand (deploy/k8s/README.md). The endpoint and the root credential come from
EXAMGATE_OBJECT_STORE__* like in every ExamGate process; only that section is read, so the
Job needs no other secret. With EXAMGATE_ENVIRONMENT=production a credential copied from the
dev overlay (dev-only-...) or the settings' development secret is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREFIX = "EXAMGATE_OBJECT_STORE__"
DEV_MARKER = "dev-only"  # every secret value of deploy/k8s/overlays/dev starts with it


class SetupError(RuntimeError):
    """The setup cannot be carried out as configured (never names a secret value)."""


@dataclass(frozen=True)
class User:
    """A component's object-store user: its policy and its credential."""

    policy: str
    access_key: str
    secret_key: str


def object_store_settings(environ: Mapping[str, str]) -> Any:
    """The object-store section from EXAMGATE_OBJECT_STORE__* (ObjectStoreSettings)."""
    from examgate.core.settings import ObjectStoreSettings

    fields = {k[len(PREFIX):].lower(): v for k, v in environ.items() if k.startswith(PREFIX)}
    return ObjectStoreSettings(**fields)


def load_policies(folder: Path) -> dict[str, dict[str, Any]]:
    """Every <name>.json in ``folder``, parsed."""
    policies = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    if not policies:
        raise SetupError(f"no policy documents (*.json) in {folder}")
    return policies


def buckets_named(policy: Mapping[str, Any]) -> set[str]:
    """The buckets a policy document's statements name."""
    names = set()
    for statement in policy["Statement"]:
        resources = statement["Resource"]
        for arn in [resources] if isinstance(resources, str) else resources:
            names.add(arn.removeprefix("arn:aws:s3:::").split("/", 1)[0])
    return names


def _read(path: Path, what: str) -> str:
    if not path.is_file():
        raise SetupError(f"{what}: {path.name} is missing")
    value = path.read_text()
    if not value or value != value.strip():
        raise SetupError(f"{what}: {path.name} is empty or has surrounding whitespace (a "
                         "Secret made with --from-file keeps the file's newline; use "
                         "--from-literal)")
    return value


def load_users(folder: Path) -> list[User]:
    """One user per folder <policy>/ holding access-key and secret-key."""
    users = []
    # A projected volume also holds ..data and ..<timestamp> entries: not components.
    for d in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        users.append(User(d.name, _read(d / "access-key", d.name),
                          _read(d / "secret-key", d.name)))
    return users


def check(cfg: Any, policies: Mapping[str, Mapping[str, Any]], users: list[User],
          environment: str) -> None:
    """Refuse what would silently grant the wrong access, before anything is changed."""
    from examgate.core.settings import DEV_OBJECT_STORE_SECRET

    buckets = set(cfg.buckets())
    for name, policy in policies.items():
        unknown = buckets_named(policy) - buckets
        if unknown:
            raise SetupError(f"policy {name} names bucket(s) {sorted(unknown)} that ExamGate "
                             f"does not use ({sorted(buckets)})")
    keys = [u.access_key for u in users]
    for u in users:
        if u.policy not in policies:
            raise SetupError(f"credentials {u.policy}/ have no policy {u.policy}.json")
        if u.access_key == cfg.access_key:
            raise SetupError(f"{u.policy}: its access key is the root user's")
        if keys.count(u.access_key) > 1:
            raise SetupError(f"{u.policy}: access key {u.access_key!r} is used twice")
        if len(u.access_key) < 3 or len(u.secret_key) < 8:
            raise SetupError(f"{u.policy}: MinIO needs an access key of 3 characters or more "
                             "and a secret key of 8 or more")
    if environment == "production":
        secrets = [("root", cfg.secret_key.get_secret_value())]
        secrets += [(u.policy, u.secret_key) for u in users]
        for who, secret in secrets:
            if secret.startswith(DEV_MARKER) or secret == DEV_OBJECT_STORE_SECRET:
                raise SetupError(f"production refuses the public development secret of {who}: "
                                 "set your own (from a secret store)")


def _attached(admin: Any, access_key: str) -> set[str]:
    info = json.loads(admin.user_info(access_key) or "{}")
    return {p for p in (info.get("policyName") or "").split(",") if p}


def apply(cfg: Any, policies: Mapping[str, dict[str, Any]], users: list[User]) -> list[str]:
    """Create the buckets, (re)write the policies, create or update the users and bind each
    to exactly its policy. Returns what was done, one line each (no secrets)."""
    import urllib3
    from minio.credentials import StaticProvider
    from minio.minioadmin import MinioAdmin

    from examgate.adapters.objectstore import ensure_buckets

    done = [f"bucket {b} created" for b in ensure_buckets(cfg)]
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=10, read=30),
                               retries=urllib3.Retry(total=3, backoff_factor=0.5))
    admin = MinioAdmin(endpoint=cfg.endpoint, secure=cfg.secure, region=cfg.region or "",
                       credentials=StaticProvider(cfg.access_key,
                                                  cfg.secret_key.get_secret_value()),
                       http_client=http)
    for name, policy in policies.items():
        admin.policy_add(name, policy=policy)
        done.append(f"policy {name} written")
    for u in users:
        admin.user_add(u.access_key, u.secret_key)  # creates, or sets the secret and enables
        attached = _attached(admin, u.access_key)
        extra = sorted(attached - {u.policy})  # attached by hand, or an earlier layout
        if extra:
            admin.detach_policy(extra, user=u.access_key)
        if u.policy not in attached:
            admin.attach_policy([u.policy], user=u.access_key)
        note = f" (detached {', '.join(extra)})" if extra else ""
        done.append(f"user {u.access_key}: policy {u.policy} only{note}")
    return done


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policies", type=Path, required=True)
    parser.add_argument("--credentials", type=Path, required=True)
    args = parser.parse_args(argv)
    environ = os.environ if environ is None else environ
    try:
        cfg = object_store_settings(environ)
        policies = load_policies(args.policies)
        users = load_users(args.credentials)
        check(cfg, policies, users, environ.get("EXAMGATE_ENVIRONMENT", "development"))
        for line in apply(cfg, policies, users):
            print(line)
    except SetupError as exc:
        print(f"minio-setup: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
